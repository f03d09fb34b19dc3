// secformer/dealer/prg.hpp: the cryptographic pseudo-random generator: AES-128 in counter mode
// (OpenSSL libcrypto, AES-NI where available). Keys come from the operating system (RAND_bytes),
// or, for reproducible tests only, from a 64-bit test seed hashed with SHA-256. Every output word
// is uniform over the ring. Substreams (one per dealer request) use the stream number as the IV.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../config.hpp"

namespace secformer {

struct Seed {
  std::array<std::byte, 16> bytes{};
  friend bool operator==(const Seed&, const Seed&) = default;

  /// A fresh key from the operating system's entropy (through OpenSSL's CSPRNG).
  static Seed from_os() {
    Seed s;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s.bytes.data()), static_cast<int>(s.bytes.size())) != 1)
      throw error("secformer: the operating system's random source failed");
    return s;
  }
  /// A key derived from a 64-bit test seed (reproducible runs; not for deployments).
  static Seed from_test_seed(std::uint64_t seed) { return Seed{}.derive("secformer test seed", seed); }

  /// An independent key for another purpose: SHA-256(key || label || index), first 16 bytes.
  Seed derive(std::string_view label, std::uint64_t index) const {
    std::array<unsigned char, 16 + 64 + 8> in{};
    std::memcpy(in.data(), bytes.data(), 16);
    std::memcpy(in.data() + 16, label.data(), label.size() < 64 ? label.size() : 64);
    for (int i = 0; i < 8; ++i) in[80 + i] = static_cast<unsigned char>(index >> (8 * i));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr) != 1) throw error("secformer: SHA-256 failed");
    Seed s;
    std::memcpy(s.bytes.data(), md, 16);
    return s;
  }
};

class Prg {
 public:
  explicit Prg(const Seed& key, std::uint64_t stream = 0) : ctx_(EVP_CIPHER_CTX_new()) {
    if (!ctx_) throw error("secformer: cannot allocate an AES context");
    unsigned char iv[16] = {};
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<unsigned char>(stream >> (56 - 8 * i));  // high half: stream
    if (EVP_EncryptInit_ex(ctx_.get(), EVP_aes_128_ctr(), nullptr,
                           reinterpret_cast<const unsigned char*>(key.bytes.data()), iv) != 1)
      throw error("secformer: AES-CTR initialisation failed");
  }

  /// Keystream bytes into out (encrypted from a small zero block: no pass over out beforehand).
  void fill_bytes(std::span<std::byte> out) {
    static constexpr unsigned char zeros[block_bytes] = {};
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    std::size_t left = out.size();
    while (left > 0) {
      const int chunk = static_cast<int>(left < block_bytes ? left : block_bytes);
      int outl = 0;
      if (EVP_EncryptUpdate(ctx_.get(), p, &outl, zeros, chunk) != 1 || outl != chunk)
        throw error("secformer: AES-CTR keystream failed");
      p += chunk;
      left -= static_cast<std::size_t>(chunk);
    }
  }

  /// out[i] = op(out[i], keystream word i) for every word, without materialising the keystream
  /// (the dealer adds, subtracts or xors a party's stream into a buffer in one pass).
  template <class W, class Op>
    requires std::is_trivially_copyable_v<W>
  void combine(std::span<W> out, Op op) {
    constexpr std::size_t per = block_bytes / sizeof(W);
    W ks[per];
    for (std::size_t at = 0; at < out.size(); at += per) {
      const std::size_t n = out.size() - at < per ? out.size() - at : per;
      fill_bytes(std::as_writable_bytes(std::span<W>(ks, n)));
      W* o = out.data() + at;
      for (std::size_t i = 0; i < n; ++i) o[i] = op(o[i], ks[i]);
    }
  }

  template <class W>
    requires std::is_trivially_copyable_v<W>
  void fill(std::span<W> out) {
    fill_bytes(std::as_writable_bytes(out));
  }

  template <class W>
  W next() {
    W w;
    fill(std::span<W>(&w, 1));
    return w;
  }

 private:
  static constexpr std::size_t block_bytes = 16384;
  struct Free { void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); } };
  std::unique_ptr<EVP_CIPHER_CTX, Free> ctx_;
};

}  // namespace secformer
