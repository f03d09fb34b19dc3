// secformer/channel/tcp.hpp: a byte channel over TCP, optionally inside TLS with mutual certificate
// authentication (standalone Asio and its SSL stream over OpenSSL). With channel/tls.hpp the only
// headers of the library that include Asio; not part of the umbrella header.
//
// Wire format (channel/frame.hpp): every message is one frame, an 8-byte little-endian payload length
// followed by the payload. A length above TcpOptions::max_frame_bytes (or above the caller's limit)
// is rejected before any allocation. With TcpOptions::tls enabled, frames travel inside TLS 1.2+;
// the handshake runs inside connect()/accept() (deadline connect_timeout) and a peer whose
// certificate is missing, not signed by the CA or (with tls.peer_name) not of the expected name is
// refused with a channel_error saying so.
//
// Each channel owns a private asio::io_context and drives it from the calling thread only: send,
// recv and exchange start asynchronous operations and run the context until they finish or the
// operation's deadline (TcpOptions::timeout) passes. exchange() sends and receives at the same time,
// so two parties exchanging large messages never deadlock. TCP_NODELAY is on by default.
//
// Errors: every failure (timeout, peer disconnect, malformed or oversized frame, a frame whose size
// differs from the receive buffer) throws secformer::channel_error and closes the channel; the
// stream cannot be resynchronised, so every later call throws too. Messages name sizes, addresses
// and causes only, never payload bytes. A channel is used by one thread at a time.
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "channel.hpp"
#include "frame.hpp"
#include "tls.hpp"

namespace secformer {

/// Settings of a TCP channel and of a listener.
struct TcpOptions {
  /// Deadline of each blocking operation (send, recv, recv_message, exchange), measured from its start.
  std::chrono::milliseconds timeout = default_channel_timeout;
  /// Deadline for establishing the connection (connect keeps retrying until then; accept waits until then).
  std::chrono::milliseconds connect_timeout = default_channel_timeout;
  /// Largest payload accepted from the peer; a larger length prefix is rejected before allocating.
  std::uint64_t max_frame_bytes = std::uint64_t{1} << 30;
  /// Address a listener binds to.
  std::string bind_address = "127.0.0.1";
  /// Disable Nagle's algorithm (small-message latency).
  bool no_delay = true;
  /// SO_SNDBUF and SO_RCVBUF when positive; the operating system's default otherwise.
  int socket_buffer_bytes = 0;
  /// TLS with mutual authentication; plain TCP when no file is set.
  TlsOptions tls{};
};

namespace detail::tcp {
/// Untrusted text for an error message: printable ASCII as is, every other byte as \xNN, at most 80 bytes.
inline std::string escaped(std::string_view s) {
  std::string out;
  const char* d = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
    else out += std::string("\\x") + d[c >> 4] + d[c & 15];
  }
  if (s.size() > 80) out += "...";
  return out;
}
}  // namespace detail::tcp

/// Where a role listens or connects: a host name or address and a port.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  /// "host:port", or "[v6 address]:port".
  std::string str() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};

/// Parses "HOST:PORT", "A.B.C.D:PORT" or "[IPv6]:PORT" (e.g. "[::1]:7400"). The port must be 1..65535;
/// a host is a name (letters, digits, '.', '-', '_'), an IPv4 address or a bracketed IPv6 address.
/// Throws usage_error naming what is wrong (the text echoed escaped).
inline Endpoint parse_endpoint(std::string_view s) {
  auto bad = [&](const std::string& why) {
    return usage_error("secformer: invalid endpoint '" + detail::tcp::escaped(s) + "': " + why +
                       " (expected HOST:PORT, A.B.C.D:PORT or [IPv6]:PORT)");
  };
  Endpoint e;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) throw bad("no ']' after the IPv6 address");
    e.host = std::string(s.substr(1, close - 1));
    if (close + 1 >= s.size() || s[close + 1] != ':') throw bad("no ':PORT' after ']'");
    port = s.substr(close + 2);
    asio::error_code ec;
    (void)asio::ip::make_address_v6(e.host, ec);
    if (ec || e.host.empty()) throw bad("not an IPv6 address inside the brackets");
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) throw bad("no port");
    e.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (e.host.find(':') != std::string::npos) throw bad("an IPv6 address needs brackets, e.g. [::1]:7400");
    if (e.host.empty()) throw bad("no host");
    for (char c : e.host)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
        throw bad("the host may hold letters, digits, '.', '-' and '_' only");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) throw bad("the port is not a number");
  const unsigned long p = std::stoul(std::string(port));
  if (p == 0 || p > 65535) throw bad("the port must be 1..65535");
  e.port = static_cast<std::uint16_t>(p);
  return e;
}

