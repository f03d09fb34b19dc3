// secformer/dealer/dealer.hpp: the dealer role and the parties' clients of it.
//
// Setup: the dealer draws a master key from the OS, derives one key per party and sends each party
// its key (16 bytes, the only dealer traffic party 0 ever sees). Online, party 1 asks for material
// (kind, word size, parameters, request index) and receives the corrections of the derived parts;
// party 0 expands all of its material locally from its key with the same request index. Both parties
// must request the same material in the same order (they run the same program).
//
// Wire format (little-endian): request = u32 magic, u32 count, then per item u64 index, u32 kind,
// u32 word bits, u32 parameter count, u64 parameters...; count 0 ends the session. The answer is the
// concatenation of the items' corrections.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>

#include "../channel/channel.hpp"
#include "../core/party.hpp"
#include "compare_material.hpp"
#include "fourier_material.hpp"
#include "gelu_material.hpp"
#include "layernorm_material.hpp"
#include "material.hpp"
#include "matmul_material.hpp"
#include "mul_material.hpp"
#include "prg.hpp"
#include "trunc_material.hpp"

namespace secformer::material {

// ---------------------------------------------------------------------------------------------
// The generic engine: how any kind is made (material.hpp).

template <class W>
Parts<W> make_parts(const std::vector<Shape>& shapes) {
  Parts<W> out;
  out.reserve(shapes.size());
  for (auto& s : shapes) out.emplace_back(s);
  return out;
}

template <class W>
void fill_from(Prg& prg, Parts<W>& parts) {
  for (auto& t : parts) prg.fill(std::span<W>(t.data(), t.size()));
}

/// Party 0's shares (randoms then derived), all from its stream.
template <class W>
Parts<W> expand_p0(const Layout& lay, const Seed& key, std::uint64_t index) {
  Prg prg(key, index);
  auto r = make_parts<W>(lay.randoms);
  auto d = make_parts<W>(lay.derived);
  fill_from(prg, r);
  fill_from(prg, d);
  for (auto& t : d) r.push_back(std::move(t));
  return r;
}

/// Party 1's random shares from its stream (derived ones arrive from the dealer).
template <class W>
Parts<W> expand_p1_randoms(const Layout& lay, const Seed& key, std::uint64_t index) {
  Prg prg(key, index);
  auto r = make_parts<W>(lay.randoms);
  fill_from(prg, r);
  return r;
}

/// The dealer's work for one request: returns party 1's corrections (derived components). The
/// parties' streams are folded into the buffers as they are generated: the whole randoms are party
/// 0's stream plus party 1's, the corrections are the derived values minus (xor) party 0's stream.
template <class Kind, class W>
Parts<W> deal(std::span<const std::uint64_t> params, const Seed& key0, const Seed& key1, std::uint64_t index, State& st) {
  const Layout lay = Kind::layout(params);
  Prg g0(key0, index), g1(key1, index);
  auto full = make_parts<W>(lay.randoms);
  fill_from(g0, full);
  for (auto& t : full) g1.combine(std::span<W>(t.data(), t.size()), [](W a, W b) { return static_cast<W>(a + b); });
  auto d = make_parts<W>(lay.derived);
  st.key0 = &key0;
  st.key1 = &key1;
  st.index = index;
  Kind::template derive<W>(params, full, d, st);
  st.key0 = st.key1 = nullptr;
  for (std::size_t j = 0; j < d.size(); ++j) {
    const std::span<W> dj(d[j].data(), d[j].size());
    if (lay.is_xor(j)) g0.combine(dj, [](W a, W b) { return static_cast<W>(a ^ b); });
    else g0.combine(dj, [](W a, W b) { return static_cast<W>(a - b); });
  }
  return d;
}

/// Whole material for the plaintext simulation (the peer's shares are zero).
template <class Kind, class W>
Parts<W> deal_whole(std::span<const std::uint64_t> params, Prg& prg, State& st) {
  const Layout lay = Kind::layout(params);
  auto r = make_parts<W>(lay.randoms);
  fill_from(prg, r);
  auto d = make_parts<W>(lay.derived);
  Kind::template derive<W>(params, r, d, st);
  for (auto& t : d) r.push_back(std::move(t));
  return r;
}

}  // namespace secformer::material

