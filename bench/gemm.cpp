// Benchmark: ring GEMM (secformer::kernels::gemm, uint64 / uint32) vs OpenBLAS sgemm (float32)
// at the BERT-base linear-layer shapes.  1 op = one multiply-add; GOPS = m*n*k / seconds / 1e9.
//
// Usage: bench_gemm [--runs N] [--cpu-time] [--json FILE]
//   Every timed entry is the median of N (default 11, minimum 5) wall-clock runs after one
//   warm-up run; the variants are interleaved round-robin so that background load affects them
//   alike.  The naive uint64 loop is timed on a single full run (it is also the reference used
//   to check that every run of our kernels is bit-exact).  --cpu-time times the single-thread
//   variants by the thread's CPU time instead (for a machine shared with other jobs).
// Build: g++ -std=c++20 -O3 -march=native -I include bench/gemm.cpp -lopenblas -pthread
#include <secformer/core/gemm.hpp>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

extern "C" {
// Declared by OpenBLAS's cblas.h; repeated here in case another cblas.h variant is found first.
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
}

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Wall-clock seconds of f(), or the calling thread's CPU seconds if cpu_time (only meaningful
// for single-threaded runs; it discounts time the thread spent descheduled on a busy machine).
template <class F>
double time_once(F&& f, bool cpu_time = false) {
    if (cpu_time) {
        const double t0 = thread_cpu_seconds();
        f();
        return thread_cpu_seconds() - t0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct row {
    int m, k, n;
    double naive64, u64_1t, u64_2t, u32_1t, u32_2t, s_1t, s_2t;  // GOPS (median run)
    double best[6];                                               // GOPS (fastest run)
    bool exact;
};

}  // namespace

int main(int argc, char** argv) {
    int runs = 11;
    bool cpu_time = false;
    std::string json_path;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
            json_path = argv[++i];
        } else if (!std::strcmp(argv[i], "--cpu-time")) {
            cpu_time = true;
        } else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = std::max(5, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: %s [--runs N] [--cpu-time] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    namespace k = secformer::kernels;
    const int shapes[][3] = {{128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}};  // m, k, n
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    std::printf("ring GEMM vs OpenBLAS sgemm; median of %d runs; 1T timed by %s; OpenBLAS core: "
                "%s%s%s; uint64 SIMD: %s; hardware threads: %u\n",
                runs, cpu_time ? "thread CPU time" : "wall clock", openblas_get_corename(), coretype ? " (OPENBLAS_CORETYPE=" : "",
                coretype ? (std::string(coretype) + ")").c_str() : "",
                k::detail::use_simd<std::uint64_t> ? "yes" : "no (scalar fallback)",
                std::thread::hardware_concurrency());
    std::printf("%-22s %9s %9s %9s %9s %9s %9s %9s %10s %10s %6s\n", "shape (m x k * k x n)",
                "naive64", "u64 1T", "u64 2T", "u32 1T", "u32 2T", "sgemm 1T", "sgemm 2T",
                "u64/s 1T", "u64/s 2T", "exact");
    std::vector<row> rows;
    bool all_exact = true;
    for (const auto& s : shapes) {
        const int m = s[0], kk = s[1], n = s[2];
        const double ops = double(m) * n * kk;
        std::uint64_t seed = 42 + m + kk + n;
        std::vector<std::uint64_t> a64(std::size_t(m) * kk), b64(std::size_t(kk) * n);
        for (auto& x : a64) x = splitmix64(seed);
        for (auto& x : b64) x = splitmix64(seed);
        std::vector<std::uint32_t> a32(a64.begin(), a64.end()), b32(b64.begin(), b64.end());
        std::vector<float> af(a64.size()), bf(b64.size());
        for (std::size_t i = 0; i < af.size(); ++i) af[i] = float(a64[i] % 1000) * 1e-3f;
        for (std::size_t i = 0; i < bf.size(); ++i) bf[i] = float(b64[i] % 1000) * 1e-3f;
        std::vector<std::uint64_t> ref64(std::size_t(m) * n), c64(ref64.size());
        std::vector<std::uint32_t> ref32(ref64.size()), c32(ref64.size());
        std::vector<float> cf(ref64.size());

        row r{m, kk, n, 0, 0, 0, 0, 0, 0, 0, {}, true};
        r.naive64 = ops / 1e9 / time_once([&] {
            k::gemm_naive<std::uint64_t>(m, n, kk, a64.data(), kk, b64.data(), n, ref64.data(), n);
        });
        k::gemm_naive<std::uint32_t>(m, n, kk, a32.data(), kk, b32.data(), n, ref32.data(), n);

        auto g64 = [&](unsigned t) {
            return [&, t] { k::gemm<std::uint64_t>(m, n, kk, a64.data(), kk, b64.data(), n, c64.data(), n, false, t); };
        };
        auto g32 = [&](unsigned t) {
            return [&, t] { k::gemm<std::uint32_t>(m, n, kk, a32.data(), kk, b32.data(), n, c32.data(), n, false, t); };
        };
        auto sg = [&] {
            return [&] {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kk, 1.0f, af.data(), kk,
                            bf.data(), n, 0.0f, cf.data(), n);
            };
        };
        // The variants are timed round-robin (one run of each per round, after a warm-up round)
        // so that background load on the machine affects all of them alike.
        std::vector<std::function<void()>> variants = {g64(1), g64(2), g32(1), g32(2), sg(), sg()};
        std::vector<std::vector<double>> times(variants.size());
        for (int round = -1; round < runs; ++round) {
            for (std::size_t v = 0; v < variants.size(); ++v) {
                if (v == 4 || v == 5) openblas_set_num_threads(v == 4 ? 1 : 2);  // outside the timing
                const bool single = v == 0 || v == 2 || v == 4;
                const double t = time_once(variants[v], cpu_time && single);
                if (round >= 0) times[v].push_back(t);
                if (v == 0 || v == 1) {
                    r.exact = r.exact && c64 == ref64;
                    std::fill(c64.begin(), c64.end(), 0);
                } else if (v == 2 || v == 3) {
                    r.exact = r.exact && c32 == ref32;
                    std::fill(c32.begin(), c32.end(), 0);
                }
            }
        }
        r.u64_1t = ops / 1e9 / median(times[0]);
        r.u64_2t = ops / 1e9 / median(times[1]);
        r.u32_1t = ops / 1e9 / median(times[2]);
        r.u32_2t = ops / 1e9 / median(times[3]);
        r.s_1t = ops / 1e9 / median(times[4]);
        r.s_2t = ops / 1e9 / median(times[5]);
        for (std::size_t v = 0; v < variants.size(); ++v) {
            r.best[v] = ops / 1e9 / *std::min_element(times[v].begin(), times[v].end());
        }
        all_exact = all_exact && r.exact;
        rows.push_back(r);
        char name[64];
        std::snprintf(name, sizeof name, "%dx%d * %dx%d", m, kk, kk, n);
        std::printf("%-22s %9.2f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %10.2f %10.2f %6s\n", name,
                    r.naive64, r.u64_1t, r.u64_2t, r.u32_1t, r.u32_2t, r.s_1t, r.s_2t,
                    r.u64_1t / r.s_1t, r.u64_2t / r.s_2t, r.exact ? "yes" : "NO");
        std::fflush(stdout);
    }
    std::printf("(GOPS = 1e9 multiply-adds per second; naive64 = one full run of the reference "
                "triple loop; exact = our uint64 and uint32 results equal the naive loop)\n");
    if (!json_path.empty()) {
        FILE* f = std::fopen(json_path.c_str(), "w");
        if (!f) {
            std::perror(json_path.c_str());
            return 1;
        }
        std::fprintf(f, "{\n  \"benchmark\": \"ring_gemm\",\n  \"unit\": \"GOPS (1e9 multiply-adds/s)\",\n");
        std::fprintf(f, "  \"runs\": %d,\n  \"statistic\": \"median (naive64: single run)\",\n", runs);
        std::fprintf(f, "  \"single_thread_clock\": \"%s\",\n", cpu_time ? "thread_cpu_time" : "wall");
        const char* l2 = std::getenv("OPENBLAS_L2_SIZE");
        std::fprintf(f, "  \"openblas_core\": \"%s\",\n  \"openblas_coretype_env\": \"%s\",\n",
                     openblas_get_corename(), coretype ? coretype : "");
        std::fprintf(f, "  \"openblas_l2_size_env\": \"%s\",\n", l2 ? l2 : "");
        std::fprintf(f, "  \"uint64_simd\": %s,\n  \"results\": [\n",
                     k::detail::use_simd<std::uint64_t> ? "true" : "false");
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const row& r = rows[i];
            std::fprintf(f,
                         "    {\"m\": %d, \"k\": %d, \"n\": %d, \"naive_u64\": %.3f, \"u64_1t\": %.2f, "
                         "\"u64_2t\": %.2f, \"u32_1t\": %.2f, \"u32_2t\": %.2f, \"sgemm_1t\": %.2f, "
                         "\"sgemm_2t\": %.2f, \"ratio_u64_sgemm_1t\": %.3f, "
                         "\"ratio_u64_sgemm_2t\": %.3f, \"best\": {\"u64_1t\": %.2f, "
                         "\"u64_2t\": %.2f, \"u32_1t\": %.2f, \"u32_2t\": %.2f, \"sgemm_1t\": %.2f, "
                         "\"sgemm_2t\": %.2f}, \"exact\": %s}%s\n",
                         r.m, r.k, r.n, r.naive64, r.u64_1t, r.u64_2t, r.u32_1t, r.u32_2t, r.s_1t,
                         r.s_2t, r.u64_1t / r.s_1t, r.u64_2t / r.s_2t, r.best[0], r.best[1],
                         r.best[2], r.best[3], r.best[4], r.best[5], r.exact ? "true" : "false",
                         i + 1 < rows.size() ? "," : "");
        }
        std::fprintf(f, "  ]\n}\n");
        std::fclose(f);
    }
    return all_exact ? 0 : 1;
}