/// Whether a host names this machine's loopback interface only: 127.0.0.0/8, ::1 (also IPv4-mapped)
/// or "localhost". Any other name counts as remote (it is not resolved here).
inline bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  asio::error_code ec;
  const auto a = asio::ip::make_address(std::string(host), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

namespace detail::tcp {

inline constexpr std::size_t header_bytes = frame::header_bytes;
inline constexpr std::size_t max_io_chunk = std::size_t{1} << 28;  // bytes handed to one system call
inline constexpr std::size_t tls_coalesce_bytes = 16384;           // small TLS frames go out as one record
using clock = std::chrono::steady_clock;
using frame::get_le64;
using frame::put_le64;
using tls_stream = asio::ssl::stream<asio::ip::tcp::socket&>;

inline bool is_disconnect(const asio::error_code& ec) noexcept {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::error::not_connected || ec == asio::error::shut_down ||
         ec == asio::ssl::error::stream_truncated;
}

/// The stream an operation uses: the socket, or the TLS stream over it.
struct Io {
  asio::ip::tcp::socket& sock;
  tls_stream* tls = nullptr;
  template <class Buffers, class Handler>
  void write_some(const Buffers& b, Handler&& h) {
    if (tls) tls->async_write_some(b, std::forward<Handler>(h));
    else sock.async_write_some(b, std::forward<Handler>(h));
  }
  template <class Buffers, class Handler>
  void read_some(const Buffers& b, Handler&& h) {
    if (tls) tls->async_read_some(b, std::forward<Handler>(h));
    else sock.async_read_some(b, std::forward<Handler>(h));
  }
};

inline std::string ms(std::chrono::milliseconds t) { return std::to_string(t.count()) + " ms"; }

/// Why an operation failed. The first failure wins; the socket is closed at once so that the other
/// half of an exchange stops too.
struct Failure {
  enum Kind { none, timeout, disconnected, io, oversized, mismatch } kind = none;
  bool while_sending = false;
  asio::error_code ec;
  std::uint64_t announced = 0;  // frame length announced by the peer (oversized, mismatch)
  std::uint64_t limit = 0;      // the limit or the expected size
};

inline void fail(asio::ip::tcp::socket& sock, Failure& f, Failure::Kind k, bool sending, asio::error_code ec = {}) {
  if (f.kind == Failure::none) {
    f.kind = k;
    f.while_sending = sending;
    f.ec = ec;
  }
  asio::error_code ignored;
  sock.close(ignored);
}

/// Writes one frame (header and payload gathered into the same system calls).
class FrameWriter {
 public:
  FrameWriter(Io io, std::span<const std::byte> payload, Failure& f) : io_(io), payload_(payload), f_(f) {
    put_le64(header_.data(), payload.size());
    // A TLS stream writes only the first buffer of a sequence: stage small frames as one record.
    if (io_.tls && payload.size() <= tls_coalesce_bytes) {
      staged_.assign(header_.begin(), header_.end());
      staged_.insert(staged_.end(), payload.begin(), payload.end());
    }
  }
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  void start() {
    std::array<asio::const_buffer, 2> bufs;
    if (!staged_.empty()) {
      bufs[0] = asio::const_buffer(staged_.data() + done_, staged_.size() - done_);
    } else if (done_ < header_bytes) {
      bufs[0] = asio::const_buffer(header_.data() + done_, header_bytes - done_);
      bufs[1] = asio::const_buffer(payload_.data(), std::min(payload_.size(), max_io_chunk));
    } else {
      const std::size_t off = done_ - header_bytes;
      bufs[0] = asio::const_buffer(payload_.data() + off, std::min(payload_.size() - off, max_io_chunk));
    }
    io_.write_some(bufs, [this](const asio::error_code& ec, std::size_t n) { on_write(ec, n); });
  }
  bool finished() const noexcept { return finished_; }
  bool complete() const noexcept { return done_ == total(); }
  std::size_t total() const noexcept { return header_bytes + payload_.size(); }
  std::size_t transferred() const noexcept { return done_; }

 private:
  void on_write(const asio::error_code& ec, std::size_t n) {
    done_ += n;
    if (ec) {
      finished_ = true;
      if (ec == asio::error::operation_aborted) fail(io_.sock, f_, Failure::io, true, ec);  // no-op if a cause is known
      else fail(io_.sock, f_, is_disconnect(ec) ? Failure::disconnected : Failure::io, true, ec);
      return;
    }
    if (done_ == total()) { finished_ = true; return; }
    start();
  }

  Io io_;
  std::span<const std::byte> payload_;
  Failure& f_;
  std::array<std::byte, header_bytes> header_{};
  std::vector<std::byte> staged_;
  std::size_t done_ = 0;
  bool finished_ = false;
};

/// Reads one frame, either into a caller's buffer of the expected size (header and payload
/// scattered by the same system calls) or into a vector allocated once the length is known and checked.
class FrameReader {
 public:
  /// Fixed-size mode: the frame must hold exactly target.size() bytes.
  FrameReader(Io io, std::span<std::byte> target, std::uint64_t max_frame, Failure& f)
      : io_(io), target_(target), vec_(nullptr), limit_(max_frame), f_(f) {}
  /// Vector mode: any length up to limit.
  FrameReader(Io io, std::vector<std::byte>& out, std::uint64_t limit, Failure& f)
      : io_(io), vec_(&out), limit_(limit), f_(f) {}
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  void start() {
    std::array<asio::mutable_buffer, 2> bufs;
    if (got_ < header_bytes) {
      bufs[0] = asio::mutable_buffer(header_.data() + got_, header_bytes - got_);
      if (!vec_ && !io_.tls) bufs[1] = asio::mutable_buffer(target_.data(), std::min(target_.size(), max_io_chunk));
    } else {
      const std::size_t off = got_ - header_bytes;
      bufs[0] = asio::mutable_buffer(target_.data() + off, std::min<std::size_t>(len_ - off, max_io_chunk));
    }
    io_.read_some(bufs, [this](const asio::error_code& ec, std::size_t n) { on_read(ec, n); });
  }
  bool finished() const noexcept { return finished_; }
  bool complete() const noexcept { return have_len_ && got_ == header_bytes + len_; }
  std::size_t transferred() const noexcept { return got_; }
  bool has_length() const noexcept { return have_len_; }
  std::uint64_t length() const noexcept { return len_; }

 private:
  void on_read(const asio::error_code& ec, std::size_t n) {
    got_ += n;
    if (!have_len_ && got_ >= header_bytes && !check_header()) { finished_ = true; return; }
    if (ec) {
      finished_ = true;
      if (ec == asio::error::operation_aborted) fail(io_.sock, f_, Failure::io, false, ec);
      else fail(io_.sock, f_, is_disconnect(ec) ? Failure::disconnected : Failure::io, false, ec);
      return;
    }
    if (complete()) { finished_ = true; return; }
    start();
  }

  bool check_header() {
    const auto c = frame::check_header(std::span<const std::byte, header_bytes>(header_), limit_,
                                       vec_ ? -1 : static_cast<std::int64_t>(target_.size()));
    len_ = c.length;
    have_len_ = true;
    if (c.verdict != frame::HeaderCheck::ok) {
      if (f_.kind == Failure::none) { f_.announced = c.length; f_.limit = c.limit; }
      fail(io_.sock, f_, c.verdict == frame::HeaderCheck::oversized ? Failure::oversized : Failure::mismatch, false);
      return false;
    }
    if (vec_) {
      vec_->resize(static_cast<std::size_t>(len_));  // bounded by limit_
      target_ = std::span<std::byte>(vec_->data(), vec_->size());
    }
    return true;
  }

  Io io_;
  std::span<std::byte> target_;
  std::vector<std::byte>* vec_;
  std::uint64_t limit_;
  Failure& f_;
  std::array<std::byte, header_bytes> header_{};
  std::size_t got_ = 0;
  std::uint64_t len_ = 0;
  bool have_len_ = false;
  bool finished_ = false;
};

}  // namespace detail::tcp

class TcpListener;
class TcpChannel;
namespace detail::tcp {
struct TestAccess;
}

/// One party's end of a TCP connection to its peer. Move-only; the destructor closes the socket.
class TcpChannel {
 public:
  using Options = TcpOptions;

  /// Connects to host:port, retrying (every 20 ms) until options.connect_timeout passes, so the
  /// peer may start listening later. Throws channel_error when no connection could be made.
  static TcpChannel connect(const std::string& host, std::uint16_t port, Options options = {});
  /// Listens on options.bind_address:port and accepts one connection (waits up to options.connect_timeout).
  static TcpChannel accept(std::uint16_t port, Options options = {});

  TcpChannel(TcpChannel&&) noexcept = default;
  TcpChannel& operator=(TcpChannel&&) noexcept = default;
  TcpChannel(const TcpChannel&) = delete;
  TcpChannel& operator=(const TcpChannel&) = delete;
  ~TcpChannel() { close(); }

  /// Sends one message. Returns once it is handed to the kernel, which may be before the peer reads
  /// it; two parties that both send large messages before receiving should use exchange().
  void send(std::span<const std::byte> msg) {
    State& st = open_state("send");
    detail::tcp::Failure f;
    detail::tcp::FrameWriter w(st.io(), msg, f);
    w.start();
    drive(st, [&] { return w.finished(); }, f);
    if (f.kind != detail::tcp::Failure::none)
      throw_failure(st, f, "while sending a message of " + std::to_string(msg.size()) + " bytes (sent " +
                               std::to_string(w.transferred()) + " of " + std::to_string(w.total()) + " frame bytes)");
    st.sent += msg.size();
  }

  /// Receives one message, which must hold exactly out.size() bytes.
  void recv(std::span<std::byte> out) {
    State& st = open_state("recv");
    detail::tcp::Failure f;
    detail::tcp::FrameReader r(st.io(), out, st.opt.max_frame_bytes, f);
    r.start();
    drive(st, [&] { return r.finished(); }, f);
    if (f.kind != detail::tcp::Failure::none) throw_failure(st, f, "while " + receiving(r, out.size()));
    st.received += out.size();
  }

  /// Receives one message of any size up to min(max_bytes, options.max_frame_bytes).
  std::vector<std::byte> recv_message(std::size_t max_bytes) {
    State& st = open_state("recv_message");
    std::vector<std::byte> msg;
    detail::tcp::Failure f;
    detail::tcp::FrameReader r(st.io(), msg, std::min<std::uint64_t>(max_bytes, st.opt.max_frame_bytes), f);
    r.start();
    drive(st, [&] { return r.finished(); }, f);
    if (f.kind != detail::tcp::Failure::none) throw_failure(st, f, "while " + receiving(r, 0));
    st.received += msg.size();
    return msg;
  }

  /// Sends `out` and receives a message of exactly in.size() bytes, both at the same time.
  void exchange(std::span<const std::byte> out, std::span<std::byte> in) {
    State& st = open_state("exchange");
    detail::tcp::Failure f;
    detail::tcp::FrameWriter w(st.io(), out, f);
    detail::tcp::FrameReader r(st.io(), in, st.opt.max_frame_bytes, f);
    w.start();
    r.start();
    drive(st, [&] { return w.finished() && r.finished(); }, f);
    if (f.kind != detail::tcp::Failure::none)
      throw_failure(st, f, "during an exchange (sent " + std::to_string(w.transferred()) + " of " + std::to_string(w.total()) +
                               " frame bytes; " + receiving(r, in.size()) + ")");
    st.sent += out.size();
    st.received += in.size();
  }

  /// Closes the connection. Idempotent; later operations throw channel_error.
  void close() noexcept {
    if (!st_) return;
    asio::error_code ignored;
    st_->sock.close(ignored);
  }

  bool is_open() const noexcept { return st_ && st_->sock.is_open(); }
  void set_timeout(std::chrono::milliseconds t) noexcept { if (st_) st_->opt.timeout = t; }
  std::chrono::milliseconds timeout() const noexcept { return st_ ? st_->opt.timeout : default_channel_timeout; }
  /// Payload bytes sent and received by completed operations (frame headers not included).
  std::uint64_t bytes_sent() const noexcept { return st_ ? st_->sent : 0; }
  std::uint64_t bytes_received() const noexcept { return st_ ? st_->received : 0; }
  /// Whether the connection runs inside TLS.
  bool is_tls() const noexcept { return st_ && st_->tls; }
  /// Whether the peer's (CA-verified) TLS certificate carries `name` (CN or subjectAltName); false without TLS.
  bool peer_certificate_names(const std::string& name) const {
    return st_ && st_->tls && detail::tls::peer_has_name(st_->tls->native_handle(), name);
  }
  /// Names this link in every later error ("secformer: <label>: ..."), e.g. "link to the dealer (10.0.0.2:7401)".
  void set_label(std::string label) { if (st_) st_->label = std::move(label); }
  /// The peer's address ("a.b.c.d:port", "[v6]:port"); empty when closed or unknown.
  std::string remote_endpoint() const {
    if (!st_) return "";
    asio::error_code ec;
    const auto ep = st_->sock.remote_endpoint(ec);
    if (ec) return "";
    return Endpoint{ep.address().to_string(), ep.port()}.str();
  }

 private:
  friend class TcpListener;
  friend struct detail::tcp::TestAccess;

  struct State {
    explicit State(Options o) : opt(std::move(o)) {}
    asio::io_context ioc{1};
    asio::ip::tcp::socket sock{ioc};
    Options opt;
    std::shared_ptr<asio::ssl::context> tls_ctx;      // outlives the stream (declared before it)
    std::unique_ptr<detail::tcp::tls_stream> tls;
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::string label;                                // set_label
    detail::tcp::Io io() noexcept { return {sock, tls.get()}; }
  };

  /// Runs the TLS handshake on a connected socket (deadline: connect_timeout) and checks the peer's
  /// name. Throws channel_error explaining a refusal; the socket is closed then.
  static void start_tls(State& st, bool server, const std::string& where) {
    start_tls(st, server, where, detail::tcp::clock::now() + st.opt.connect_timeout);
  }
  static void start_tls(State& st, bool server, const std::string& where, detail::tcp::clock::time_point deadline) {
    if (!st.tls_ctx) return;
    st.tls = std::make_unique<detail::tcp::tls_stream>(st.sock, *st.tls_ctx);
    asio::error_code result = asio::error::timed_out;
    bool done = false;
    st.tls->async_handshake(server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                            [&](const asio::error_code& ec) { result = ec; done = true; });
    st.ioc.restart();
    while (!done && st.ioc.run_one_until(deadline) != 0) {
    }
    if (!done) {
      drain(st);
      throw channel_error("secformer: TLS handshake with " + where + " timed out after " + detail::tcp::ms(st.opt.connect_timeout));
    }
    if (result) {
      asio::error_code ignored;
      st.sock.close(ignored);
      throw channel_error("secformer: TLS handshake with " + where + " failed: " + detail::tls::explain(result));
    }
    if (!st.opt.tls.peer_name.empty() && !detail::tls::peer_has_name(st.tls->native_handle(), st.opt.tls.peer_name)) {
      asio::error_code ignored;
      st.sock.close(ignored);
      throw channel_error("secformer: TLS refused: the peer at " + where + " has a valid certificate, but not for '" +
                          st.opt.tls.peer_name + "'");
    }
  }

  explicit TcpChannel(std::unique_ptr<State> st) : st_(std::move(st)) {}

  static void configure(State& st) {
    asio::error_code ec;
    if (st.opt.no_delay) st.sock.set_option(asio::ip::tcp::no_delay(true), ec);
    if (st.opt.socket_buffer_bytes > 0) {
      st.sock.set_option(asio::socket_base::send_buffer_size(st.opt.socket_buffer_bytes), ec);
      st.sock.set_option(asio::socket_base::receive_buffer_size(st.opt.socket_buffer_bytes), ec);
    }
  }

  static std::string prefix(const State& st) { return st.label.empty() ? "secformer: " : "secformer: " + st.label + ": "; }

  State& open_state(const char* op) {
    if (!st_ || !st_->sock.is_open())
      throw channel_error((st_ ? prefix(*st_) : std::string("secformer: ")) + op + " on a closed TCP channel (closed by close() or by an earlier error)");
    return *st_;
  }

  /// Runs the channel's io_context until done() or the operation deadline. On timeout or on an
  /// exception the socket is closed and the aborted handlers are drained before returning.
  template <class Done>
  static void drive(State& st, Done done, detail::tcp::Failure& f) {
    const auto deadline = detail::tcp::clock::now() + st.opt.timeout;
    st.ioc.restart();
    try {
      while (!done()) {
        if (st.ioc.run_one_until(deadline) == 0 && !done()) {
          detail::tcp::fail(st.sock, f, detail::tcp::Failure::timeout, false);
          break;
        }
      }
    } catch (...) {
      drain(st);
      throw;
    }
    if (!done()) drain(st);
  }

  static void drain(State& st) noexcept {
    asio::error_code ignored;
    st.sock.close(ignored);
    try {
      st.ioc.restart();
      st.ioc.run();
    } catch (...) {
    }
  }

  static std::string receiving(const detail::tcp::FrameReader& r, std::size_t expected) {
    std::string s = "receiving a message";
    if (expected) s += " of " + std::to_string(expected) + " bytes";
    if (r.has_length() && r.length() <= (std::uint64_t{1} << 62))
      s += " (got " + std::to_string(r.transferred()) + " of " + std::to_string(detail::tcp::header_bytes + r.length()) +
           " frame bytes)";
    else
      s += " (got " + std::to_string(r.transferred()) + " bytes)";
    return s;
  }

  [[noreturn]] static void throw_failure(State& st, const detail::tcp::Failure& f, const std::string& what) {
    asio::error_code ignored;
    st.sock.close(ignored);
    const std::string p = prefix(st);
    using K = detail::tcp::Failure;
    switch (f.kind) {
      case K::timeout:
        throw channel_error(p + "timed out after " + detail::tcp::ms(st.opt.timeout) + " " + what +
                            "; the channel is closed");
      case K::disconnected:
        if (detail::tls::is_tls_error(f.ec) && f.ec != asio::ssl::error::stream_truncated)
          throw channel_error(p + detail::tls::explain(f.ec) + " " + what);
        throw disconnected_error(p + "peer disconnected " + what + " (" + f.ec.message() + ")");
      case K::oversized:
        throw channel_error(p + "oversized frame: the peer announced " + std::to_string(f.announced) +
                            " bytes, the limit is " + std::to_string(f.limit) + " bytes; the channel is closed");
      case K::mismatch:
        throw channel_error(p + "expected a message of " + std::to_string(f.limit) + " bytes, got a frame of " +
                            std::to_string(f.announced) + " bytes; the channel is closed");
      default:
        if (detail::tls::is_tls_error(f.ec))
          throw channel_error(p + detail::tls::explain(f.ec) + " " + what);
        throw channel_error(p + "TCP error " + what + ": " + f.ec.message());
    }
  }

  std::unique_ptr<State> st_;
};

static_assert(byte_channel<TcpChannel>);

namespace detail::tcp {
/// For fault-injection tests only: writes raw bytes (no frame header) on the channel's stream.
struct TestAccess {
  static void write_raw(TcpChannel& ch, std::span<const std::byte> bytes) {
    TcpChannel::State& st = ch.open_state("write_raw");
    asio::error_code ec;
    if (st.tls) asio::write(*st.tls, asio::buffer(bytes.data(), bytes.size()), ec);
    else asio::write(st.sock, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) throw channel_error("secformer: raw write failed: " + ec.message());
  }
};
}  // namespace detail::tcp

/// A listening socket. Bind to port 0 to let the system choose a free port, read it with port(),
/// then accept() connections (each waits up to options.connect_timeout).
class TcpListener {
 public:
  explicit TcpListener(std::uint16_t port = 0, TcpOptions options = {}) : st_(std::make_unique<State>(std::move(options))) {
    if (st_->opt.tls.enabled()) st_->tls_ctx = detail::tls::make_context(st_->opt.tls, true);  // bad files fail here
    asio::error_code ec;
    const auto addr = asio::ip::make_address(st_->opt.bind_address, ec);
    if (ec) throw channel_error("secformer: invalid bind address '" + st_->opt.bind_address + "': " + ec.message());
    const asio::ip::tcp::endpoint ep(addr, port);
    auto& a = st_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return;
    throw channel_error("secformer: cannot listen on " + st_->opt.bind_address + ":" + std::to_string(port) + ": " +
                        ec.message());
  }
  TcpListener(TcpListener&&) noexcept = default;
  TcpListener& operator=(TcpListener&&) noexcept = default;
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener() { close(); }

  /// The port actually bound (useful after binding port 0).
  std::uint16_t port() const {
    asio::error_code ec;
    auto ep = st_ ? st_->acceptor.local_endpoint(ec) : asio::ip::tcp::endpoint{};
    if (!st_ || ec) throw channel_error("secformer: the TCP listener is closed");
    return ep.port();
  }

  /// Waits for one connection (up to options.connect_timeout); the channel inherits this listener's options.
  /// A connection that fails the TLS handshake ends the wait with that error (accept_until drops it instead).
  TcpChannel accept() {
    auto ch = accept_socket(detail::tcp::clock::now() + st_->opt.connect_timeout);
    TcpChannel::start_tls(*ch, true, where());
    return TcpChannel(std::move(ch));
  }

  /// Waits until `deadline` for a connection that completes the TLS handshake (plain TCP: any
  /// connection). A connection that fails it (a wrong certificate, plain TCP to a TLS listener, a port
  /// scanner's connect-and-close) is dropped, counted and its reason kept (dropped(), note_dropped),
  /// and the wait goes on. The timeout's error names the last dropped connection's reason.
  TcpChannel accept_until(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      auto ch = accept_socket(deadline);
      try {
        TcpChannel::start_tls(*ch, true, where(), deadline);
      } catch (const channel_error& e) {
        note_dropped(e.what());
        continue;
      }
      return TcpChannel(std::move(ch));
    }
  }

  /// Records a connection the caller dropped (e.g. one that failed the session hello); the next
  /// timeout of accept_until names it.
  void note_dropped(std::string why) {
    if (!st_) return;
    ++st_->dropped;
    st_->last_dropped = std::move(why);
  }
  /// Connections dropped so far (accept_until and note_dropped).
  std::size_t dropped() const noexcept { return st_ ? st_->dropped : 0; }

  void close() noexcept {
    if (!st_) return;
    asio::error_code ignored;
    st_->acceptor.close(ignored);
  }

 private:
  struct State {
    explicit State(TcpOptions o) : opt(std::move(o)) {}
    asio::io_context ioc{1};
    asio::ip::tcp::acceptor acceptor{ioc};
    TcpOptions opt;
    std::shared_ptr<asio::ssl::context> tls_ctx;  // shared by the accepted channels
    std::size_t dropped = 0;
    std::string last_dropped;
  };

  std::string where() const { return "a peer connecting to " + Endpoint{st_->opt.bind_address, port()}.str(); }

  /// Accepts one TCP connection until deadline (no TLS yet).
  std::unique_ptr<TcpChannel::State> accept_socket(std::chrono::steady_clock::time_point deadline) {
    if (!st_ || !st_->acceptor.is_open()) throw channel_error("secformer: accept on a closed TCP listener");
    const std::string at = Endpoint{st_->opt.bind_address, port()}.str();
    auto ch = std::make_unique<TcpChannel::State>(st_->opt);
    ch->tls_ctx = st_->tls_ctx;
    asio::error_code result;
    bool done = false;
    st_->acceptor.async_accept(ch->sock, [&](const asio::error_code& ec) { result = ec; done = true; });
    st_->ioc.restart();
    while (!done && st_->ioc.run_one_until(deadline) != 0) {
    }
    if (!done) {
      asio::error_code ignored;
      st_->acceptor.cancel(ignored);
      st_->ioc.restart();
      st_->ioc.run();
      if (!done || result == asio::error::operation_aborted) {
        std::string m = "secformer: timed out after " + detail::tcp::ms(st_->opt.connect_timeout) + " waiting for a connection on " + at;
        if (st_->dropped) {
          std::string why = st_->last_dropped;
          if (why.rfind("secformer: ", 0) == 0) why.erase(0, 11);
          m += "; dropped " + std::to_string(st_->dropped) + " connection" + (st_->dropped > 1 ? "s" : "") +
               " that failed the set-up, the last: " + why;
        }
        throw channel_error(m);
      }
    }
    if (result) throw channel_error("secformer: accept on " + at + " failed: " + result.message());
    TcpChannel::configure(*ch);
    return ch;
  }

  std::unique_ptr<State> st_;
};