namespace secformer {

namespace dealer_wire {
inline constexpr std::uint32_t magic = 0x53464452;  // "SFDR"
inline constexpr std::size_t max_request_bytes = std::size_t(1) << 20;

inline void put32(std::vector<std::byte>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline void put64(std::vector<std::byte>& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
class In {
 public:
  explicit In(std::span<const std::byte> b) : b_(b) {}
  std::uint64_t get(int bytes) {
    if (at_ + static_cast<std::size_t>(bytes) > b_.size()) throw channel_error("secformer: truncated dealer message");
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::to_integer<unsigned>(b_[at_ + i])) << (8 * i);
    at_ += static_cast<std::size_t>(bytes);
    return v;
  }
  bool done() const { return at_ == b_.size(); }
 private:
  std::span<const std::byte> b_;
  std::size_t at_ = 0;
};
}  // namespace dealer_wire

using DefaultKinds = material::KindList<material::Triple, material::SquarePair, material::MatTriple,
                                        material::TruncPair, material::WeightMask, material::FixedMatTriple,
                                        material::FourierMask, material::FourierGeluMask, material::GeluMaterial,
                                        material::MaskedCompareMaterial, material::CrypTenCompareMaterial,
                                        material::RsqrtBracketMaterial, material::SquareColTriple>;

/// The dealer role. serve() runs one session with the two parties and returns when party 1 ends it.
template <class Kinds = DefaultKinds>
class BasicDealer {
 public:
  explicit BasicDealer(Seed master = Seed::from_os()) : key0_(master.derive("dealer key", 0)), key1_(master.derive("dealer key", 1)) {}

  template <byte_channel C0, byte_channel C1>
  void serve(C0& to_p0, C1& to_p1) {
    to_p0.send(std::as_bytes(std::span(key0_.bytes)));
    to_p1.send(std::as_bytes(std::span(key1_.bytes)));
    std::uint64_t next = 0;
    for (;;) {
      const auto msg = to_p1.recv_message(dealer_wire::max_request_bytes);
      dealer_wire::In in(msg);
      if (in.get(4) != dealer_wire::magic) throw channel_error("secformer: malformed dealer request (bad magic)");
      const auto count = in.get(4);
      if (count == 0) return;
      std::vector<std::byte> answer;
      answer.reserve(answer_hint_);
      for (std::uint64_t i = 0; i < count; ++i) {
        const auto index = in.get(8);
        const auto kind = static_cast<std::uint32_t>(in.get(4));
        const auto bits = static_cast<std::uint32_t>(in.get(4));
        const auto np = in.get(4);
        if (np > 64) throw channel_error("secformer: malformed dealer request (parameters)");
        std::vector<std::uint64_t> params(np);
        for (auto& p : params) p = in.get(8);
        if (index != next) throw channel_error("secformer: dealer requests out of order");
        ++next;
        bool known = false;
        auto one = [&]<class K>() {
          known = true;
          if (bits == 64) append(answer, material::deal<K, std::uint64_t>(params, key0_, key1_, index, state_));
          else if (bits == 32) append(answer, material::deal<K, std::uint32_t>(params, key0_, key1_, index, state_));
          else throw channel_error("secformer: dealer request for an unsupported ring");
        };
        material::dispatch(Kinds{}, kind, one);
        if (!known) throw channel_error("secformer: dealer request of unknown kind " + std::to_string(kind));
      }
      if (!in.done()) throw channel_error("secformer: malformed dealer request (trailing bytes)");
      answer_hint_ = std::max(answer_hint_, answer.size());
      send_owned(to_p1, std::move(answer));
    }
  }

 private:
  template <class W>
  static void append(std::vector<std::byte>& out, const material::Parts<W>& parts) {
    std::size_t bytes = 0;
    for (const auto& t : parts) bytes += t.size() * sizeof(W);
    if (out.size() + bytes > out.capacity()) out.reserve(std::max(out.size() + bytes, 2 * out.capacity()));
    for (const auto& t : parts) {
      const auto* p = reinterpret_cast<const std::byte*>(t.data());
      out.insert(out.end(), p, p + t.size() * sizeof(W));
    }
  }
  Seed key0_, key1_;
  material::State state_;
  std::size_t answer_hint_ = 0;  ///< the largest answer so far: later answers reserve it at once
};
using Dealer = BasicDealer<>;

/// A party's view of the dealer. Party 0 only reads its key from the channel; party 1 also asks
/// for corrections. get() returns this party's shares of the randoms, then of the derived parts.
/// prefetch(plan) is the offline phase: all material of a planned run is fetched (party 1: in a few
/// large batches) and expanded before the online phase, whose get() calls then only check that they
/// ask for what was planned, in order.
template <party_tag P, byte_channel DC, class Kinds = DefaultKinds>
class DealerClient {
  static_assert(!P::is_solo, "secformer: the simulation uses SoloDealer");
  using Stored = std::variant<material::Parts<std::uint32_t>, material::Parts<std::uint64_t>>;

