// secformer/core/gemm.hpp -- ring GEMM over Z_2^64 / Z_2^32 (wrap-around unsigned arithmetic).
//
// What:  C = A*B (or C += A*B) for row-major uint64_t / uint32_t matrices, exact modulo 2^w
//        (bit-identical to the naive triple loop).  Variants: gemm_bt (C = A*B^T, B stored n x k,
//        for Q*K^T), gemm_batched / gemm_bt_batched (leading batch axis, e.g. attention heads).
// How:   B is packed, one KC x NR column panel at a time (software-pipelined with the arithmetic
//        and prefetched), A is read in place; an MR x NR register-blocked micro-kernel written
//        with explicit xsimd batches (8x24 uint64 tile: vpmullq + vpaddq on AVX-512DQ; 8x32 for
//        uint32).  Without a suitable SIMD arch (uint64 needs AVX-512DQ, uint32 needs AVX2) or
//        with SECFORMER_NO_SIMD defined, a portable scalar micro-kernel is used instead (same
//        loop nest, same results).  The library never forces -march; the caller's flags decide.
// Cost:  m*n*k multiply-adds plus O(k*n*ceil(m/128)) packing copies; scratch is two KC x NR
//        panels per call and thread (no global state).  Measured on Zen 5 (1 core): ~40 G
//        uint64 multiply-adds/s, ~60 G uint32, at the BERT-base shapes.
// Threads: `threads` std::threads per call (0 = hardware_concurrency); the m x n output is split
//        into disjoint tiles (batched: whole problems per thread first), so results do not depend
//        on the thread count.  Problems under ~1M multiply-adds per thread stay single-threaded.
//        All functions are reentrant; c must not alias a or b.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

#if !defined(SECFORMER_NO_SIMD)
#include <xsimd/xsimd.hpp>
#endif

