// Exactness tests for the ring GEMM kernels (secformer/core/gemm.hpp) against the naive loops.
#include <catch2/catch.hpp>

#include <secformer/core/gemm.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

namespace k = secformer::kernels;

// splitmix64: deterministic test data (not cryptographic randomness).
std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

template <class Word>
std::vector<Word> random_vec(std::size_t count, std::uint64_t seed) {
    std::vector<Word> v(count);
    for (auto& x : v) x = static_cast<Word>(splitmix64(seed));
    return v;
}

struct shape {
    std::size_t m, n, k;
};

// Checks gemm (or gemm_bt) against the naive reference for one shape, with padded leading
// dimensions, both accumulate modes and the given thread count.
template <class Word>
void check_gemm(shape s, bool bt, bool accumulate, unsigned threads, std::size_t pad = 3) {
    const std::size_t lda = s.k + pad, ldc = s.n + pad;
    const std::size_t ldb = bt ? s.k + pad : s.n + pad;
    const std::size_t b_rows = bt ? s.n : s.k;
    const auto a = random_vec<Word>(s.m * lda + 1, 11 + s.m * 131 + s.k);
    const auto b = random_vec<Word>(b_rows * ldb + 1, 23 + s.n * 71 + s.k);
    const auto c0 = random_vec<Word>(s.m * ldc + 1, 37 + s.m + s.n);
    std::vector<Word> got = c0, want = c0;
    if (bt) {
        k::gemm_bt<Word>(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, got.data(), ldc, accumulate, threads);
        k::gemm_bt_naive<Word>(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, want.data(), ldc, accumulate);
    } else {
        k::gemm<Word>(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, got.data(), ldc, accumulate, threads);
        k::gemm_naive<Word>(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, want.data(), ldc, accumulate);
    }
    INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " bt=" << bt << " acc=" << accumulate
              << " threads=" << threads << " word bits=" << 8 * sizeof(Word));
    REQUIRE(got == want);  // includes the padding columns: they must be left untouched
}

const shape odd_shapes[] = {
    {1, 1, 1},    {1, 1, 7},    {7, 13, 5},   {5, 1, 9},    {1, 29, 3},   {8, 24, 1},
    {9, 25, 2},   {16, 32, 16}, {17, 33, 31}, {33, 65, 17}, {3, 100, 40}, {64, 48, 300},
    {24, 71, 257}, {130, 50, 20}, {40, 17, 515}, {1, 200, 64}, {200, 1, 64}, {129, 97, 33},
};

template <class Word>
void check_all_odd_shapes() {
    for (const shape& s : odd_shapes) {
        for (bool bt : {false, true}) {
            for (bool acc : {false, true}) {
                for (unsigned threads : {1u, 2u}) check_gemm<Word>(s, bt, acc, threads);
            }
        }
    }
}

}  // namespace

TEST_CASE("gemm: odd shapes match naive, uint64", "[gemm]") { check_all_odd_shapes<std::uint64_t>(); }

TEST_CASE("gemm: odd shapes match naive, uint32", "[gemm]") { check_all_odd_shapes<std::uint32_t>(); }

TEMPLATE_TEST_CASE("gemm: k = 0 zeroes or keeps c, empty m/n are no-ops", "[gemm]", std::uint32_t,
                   std::uint64_t) {
    using Word = TestType;
    const std::size_t m = 5, n = 7;
    const auto c0 = random_vec<Word>(m * n, 5);
    std::vector<Word> c = c0;
    const Word dummy[1] = {1};
    k::gemm<Word>(m, n, 0, dummy, 1, dummy, n, c.data(), n, /*accumulate=*/true);
    REQUIRE(c == c0);
    k::gemm_bt<Word>(m, n, 0, dummy, 1, dummy, 1, c.data(), n, /*accumulate=*/true, 2);
    REQUIRE(c == c0);
    k::gemm<Word>(m, n, 0, dummy, 1, dummy, n, c.data(), n, /*accumulate=*/false, 2);
    REQUIRE(c == std::vector<Word>(m * n, Word(0)));
    c = c0;
    k::gemm_bt<Word>(m, n, 0, dummy, 1, dummy, 1, c.data(), n, /*accumulate=*/false);
    REQUIRE(c == std::vector<Word>(m * n, Word(0)));
    c = c0;
    k::gemm<Word>(0, n, 3, dummy, 3, dummy, n, c.data(), n);
    k::gemm<Word>(m, 0, 3, dummy, 3, dummy, 1, c.data(), n);
    REQUIRE(c == c0);
    for (shape s : {shape{3, 4, 0}, shape{1, 1, 0}}) {
        for (bool bt : {false, true}) {
            for (bool acc : {false, true}) check_gemm<Word>(s, bt, acc, 1);
        }
    }
}