 public:
  /// Answers of one batch are kept below this size (bytes), so that no frame gets too large.
  static constexpr std::size_t max_batch_answer = std::size_t(64) << 20;

  explicit DealerClient(DC& ch) : ch_(&ch) {
    ch_->recv(std::as_writable_bytes(std::span(key_.bytes)));
  }
  DealerClient(DealerClient&&) noexcept = default;
  DealerClient(const DealerClient&) = delete;

  template <class Kind, class W>
  material::Parts<W> get(const material::Params& params, Cost& cost) {
    cost.dealer_requests += 1;
    if (!ready_.empty()) {
      auto& [req, parts] = ready_.front();
      if (req.kind != Kind::id || req.word_bits != 8 * sizeof(W) || req.params != params.words)
        throw usage_error("secformer: the online phase asked for dealer material (" + std::string(Kind::name) +
                          ") that the preprocessing plan does not have at this point");
      auto out = std::get<material::Parts<W>>(std::move(parts));
      ready_.pop_front();
      return out;
    }
    const std::uint64_t index = next_++;
    const auto lay = Kind::layout(params.words);
    if constexpr (P::id == 0) {
      return material::expand_p0<W>(lay, key_, index);
    } else {
      std::vector<std::byte> req;
      dealer_wire::put32(req, dealer_wire::magic);
      dealer_wire::put32(req, 1);
      put_item(req, index, MaterialRequest{Kind::id, 8 * sizeof(W), params.words});
      ch_->send(req);
      auto msg = ch_->recv_message(derived_bytes(lay, sizeof(W)));
      cost.dealer_bytes += msg.size();
      std::size_t at = 0;
      return assemble<W>(lay, index, msg, at);
    }
  }

  /// The offline phase: fetches and expands all material of `plan`. Party 1 asks for the next
  /// batch before it unpacks the current one, so the dealer works while it unpacks.
  void prefetch(std::span<const MaterialRequest> plan, Cost& cost) {
    struct Batch {
      std::size_t first, last, answer;
      std::vector<std::byte> request;
    };
    std::vector<Batch> batches;
    for (std::size_t i = 0, index = next_; i < plan.size();) {
      Batch b{i, i, 0, {}};
      dealer_wire::put32(b.request, dealer_wire::magic);
      dealer_wire::put32(b.request, 0);  // count, patched below
      for (; b.last < plan.size(); ++b.last) {
        const std::size_t bytes = derived_bytes(layout_of(plan[b.last]), plan[b.last].word_bits / 8);
        if (b.last > i && (b.answer + bytes > max_batch_answer || b.request.size() > dealer_wire::max_request_bytes / 2)) break;
        b.answer += bytes;
        put_item(b.request, index++, plan[b.last]);
      }
      const std::uint32_t count = static_cast<std::uint32_t>(b.last - i);
      for (int k = 0; k < 4; ++k) b.request[4 + k] = static_cast<std::byte>(count >> (8 * k));
      i = b.last;
      batches.push_back(std::move(b));
    }
    if constexpr (P::id == 1) {
      if (!batches.empty()) ch_->send(batches[0].request);
    }
    for (std::size_t bi = 0; bi < batches.size(); ++bi) {
      const Batch& b = batches[bi];
      std::vector<std::byte> msg;
      if constexpr (P::id == 1) {
        if (bi + 1 < batches.size()) ch_->send(batches[bi + 1].request);
        msg = ch_->recv_message(b.answer);
        if (msg.size() != b.answer) throw channel_error("secformer: dealer answer of the wrong size");
        cost.dealer_bytes += msg.size();
      }
      std::size_t at = 0;
      for (std::size_t k = b.first; k < b.last; ++k) {
        const std::uint64_t index = next_++;
        const auto& r = plan[k];
        const auto lay = layout_of(r);
        if (r.word_bits == 64) ready_.emplace_back(r, make<std::uint64_t>(lay, index, msg, at));
        else ready_.emplace_back(r, make<std::uint32_t>(lay, index, msg, at));
      }
    }
  }