namespace secformer::kernels {

namespace detail {

// ----------------------------------------------------------------------------------------------
// SIMD selection.  uint64 lanes only have a native multiply with AVX-512DQ (vpmullq); on AVX2
// xsimd emulates it lane by lane, which is slower than the scalar kernel, so we do not use it.
// ----------------------------------------------------------------------------------------------
#if !defined(SECFORMER_NO_SIMD) && defined(XSIMD_WITH_AVX512DQ) && XSIMD_WITH_AVX512DQ && \
    defined(XSIMD_WITH_AVX512F) && XSIMD_WITH_AVX512F
#define SECFORMER_GEMM_SIMD_U64 1
#define SECFORMER_GEMM_SIMD_U32 1
using gemm_arch = xsimd::avx512dq;
#elif !defined(SECFORMER_NO_SIMD) && defined(XSIMD_WITH_AVX2) && XSIMD_WITH_AVX2
#define SECFORMER_GEMM_SIMD_U64 0
#define SECFORMER_GEMM_SIMD_U32 1
using gemm_arch = xsimd::avx2;
#else
#define SECFORMER_GEMM_SIMD_U64 0
#define SECFORMER_GEMM_SIMD_U32 0
#endif

template <class Word>
inline constexpr bool use_simd =
    (std::is_same_v<Word, std::uint64_t> && SECFORMER_GEMM_SIMD_U64) ||
    (std::is_same_v<Word, std::uint32_t> && SECFORMER_GEMM_SIMD_U32);

// Blocking parameters: MR x NR register tile (NR = nv SIMD vectors); KC depth of a packed B
// panel; MA rows of A (MA x KC, L2 resident) share one packed B panel.
template <class Word, bool Simd = use_simd<Word>>
struct blocking;

template <class Word>
struct blocking<Word, false> {  // portable scalar kernel (auto-vectorisable inner loop)
    static constexpr std::size_t lanes = 1;
    static constexpr std::size_t mr = 4;
    static constexpr std::size_t nr = sizeof(Word) == 8 ? 8 : 16;
    static constexpr std::size_t kc = 256;
    static constexpr std::size_t ma = 128;
};

#if SECFORMER_GEMM_SIMD_U64 || SECFORMER_GEMM_SIMD_U32
template <class Word>
struct blocking<Word, true> {
    using batch = xsimd::batch<Word, gemm_arch>;
    static constexpr std::size_t lanes = batch::size;
    static constexpr std::size_t mr = 8;
    static constexpr std::size_t nv = sizeof(Word) == 8 ? 3 : 2;  // vectors per register-tile row
    static constexpr std::size_t nr = nv * lanes;
    static constexpr std::size_t kc = sizeof(Word) == 8 ? 256 : 384;
    static constexpr std::size_t ma = 128;
};
#endif

// 64-byte aligned scratch buffer, allocated per call.
template <class Word>
struct aligned_buffer {
    struct deleter {
        void operator()(Word* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
    };
    std::unique_ptr<Word[], deleter> ptr;
    explicit aligned_buffer(std::size_t count)
        : ptr(static_cast<Word*>(::operator new[](std::max<std::size_t>(count, 1) * sizeof(Word),
                                                  std::align_val_t{64}))) {}
    Word* get() const noexcept { return ptr.get(); }
};

// ----------------------------------------------------------------------------------------------
// Packing.
// ----------------------------------------------------------------------------------------------

// Rows [p0, p1) of one B panel (kc x cols, cols <= NR) of a row-major k x n matrix
// -> out[p * NR + j], zero padded to NR columns.
template <class Word, std::size_t NR>
inline void pack_b_rows(std::size_t p0, std::size_t p1, std::size_t cols, const Word* b,
                        std::size_t ldb, Word* out) {
    if (cols == NR) {
        for (std::size_t p = p0; p < p1; ++p) std::memcpy(out + p * NR, b + p * ldb, NR * sizeof(Word));
    } else {
        for (std::size_t p = p0; p < p1; ++p) {
            std::size_t c = 0;
            for (; c < cols; ++c) out[p * NR + c] = b[p * ldb + c];
            for (; c < NR; ++c) out[p * NR + c] = 0;
        }
    }
}

// Same, but B is given transposed (n x k row-major): element (p, j) at bt[j * ldb + p].
template <class Word, std::size_t NR>
inline void pack_bt_rows(std::size_t p0, std::size_t p1, std::size_t cols, const Word* bt,
                         std::size_t ldb, Word* out) {
    constexpr std::size_t PB = 8;  // k-chunk, so that the `cols` source rows stream together
    for (std::size_t q0 = p0; q0 < p1; q0 += PB) {
        const std::size_t qe = std::min(p1, q0 + PB);
        for (std::size_t c = 0; c < cols; ++c) {
            const Word* src = bt + c * ldb;
            for (std::size_t p = q0; p < qe; ++p) out[p * NR + c] = src[p];
        }
        for (std::size_t c = cols; c < NR; ++c) {
            for (std::size_t p = q0; p < qe; ++p) out[p * NR + c] = 0;
        }
    }
}

// Rows of row-major B that the in-place packing kernel prefetches ahead of use.
inline constexpr std::size_t prefetch_ahead = 24;

// Prefetch (towards L2) every cache line of [p, p + count).
template <class Word>
inline void prefetch_range(const Word* p, std::size_t count) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    if (count == 0) return;
    const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(63);
    const std::uintptr_t last = reinterpret_cast<std::uintptr_t>(p + count) - 1;
    for (std::uintptr_t addr = first; addr <= last; addr += 64) {
        __builtin_prefetch(reinterpret_cast<const void*>(addr), 0, 2);
        // GCC deletes loops whose only effect is a prefetch; the empty asm keeps this one.
        __asm__ __volatile__("");
    }
#else
    (void)p;
    (void)count;
#endif
}

// Prefetch the source of rows [p0, p1) of a B panel whose first element is at b.
template <class Word, bool BT>
inline void prefetch_b_rows(std::size_t p0, std::size_t p1, std::size_t cols, const Word* b,
                            std::size_t ldb) noexcept {
    if (p0 >= p1) return;
    if constexpr (BT) {
        for (std::size_t c = 0; c < cols; ++c) prefetch_range(b + c * ldb + p0, p1 - p0);
    } else {
        for (std::size_t p = p0; p < p1; ++p) prefetch_range(b + p * ldb, cols);
    }
}

// ----------------------------------------------------------------------------------------------
// Micro-kernels: acc[i][j] = sum_p ar[i][p] * bp[p * NR + j] (i < MR, j < NR, p < kc), then
// C tile = acc or C tile += acc.  `ct` is the C tile (row stride ldc); only rows < mr_eff and
// columns < nr_eff are written.  ar[i] points at row i of A (rows >= mr_eff repeat a valid row).
// ----------------------------------------------------------------------------------------------

template <class Word, std::size_t MR, std::size_t NR>
inline void write_tile(const Word* acc, Word* ct, std::size_t ldc, std::size_t mr_eff,
                       std::size_t nr_eff, bool add) {
    for (std::size_t i = 0; i < mr_eff; ++i) {
        Word* crow = ct + i * ldc;
        const Word* arow = acc + i * NR;
        if (add) {
            for (std::size_t j = 0; j < nr_eff; ++j) crow[j] += arow[j];
        } else {
            for (std::size_t j = 0; j < nr_eff; ++j) crow[j] = arow[j];
        }
    }
}

// Portable kernel: plain loops the compiler can unroll and auto-vectorise.
template <class Word, std::size_t MR, std::size_t NR>
inline void micro_kernel_scalar(std::size_t kc, const Word* const* ar, const Word* __restrict bp,
                                Word* ct, std::size_t ldc, std::size_t mr_eff, std::size_t nr_eff,
                                bool add) {
    alignas(64) Word acc[MR][NR] = {};
    const Word* arow[MR];
    for (std::size_t i = 0; i < MR; ++i) arow[i] = ar[i];
    for (std::size_t p = 0; p < kc; ++p) {
        const Word* brow = bp + p * NR;
#pragma GCC unroll 16
        for (std::size_t i = 0; i < MR; ++i) {
            const Word av = arow[i][p];
#pragma GCC unroll 64
            for (std::size_t j = 0; j < NR; ++j) acc[i][j] += av * brow[j];
        }
    }
    write_tile<Word, MR, NR>(&acc[0][0], ct, ldc, mr_eff, nr_eff, add);
}

#if SECFORMER_GEMM_SIMD_U64 || SECFORMER_GEMM_SIMD_U32
// Source of the B operand of the SIMD micro-kernel, one k step (NR = NV * L words) at a time.
// Packed: read the packed panel.  Fused: read row-major B in place (row stride ldb) and write
// the packed panel as a side effect, so that packing overlaps with the arithmetic.
template <class Batch, std::size_t NV, bool Fused>
struct b_stream;

template <class Batch, std::size_t NV>
struct b_stream<Batch, NV, false> {
    using word = typename Batch::value_type;
    const word* bp;
    void next(Batch* bv) noexcept {
#pragma GCC unroll 64
        for (std::size_t v = 0; v < NV; ++v) bv[v] = Batch::load_aligned(bp + v * Batch::size);
        bp += NV * Batch::size;
    }
};

template <class Batch, std::size_t NV>
struct b_stream<Batch, NV, true> {
    using word = typename Batch::value_type;
    static constexpr std::size_t ahead = prefetch_ahead;
    const word* src;
    std::size_t ldb;
    word* dst;
    std::size_t rows_left;  // rows of the panel not yet read
    void next(Batch* bv) noexcept {
        if (rows_left > ahead) prefetch_range(src + ahead * ldb, NV * Batch::size);
        --rows_left;
#pragma GCC unroll 64
        for (std::size_t v = 0; v < NV; ++v) {
            bv[v] = Batch::load_unaligned(src + v * Batch::size);
            bv[v].store_aligned(dst + v * Batch::size);
        }
        src += ldb;
        dst += NV * Batch::size;
    }
};

// A operand: `ar[i]` points at row i of the A tile (rows >= mr_eff are clamped copies of a
// valid row); element (i, p) is ar[i][p].  B operand: see b_stream.
template <class Word, std::size_t MR, std::size_t NV, bool Fused>
inline void micro_kernel_simd(std::size_t kc, const Word* const* ar,
                              b_stream<xsimd::batch<Word, gemm_arch>, NV, Fused> bs, Word* ct,
                              std::size_t ldc, std::size_t mr_eff, std::size_t nr_eff, bool add) {
    using batch = xsimd::batch<Word, gemm_arch>;
    constexpr std::size_t L = batch::size;
    constexpr std::size_t NR = NV * L;
    const Word* arow[MR];
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i) arow[i] = ar[i];
    // The first k step initialises the accumulators (instead of zero-filling them): besides
    // saving one step, this keeps GCC from duplicating every accumulator register at loop exit.
    // Callers guarantee kc >= 1.
    batch acc[MR][NV];
    {
        batch bv[NV];
        bs.next(bv);
#pragma GCC unroll 64
        for (std::size_t i = 0; i < MR; ++i) {
            const batch av(arow[i][0]);
#pragma GCC unroll 64
            for (std::size_t v = 0; v < NV; ++v) acc[i][v] = av * bv[v];
        }
    }
    for (std::size_t p = 1; p < kc; ++p) {
        batch bv[NV];
        bs.next(bv);
#pragma GCC unroll 64
        for (std::size_t i = 0; i < MR; ++i) {
            const batch av(arow[i][p]);
#pragma GCC unroll 64
            for (std::size_t v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
        }
    }
    if (mr_eff == MR && nr_eff == NR) {
        if (add) {
#pragma GCC unroll 64
            for (std::size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 64
                for (std::size_t v = 0; v < NV; ++v) {
                    Word* cp = ct + i * ldc + v * L;
                    (batch::load_unaligned(cp) + acc[i][v]).store_unaligned(cp);
                }
            }
        } else {
#pragma GCC unroll 64
            for (std::size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 64
                for (std::size_t v = 0; v < NV; ++v) acc[i][v].store_unaligned(ct + i * ldc + v * L);
            }
        }
    } else {
        alignas(64) Word tmp[MR * NR];
#pragma GCC unroll 64
        for (std::size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 64
            for (std::size_t v = 0; v < NV; ++v) acc[i][v].store_aligned(tmp + i * NR + v * L);
        }
        write_tile<Word, MR, NR>(tmp, ct, ldc, mr_eff, nr_eff, add);
    }
}
#endif

// Micro-kernel on a packed B panel bp (kc x NR).
template <class Word>
inline void micro_kernel(std::size_t kc, const Word* const* ar, const Word* bp, Word* ct,
                         std::size_t ldc, std::size_t mr_eff, std::size_t nr_eff, bool add) {
    using bl = blocking<Word>;
#if SECFORMER_GEMM_SIMD_U64 || SECFORMER_GEMM_SIMD_U32
    if constexpr (use_simd<Word>) {
        using batch = xsimd::batch<Word, gemm_arch>;
        micro_kernel_simd<Word, bl::mr, bl::nv, false>(kc, ar, b_stream<batch, bl::nv, false>{bp}, ct,
                                                       ldc, mr_eff, nr_eff, add);
        return;
    } else
#endif
    {
        micro_kernel_scalar<Word, bl::mr, bl::nr>(kc, ar, bp, ct, ldc, mr_eff, nr_eff, add);
    }
}

// Same, but B is read in place (kc rows of NR words at bsrc, row stride ldb) and packed into
// bpack on the way (SIMD kernels), or packed first (portable kernel).
template <class Word>
inline void micro_kernel_packing(std::size_t kc, const Word* const* ar, const Word* bsrc,
                                 std::size_t ldb, Word* bpack, Word* ct, std::size_t ldc,
                                 std::size_t mr_eff, bool add) {
    using bl = blocking<Word>;
#if SECFORMER_GEMM_SIMD_U64 || SECFORMER_GEMM_SIMD_U32
    if constexpr (use_simd<Word>) {
        using batch = xsimd::batch<Word, gemm_arch>;
        micro_kernel_simd<Word, bl::mr, bl::nv, true>(
            kc, ar, b_stream<batch, bl::nv, true>{bsrc, ldb, bpack, kc}, ct, ldc, mr_eff, bl::nr, add);
        return;
    } else
#endif
    {
        pack_b_rows<Word, bl::nr>(0, kc, bl::nr, bsrc, ldb, bpack);
        micro_kernel_scalar<Word, bl::mr, bl::nr>(kc, ar, bpack, ct, ldc, mr_eff, bl::nr, add);
    }
}

// ----------------------------------------------------------------------------------------------
// Single-threaded blocked driver.  BT: b is n x k (C = A * B^T).
// Loop nest: i0 (MA rows of A) -> pc (KC depth; the MA x KC slab of A, read in place, stays in
//   L2) -> jp (one packed kc x NR panel of B, L1/L2 resident) -> ip (MR rows) -> micro-kernel.
// A full-width panel of row-major B is packed by the first micro-kernel call that uses it (the
// loads overlap with the arithmetic); other panels (B^T, the last partial one) are packed up
// front.  While the calls of panel jp run, the source lines of panel jp+1 are prefetched in
// small slices (one per call), so B streams from memory in the shadow of the arithmetic with
// only a few lines in flight (no cache-set thrashing for power-of-two leading dimensions).
// ----------------------------------------------------------------------------------------------
template <class Word, bool BT>
inline void gemm_serial(std::size_t m, std::size_t n, std::size_t k, const Word* a, std::size_t lda,
                        const Word* b, std::size_t ldb, Word* c, std::size_t ldc, bool accumulate) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate) {
            for (std::size_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, Word(0));
        }
        return;
    }
    using bl = blocking<Word>;
    constexpr std::size_t MR = bl::mr, NR = bl::nr;
    const std::size_t KC = std::min(bl::kc, k);
    const std::size_t MA = std::min(bl::ma, (m + MR - 1) / MR * MR);
    aligned_buffer<Word> bbuf(KC * NR);
    Word* const bp = bbuf.get();
    const std::size_t panels = (n + NR - 1) / NR;
    for (std::size_t i0 = 0; i0 < m; i0 += MA) {
        const std::size_t ma = std::min(MA, m - i0);
        const std::size_t steps = (ma + MR - 1) / MR;  // micro-kernel calls per B panel
        for (std::size_t pc = 0; pc < k; pc += KC) {
            const std::size_t kc = std::min(KC, k - pc);
            const bool add = accumulate || pc > 0;
            // Source of panel jp: its first element (row pc, column jp*NR) and its width.
            auto panel_src = [&](std::size_t jp) { return BT ? b + jp * NR * ldb + pc : b + pc * ldb + jp * NR; };
            auto panel_cols = [&](std::size_t jp) { return std::min(NR, n - jp * NR); };
            // Prefetch slice s (of `steps`) of the first `pf_rows` source rows of panel jp; the
            // in-place packing kernel prefetches the rest itself, a few rows ahead.
            const std::size_t pf_rows = BT ? kc : std::min(kc, prefetch_ahead);
            const std::size_t slice = (pf_rows + steps - 1) / steps;
            auto prefetch_slice = [&](std::size_t jp, std::size_t s) {
                const std::size_t p0 = std::min(pf_rows, s * slice), p1 = std::min(pf_rows, p0 + slice);
                prefetch_b_rows<Word, BT>(p0, p1, panel_cols(jp), panel_src(jp), ldb);
            };
            for (std::size_t jp = 0; jp < panels; ++jp) {
                const std::size_t j0 = jp * NR;
                const std::size_t cols = panel_cols(jp);
                const bool fused = !BT && cols == NR;
                if (!fused) {
                    if constexpr (BT) {
                        pack_bt_rows<Word, NR>(0, kc, cols, panel_src(jp), ldb, bp);
                    } else {
                        pack_b_rows<Word, NR>(0, kc, cols, panel_src(jp), ldb, bp);
                    }
                }
                for (std::size_t ip = 0; ip < steps; ++ip) {
                    if (jp + 1 < panels) prefetch_slice(jp + 1, ip);
                    const std::size_t i = i0 + ip * MR;
                    const std::size_t mr_eff = std::min(MR, m - i);
                    const Word* ar[MR];
                    for (std::size_t r = 0; r < MR; ++r) ar[r] = a + (i + std::min(r, mr_eff - 1)) * lda + pc;
                    Word* ct = c + i * ldc + j0;
                    if (fused && ip == 0) {
                        micro_kernel_packing<Word>(kc, ar, panel_src(jp), ldb, bp, ct, ldc, mr_eff, add);
                    } else {
                        micro_kernel<Word>(kc, ar, bp, ct, ldc, mr_eff, cols, add);
                    }
                }
            }
        }
    }
}