TEMPLATE_TEST_CASE("gemm: wrap-around arithmetic at the extremes", "[gemm]", std::uint32_t,
                   std::uint64_t) {
    using Word = TestType;
    const Word mx = static_cast<Word>(~Word(0));
    const std::size_t m = 9, n = 26, kk = 300;
    std::vector<Word> a(m * kk, mx), b(kk * n, mx), c(m * n), want(m * n);
    k::gemm<Word>(m, n, kk, a.data(), kk, b.data(), n, c.data(), n);
    k::gemm_naive<Word>(m, n, kk, a.data(), kk, b.data(), n, want.data(), n);
    REQUIRE(c == want);
    // (-1) * (-1) summed 300 times = 300 (mod 2^w).
    REQUIRE(c[0] == Word(300));
}

TEMPLATE_TEST_CASE("gemm: thread counts give identical results", "[gemm]", std::uint32_t,
                   std::uint64_t) {
    using Word = TestType;
    for (shape s : {shape{70, 300, 90}, shape{256, 64, 128}, shape{20, 1000, 33}}) {
        for (unsigned threads : {0u, 3u, 4u}) check_gemm<Word>(s, false, true, threads, 0);
        check_gemm<Word>(s, true, false, 3, 1);
    }
}

TEMPLATE_TEST_CASE("gemm_batched / gemm_bt_batched match per-head naive", "[gemm]", std::uint32_t,
                   std::uint64_t) {
    using Word = TestType;
    const std::size_t batch = 5, m = 19, n = 27, kk = 33;
    for (bool bt : {false, true}) {
        for (bool acc : {false, true}) {
            for (unsigned threads : {1u, 2u}) {
                const std::size_t lda = kk + 1, ldb = (bt ? kk : n) + 2, ldc = n + 3;
                const std::size_t sa = m * lda + 5, sb = (bt ? n : kk) * ldb + 7, sc = m * ldc + 2;
                const auto a = random_vec<Word>(batch * sa, 101);
                const auto b = random_vec<Word>(batch * sb, 202);
                const auto c0 = random_vec<Word>(batch * sc, 303);
                std::vector<Word> got = c0, want = c0;
                if (bt) {
                    k::gemm_bt_batched<Word>(batch, m, n, kk, a.data(), sa, lda, b.data(), sb, ldb,
                                             got.data(), sc, ldc, acc, threads);
                } else {
                    k::gemm_batched<Word>(batch, m, n, kk, a.data(), sa, lda, b.data(), sb, ldb,
                                          got.data(), sc, ldc, acc, threads);
                }
                for (std::size_t h = 0; h < batch; ++h) {
                    if (bt) {
                        k::gemm_bt_naive<Word>(m, n, kk, a.data() + h * sa, lda, b.data() + h * sb,
                                               ldb, want.data() + h * sc, ldc, acc);
                    } else {
                        k::gemm_naive<Word>(m, n, kk, a.data() + h * sa, lda, b.data() + h * sb, ldb,
                                            want.data() + h * sc, ldc, acc);
                    }
                }
                INFO("bt=" << bt << " acc=" << acc << " threads=" << threads);
                REQUIRE(got == want);
            }
        }
    }
    // Attention-like: 12 heads of 128x64 * (128x64)^T, heads interleaved in one 128 x 768 row.
    const std::size_t heads = 12, seq = 128, dh = 64, width = heads * dh;
    const auto q = random_vec<Word>(seq * width, 404);
    const auto kmat = random_vec<Word>(seq * width, 505);
    std::vector<Word> scores(heads * seq * seq), want(heads * seq * seq);
    k::gemm_bt_batched<Word>(heads, seq, seq, dh, q.data(), dh, width, kmat.data(), dh, width,
                             scores.data(), seq * seq, seq, false, 2);
    for (std::size_t h = 0; h < heads; ++h) {
        k::gemm_bt_naive<Word>(seq, seq, dh, q.data() + h * dh, width, kmat.data() + h * dh, width,
                               want.data() + h * seq * seq, seq);
    }
    REQUIRE(scores == want);
}

TEMPLATE_TEST_CASE("gemm: BERT-base shape 128x768 * 768x768 is exact", "[gemm][bert]",
                   std::uint32_t, std::uint64_t) {
    using Word = TestType;
    const std::size_t m = 128, n = 768, kk = 768;
    const auto a = random_vec<Word>(m * kk, 1);
    const auto b = random_vec<Word>(kk * n, 2);
    std::vector<Word> c1(m * n), c2(m * n), want(m * n);
    k::gemm<Word>(m, n, kk, a.data(), kk, b.data(), n, c1.data(), n, false, 1);
    k::gemm<Word>(m, n, kk, a.data(), kk, b.data(), n, c2.data(), n, false, 2);
    k::gemm_naive<Word>(m, n, kk, a.data(), kk, b.data(), n, want.data(), n);
    REQUIRE(c1 == want);
    REQUIRE(c2 == want);
}