  /// Material fetched by prefetch and not used yet.
  std::size_t pending() const noexcept { return ready_.size(); }

  /// Ends the dealer's session (party 1 only; party 0 has nothing to say).
  void finish() {
    if constexpr (P::id == 1) {
      std::vector<std::byte> req;
      dealer_wire::put32(req, dealer_wire::magic);
      dealer_wire::put32(req, 0);
      ch_->send(req);
    }
  }

 private:
  static material::Layout layout_of(const MaterialRequest& r) {
    material::Layout lay;
    if (!material::dispatch(Kinds{}, r.kind, [&]<class K>() { lay = K::layout(r.params); }))
      throw usage_error("secformer: a plan names unknown dealer material " + std::to_string(r.kind));
    if (r.word_bits != 32 && r.word_bits != 64) throw usage_error("secformer: a plan names an unsupported ring");
    return lay;
  }
  static std::size_t derived_bytes(const material::Layout& lay, std::size_t word) {
    std::size_t total = 0;
    for (auto& s : lay.derived) total += material::elements(s);
    return total * word;
  }
  static void put_item(std::vector<std::byte>& req, std::uint64_t index, const MaterialRequest& r) {
    dealer_wire::put64(req, index);
    dealer_wire::put32(req, r.kind);
    dealer_wire::put32(req, r.word_bits);
    dealer_wire::put32(req, static_cast<std::uint32_t>(r.params.size()));
    for (auto w : r.params) dealer_wire::put64(req, w);
  }
  template <class W>
  material::Parts<W> make(const material::Layout& lay, std::uint64_t index, const std::vector<std::byte>& msg, std::size_t& at) {
    if constexpr (P::id == 0) return material::expand_p0<W>(lay, key_, index);
    else return assemble<W>(lay, index, msg, at);
  }
  /// Party 1: its randoms from its stream, its derived parts from the dealer's message.
  template <class W>
  material::Parts<W> assemble(const material::Layout& lay, std::uint64_t index, const std::vector<std::byte>& msg, std::size_t& at) {
    auto parts = material::expand_p1_randoms<W>(lay, key_, index);
    for (auto& s : lay.derived) {
      xt::xarray<W> t(s);
      const std::size_t bytes = t.size() * sizeof(W);
      if (at + bytes > msg.size()) throw channel_error("secformer: dealer answer of the wrong size");
      if (bytes) std::memcpy(t.data(), msg.data() + at, bytes);
      at += bytes;
      parts.push_back(std::move(t));
    }
    return parts;
  }

  DC* ch_;
  Seed key_;
  std::uint64_t next_ = 0;
  std::deque<std::pair<MaterialRequest, Stored>> ready_;
};

/// A dealer for dry runs: records what a program asks for and hands out zeros (plan_material).
class RecordingDealer {
 public:
  template <class Kind, class W>
  material::Parts<W> get(const material::Params& params, Cost& cost) {
    cost.dealer_requests += 1;
    plan_.push_back(MaterialRequest{Kind::id, 8 * sizeof(W), params.words});
    const auto lay = Kind::layout(params.words);
    auto parts = material::make_parts<W>(lay.randoms);
    for (auto& s : lay.derived) parts.emplace_back(xt::zeros<W>(s));
    for (auto& t : parts) t.fill(W(0));
    return parts;
  }
  void finish() {}
  const MaterialPlan& plan() const noexcept { return plan_; }
  MaterialPlan take_plan() noexcept { return std::move(plan_); }
 private:
  MaterialPlan plan_;
};

/// The simulation's dealer: whole material from a local PRG (the peer's shares are zero).
class SoloDealer {
 public:
  explicit SoloDealer(Seed key = Seed::from_os()) : prg_(key, 0) {}
  template <class Kind, class W>
  material::Parts<W> get(const material::Params& params, Cost& cost) {
    cost.dealer_requests += 1;
    return material::deal_whole<Kind, W>(params.words, prg_, state_);
  }
  void prefetch(std::span<const MaterialRequest>, Cost&) {}  // nothing to fetch: material is made on demand
  void finish() {}
 private:
  Prg prg_;
  material::State state_;
};

}  // namespace secformer