inline TcpChannel TcpChannel::accept(std::uint16_t port, Options options) {
  TcpListener listener(port, std::move(options));
  return listener.accept();
}

inline TcpChannel TcpChannel::connect(const std::string& host, std::uint16_t port, Options options) {
  auto st = std::make_unique<State>(std::move(options));
  if (st->opt.tls.enabled()) st->tls_ctx = detail::tls::make_context(st->opt.tls, false);  // bad files fail here
  const std::string where = Endpoint{host, port}.str();
  const auto limit = st->opt.connect_timeout;
  const auto deadline = detail::tcp::clock::now() + limit;

  std::vector<asio::ip::tcp::endpoint> endpoints;
  asio::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, port);
  } else {
    asio::ip::tcp::resolver resolver(st->ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) throw channel_error("secformer: cannot resolve host '" + host + "': " + ec.message());
    for (const auto& e : results) endpoints.push_back(e.endpoint());
    if (endpoints.empty()) throw channel_error("secformer: host '" + host + "' has no addresses");
  }

  asio::error_code last = asio::error::timed_out;
  constexpr auto retry_interval = std::chrono::milliseconds(20);
  for (;;) {
    for (const auto& ep : endpoints) {
      asio::error_code ignored;
      st->sock.close(ignored);
      bool done = false;
      asio::error_code result;
      st->sock.async_connect(ep, [&](const asio::error_code& e) { result = e; done = true; });
      st->ioc.restart();
      while (!done && st->ioc.run_one_until(deadline) != 0) {
      }
      if (!done) {
        st->sock.close(ignored);
        st->ioc.restart();
        st->ioc.run();
        if (!result || result == asio::error::operation_aborted) result = last;
        throw channel_error("secformer: could not connect to " + where + " within " + detail::tcp::ms(limit) +
                            " (last error: " + result.message() + ")");
      }
      if (!result) {
        configure(*st);
        start_tls(*st, false, where);
        return TcpChannel(std::move(st));
      }
      last = result;
    }
    if (detail::tcp::clock::now() + retry_interval >= deadline) {
      asio::error_code ignored;
      st->sock.close(ignored);
      throw channel_error("secformer: could not connect to " + where + " within " + detail::tcp::ms(limit) +
                          " (last error: " + last.message() + ")");
    }
    std::this_thread::sleep_for(retry_interval);
  }
}

}  // namespace secformer
