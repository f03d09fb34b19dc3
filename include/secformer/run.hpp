// secformer/run.hpp: running a program in one process.
//   run_two_party(seed, f)  three threads (dealer, party 0, party 1) over in-memory channels; f is
//                           called as f(ctx) once per party with that party's Context type. The first
//                           error of any role is rethrown after every role has stopped; the others
//                           stop promptly because a failing role closes its channels.
//   run_solo(seed, f)       the plaintext fixed-point simulation: f(ctx) once with a Solo context.
// A seed makes runs reproducible (tests); without one, keys come from the operating system.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "channel/memory.hpp"
#include "context.hpp"
#include "dealer/dealer.hpp"
#include "protocols/policy.hpp"

namespace secformer {

/// Process-wide allocator setting for programs that move large tensors (benchmarks, servers): with
/// glibc, freed large buffers stay mapped for reuse instead of being returned to the system and
/// faulted in again on the next use (on small VMs the page faults can cost more than the protocol:
/// about 10 ms per fresh MB measured on a 2-core VM), and all threads share one arena.
/// Call it once from main; the library never calls it itself. Returns false where it does nothing.
inline bool keep_large_buffers() noexcept {
#if defined(__GLIBC__)
  const bool a = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 || mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  const bool b = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  // One arena for all threads: a buffer one role frees (the dealer's answer, consumed material)
  // is reused by the next role that allocates, instead of faulting in fresh pages.
  const bool c = mallopt(M_ARENA_MAX, 1) == 1;
  return a && b && c;
#else
  return false;
#endif
}

template <party_tag P, class Suite = Basic<>>
using MemoryContext = Context<P, MemoryChannel, DealerClient<P, MemoryChannel>, Suite>;
template <class Suite = Basic<>>
using SoloContext = Context<Solo, NullChannel, SoloDealer, Suite>;
/// The context of a dry run (plan_material): party 0's view with a dealer that only records.
template <class Suite = Basic<>>
using RecordingContext = Context<Party<0>, NullChannel, RecordingDealer, Suite>;

static_assert(dealer_client<DealerClient<Party<0>, MemoryChannel>> && dealer_client<DealerClient<Party<1>, MemoryChannel>> &&
              dealer_client<SoloDealer> && dealer_client<RecordingDealer>);
static_assert(protocol_context<MemoryContext<Party<0>>> && protocol_context<MemoryContext<Party<1>>> && protocol_context<SoloContext<>> &&
              protocol_context<RecordingContext<>>);

struct RunOptions {
  std::optional<std::uint64_t> seed;                            ///< test seed; nullopt: OS entropy
  std::chrono::milliseconds timeout = default_channel_timeout;  ///< how long a role waits for another
};

namespace detail {
/// The error a run reports: the first one, unless it is a disconnection and another role's error
/// (the likely cause) comes later.
struct FirstError {
  std::mutex m;
  std::exception_ptr first;
  static bool disconnection(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const disconnected_error&) {
      return true;
    } catch (...) {
      return false;
    }
  }
  void set(std::exception_ptr e) {
    std::lock_guard g(m);
    if (!first || (disconnection(first) && !disconnection(e))) first = e;
  }
};
inline Seed seed_for(const RunOptions& o, std::uint64_t role) {
  return o.seed ? Seed::from_test_seed(*o.seed).derive("role", role) : Seed::from_os();
}
}  // namespace detail

/// Runs f(ctx) for both parties, with a dealer, in one process. Returns both parties' statistics.
template <class Suite = Basic<>, class F>
std::array<Stats, 2> run_two_party(const RunOptions& opt, F&& f) {
  auto [p0, p1] = MemoryChannel::make_pair(opt.timeout);
  auto [d0, p0d] = MemoryChannel::make_pair(opt.timeout);
  auto [d1, p1d] = MemoryChannel::make_pair(opt.timeout);
  detail::FirstError err;
  std::array<Stats, 2> stats;
  auto party_main = [&]<int I>(Party<I>, MemoryChannel& peer, MemoryChannel& dealer_ch) {
    try {
      MemoryContext<Party<I>, Suite> ctx(peer, DealerClient<Party<I>, MemoryChannel>(dealer_ch), detail::seed_for(opt, I));
      f(ctx);
      ctx.finish();
      stats[I] = ctx.stats();
    } catch (...) {
      err.set(std::current_exception());
      peer.close();
      dealer_ch.close();
    }
  };
  std::thread dealer([&] {
    try {
      BasicDealer<> d(detail::seed_for(opt, 2));
      d.serve(d0, d1);
    } catch (...) {
      err.set(std::current_exception());
      d0.close();
      d1.close();
    }
  });
  std::thread t1([&] { party_main(Party<1>{}, p1, p1d); });
  party_main(Party<0>{}, p0, p0d);
  t1.join();
  dealer.join();
  if (err.first) std::rethrow_exception(err.first);
  return stats;
}

template <class Suite = Basic<>, class F>
std::array<Stats, 2> run_two_party(std::uint64_t seed, F&& f) {
  return run_two_party<Suite>(RunOptions{seed}, std::forward<F>(f));
}

/// Runs f(ctx) once in the plaintext fixed-point simulation. Returns the statistics a party would have.
template <class Suite = Basic<>, class F>
Stats run_solo(const RunOptions& opt, F&& f) {
  NullChannel none;
  SoloContext<Suite> ctx(none, SoloDealer(detail::seed_for(opt, 3)), detail::seed_for(opt, 0));
  f(ctx);
  return ctx.stats();
}
/// Dry run of f (a program that takes only a context): records, in order, the dealer material one
/// run needs. The values computed on the way are meaningless (the material is zero). Give the plan to
/// ctx.preprocess(plan) before running f for real: then the dealer works offline, before the
/// online phase. Costs one plaintext pass of the program's local computation.
template <class Suite = Basic<>, class F>
MaterialPlan plan_material(F&& f) {
  NullChannel none;
  RecordingContext<Suite> ctx(none, RecordingDealer{}, Seed{});
  f(ctx);
  return ctx.dealer().take_plan();
}

template <class Suite = Basic<>, class F>
Stats run_solo(std::uint64_t seed, F&& f) {
  return run_solo<Suite>(RunOptions{seed}, std::forward<F>(f));
}

}  // namespace secformer