inline unsigned resolve_threads(unsigned threads) {
    if (threads == 0) {
        threads = std::thread::hardware_concurrency();
        if (threads == 0) threads = 1;
    }
    return threads;
}

// Below this many multiply-adds per thread, spawning a thread costs more than it saves.
inline constexpr double min_work_per_thread = double(1u << 20);

// Runs fn(t) for t in [0, count) on up to `count` threads (the calling thread takes t = 0).
// If a thread cannot be started, its share runs on the calling thread; an exception thrown by
// any share is rethrown here after all threads have been joined.
template <class F>
inline void run_parallel(unsigned count, F&& fn) {
    if (count <= 1) {
        fn(0u);
        return;
    }
    std::vector<std::exception_ptr> errors(count);
    auto guarded = [&fn, &errors](unsigned t) {
        try {
            fn(t);
        } catch (...) {
            errors[t] = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(count - 1);
    unsigned started = 1;
    try {
        for (; started < count; ++started) pool.emplace_back(guarded, started);
    } catch (...) {
        // Out of threads: the remaining shares run below on this thread.
    }
    guarded(0u);
    for (unsigned t = started; t < count; ++t) guarded(t);
    for (auto& th : pool) th.join();
    for (auto& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

template <class Word, bool BT>
inline void gemm_parallel(std::size_t m, std::size_t n, std::size_t k, const Word* a, std::size_t lda,
                          const Word* b, std::size_t ldb, Word* c, std::size_t ldc, bool accumulate,
                          unsigned threads) {
    threads = resolve_threads(threads);
    const double work = double(m) * double(n) * double(k);
    const unsigned max_by_work = static_cast<unsigned>(std::max(1.0, work / min_work_per_thread));
    threads = std::min(threads, max_by_work);
    if (threads <= 1 || m == 0 || n == 0 || k == 0) {
        gemm_serial<Word, BT>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    using bl = blocking<Word>;
    // Choose a tm x tn grid (tm * tn = threads) minimising per-thread packing m/tm + n/tn,
    // with tiles aligned to the register block.
    unsigned best_tm = 1;
    double best_cost = -1;
    for (unsigned tm = 1; tm <= threads; ++tm) {
        if (threads % tm) continue;
        const unsigned tn = threads / tm;
        const double mt = double((m + tm - 1) / tm), nt = double((n + tn - 1) / tn);
        if (tm > 1 && m < tm * bl::mr) continue;
        if (tn > 1 && n < tn * bl::nr) continue;
        const double cost = mt + nt;
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best_tm = tm;
        }
    }
    if (best_cost < 0) {  // too small to split along register-block boundaries
        gemm_serial<Word, BT>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    const unsigned tm = best_tm, tn = threads / best_tm;
    auto split = [](std::size_t len, unsigned parts, unsigned idx, std::size_t unit) {
        const std::size_t units = (len + unit - 1) / unit;
        const std::size_t lo = units * idx / parts * unit, hi = units * (idx + 1) / parts * unit;
        return std::pair<std::size_t, std::size_t>{std::min(lo, len), std::min(hi, len)};
    };
    run_parallel(threads, [&](unsigned t) {
        const auto [i0, i1] = split(m, tm, t / tn, bl::mr);
        const auto [j0, j1] = split(n, tn, t % tn, bl::nr);
        if (i0 >= i1 || j0 >= j1) return;
        const Word* bsub = BT ? b + j0 * ldb : b + j0;
        gemm_serial<Word, BT>(i1 - i0, j1 - j0, k, a + i0 * lda, lda, bsub, ldb, c + i0 * ldc + j0,
                              ldc, accumulate);
    });
}

template <class Word, bool BT>
inline void gemm_batched_impl(std::size_t batch, std::size_t m, std::size_t n, std::size_t k,
                              const Word* a, std::size_t stride_a, std::size_t lda, const Word* b,
                              std::size_t stride_b, std::size_t ldb, Word* c, std::size_t stride_c,
                              std::size_t ldc, bool accumulate, unsigned threads) {
    threads = resolve_threads(threads);
    if (batch == 0) return;
    if (threads <= 1 || batch == 1) {
        for (std::size_t h = 0; h < batch; ++h) {
            gemm_parallel<Word, BT>(m, n, k, a + h * stride_a, lda, b + h * stride_b, ldb,
                                    c + h * stride_c, ldc, accumulate, threads);
        }
        return;
    }
    const double work = double(batch) * double(m) * double(n) * double(k);
    const unsigned max_by_work = static_cast<unsigned>(std::max(1.0, work / min_work_per_thread));
    const unsigned outer = std::min<unsigned>({threads, max_by_work,
                                               static_cast<unsigned>(std::min<std::size_t>(batch, threads))});
    // Whole problems per thread (contiguous ranges of the batch axis).
    run_parallel(outer, [&](unsigned t) {
        const std::size_t h0 = batch * t / outer, h1 = batch * (t + 1) / outer;
        for (std::size_t h = h0; h < h1; ++h) {
            gemm_serial<Word, BT>(m, n, k, a + h * stride_a, lda, b + h * stride_b, ldb,
                                  c + h * stride_c, ldc, accumulate);
        }
    });
}

}  // namespace detail

// Reference triple loop: c (m x n) = a (m x k) * b (k x n), or c += a*b if accumulate.
template <class Word>
inline void gemm_naive(std::size_t m, std::size_t n, std::size_t k, const Word* a, std::size_t lda,
                       const Word* b, std::size_t ldb, Word* c, std::size_t ldc,
                       bool accumulate = false) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            Word s = accumulate ? c[i * ldc + j] : Word(0);
            for (std::size_t p = 0; p < k; ++p) s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = s;
        }
    }
}

// Reference for gemm_bt: c = a (m x k) * b^T with b stored n x k.
template <class Word>
inline void gemm_bt_naive(std::size_t m, std::size_t n, std::size_t k, const Word* a,
                          std::size_t lda, const Word* b, std::size_t ldb, Word* c, std::size_t ldc,
                          bool accumulate = false) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            Word s = accumulate ? c[i * ldc + j] : Word(0);
            for (std::size_t p = 0; p < k; ++p) s += a[i * lda + p] * b[j * ldb + p];
            c[i * ldc + j] = s;
        }
    }
}

// c (m x n) = a (m x k) * b (k x n)  [or c += a*b], row-major, strides in elements, mod 2^w.
// threads: number of std::threads to use (0 = hardware_concurrency). c must not alias a or b.
template <class Word>
inline void gemm(std::size_t m, std::size_t n, std::size_t k, const Word* a, std::size_t lda,
                 const Word* b, std::size_t ldb, Word* c, std::size_t ldc, bool accumulate = false,
                 unsigned threads = 1) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    detail::gemm_parallel<Word, false>(m, n, k, a, lda, b, ldb, c, ldc, accumulate, threads);
}

// c (m x n) = a (m x k) * b^T where b is stored row-major n x k (e.g. Q * K^T).
template <class Word>
inline void gemm_bt(std::size_t m, std::size_t n, std::size_t k, const Word* a, std::size_t lda,
                    const Word* b, std::size_t ldb, Word* c, std::size_t ldc, bool accumulate = false,
                    unsigned threads = 1) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    detail::gemm_parallel<Word, true>(m, n, k, a, lda, b, ldb, c, ldc, accumulate, threads);
}

// For h in [0, batch): gemm on a + h*stride_a, b + h*stride_b, c + h*stride_c.
template <class Word>
inline void gemm_batched(std::size_t batch, std::size_t m, std::size_t n, std::size_t k,
                         const Word* a, std::size_t stride_a, std::size_t lda, const Word* b,
                         std::size_t stride_b, std::size_t ldb, Word* c, std::size_t stride_c,
                         std::size_t ldc, bool accumulate = false, unsigned threads = 1) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    detail::gemm_batched_impl<Word, false>(batch, m, n, k, a, stride_a, lda, b, stride_b, ldb, c,
                                           stride_c, ldc, accumulate, threads);
}

// For h in [0, batch): gemm_bt on a + h*stride_a, b + h*stride_b (n x k each), c + h*stride_c.
template <class Word>
inline void gemm_bt_batched(std::size_t batch, std::size_t m, std::size_t n, std::size_t k,
                            const Word* a, std::size_t stride_a, std::size_t lda, const Word* b,
                            std::size_t stride_b, std::size_t ldb, Word* c, std::size_t stride_c,
                            std::size_t ldc, bool accumulate = false, unsigned threads = 1) {
    static_assert(std::is_same_v<Word, std::uint32_t> || std::is_same_v<Word, std::uint64_t>);
    detail::gemm_batched_impl<Word, true>(batch, m, n, k, a, stride_a, lda, b, stride_b, ldb, c,
                                          stride_c, ldc, accumulate, threads);
}

}  // namespace secformer::kernels
