// secformer/channel/tls.hpp: TLS settings of the TCP channel (Asio's SSL stream over OpenSSL) with
// mutual authentication: every role presents a certificate signed by the session's CA and verifies
// its peer's. Included by channel/tcp.hpp; like it, not part of the umbrella header.
//
// TLS 1.2 or newer; the peer must present a certificate (verify_fail_if_no_peer_cert), signed by
// TlsOptions::ca_file; when TlsOptions::peer_name is set, the certificate must also name it (CN or
// subjectAltName DNS entry, checked with X509_check_host).
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "../config.hpp"

namespace secformer {

/// TLS for a TCP channel. All three files empty: plain TCP (loopback and tests).
struct TlsOptions {
  std::string cert_file;  ///< this role's certificate chain (PEM)
  std::string key_file;   ///< this role's private key (PEM)
  std::string ca_file;    ///< the CA that signs every role's certificate (PEM)
  std::string peer_name;  ///< when non-empty, the name the peer's certificate must carry
  bool enabled() const noexcept { return !cert_file.empty() || !key_file.empty() || !ca_file.empty(); }
};

namespace detail::tls {

/// An SSL context for one connection. Throws usage_error naming the file that cannot be used.
inline std::unique_ptr<asio::ssl::context> make_context(const TlsOptions& o, bool server) {
  if (o.cert_file.empty() || o.key_file.empty() || o.ca_file.empty())
    throw usage_error("secformer: TLS needs a certificate, a private key and a CA file (--tls-cert, --tls-key, --tls-ca)");
  auto ctx = std::make_unique<asio::ssl::context>(server ? asio::ssl::context::tls_server : asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::single_dh_use);
  auto load = [&](const char* what, const std::string& file, auto&& f) {
    asio::error_code ec;
    f(ec);
    if (ec) throw usage_error(std::string("secformer: cannot use TLS ") + what + " '" + file + "': " + ec.message());
  };
  load("certificate", o.cert_file, [&](asio::error_code& ec) { ctx->use_certificate_chain_file(o.cert_file, ec); });
  // Never prompt on the terminal for a passphrase (OpenSSL's default): a protected key is refused.
  bool asked = false;
  SSL_CTX_set_default_passwd_cb(ctx->native_handle(), [](char*, int, int, void* flag) -> int {
    *static_cast<bool*>(flag) = true;
    return -1;
  });
  SSL_CTX_set_default_passwd_cb_userdata(ctx->native_handle(), &asked);
  {
    asio::error_code ec;
    ctx->use_private_key_file(o.key_file, asio::ssl::context::pem, ec);
    SSL_CTX_set_default_passwd_cb(ctx->native_handle(), nullptr);
    SSL_CTX_set_default_passwd_cb_userdata(ctx->native_handle(), nullptr);
    if (asked)
      throw usage_error("secformer: the TLS private key '" + o.key_file +
                        "' is protected by a passphrase; secformer never prompts for one: give it an unencrypted key "
                        "(e.g. openssl pkey -in KEY -out KEY2) readable by this role only");
    if (ec) throw usage_error("secformer: cannot use TLS private key '" + o.key_file + "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw usage_error("secformer: the TLS private key '" + o.key_file + "' does not match the certificate '" + o.cert_file + "'");
  load("CA file", o.ca_file, [&](asio::error_code& ec) { ctx->load_verify_file(o.ca_file, ec); });
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

/// A TLS failure explained: who refused whom, and OpenSSL's reason.
inline std::string explain(const asio::error_code& ec) {
  const std::string r = ec.message();
  auto has = [&](const char* s) { return r.find(s) != std::string::npos; };
  if (has("certificate verify failed"))
    return "TLS refused: the peer's certificate is not signed by our CA or is invalid (" + r + ")";
  if (has("peer did not return a certificate") || has("certificate required"))
    return "TLS refused: the peer presented no certificate (" + r + ")";
  if (has("unknown ca") || has("bad certificate") || has("certificate unknown") || has("decrypt error"))
    return "TLS refused by the peer: it does not accept our certificate (" + r + ")";
  if (has("wrong version number") || has("http request") || has("packet length too long") || has("unexpected eof"))
    return "TLS handshake failed: the peer does not speak TLS (plain TCP?) or closed the connection (" + r + ")";
  if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe)
    return "the peer closed the connection (" + r + ")";
  return "TLS error: " + r;
}

inline bool is_tls_error(const asio::error_code& ec) noexcept {
  return ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated;
}

/// Whether the peer's certificate (already verified against the CA) carries `name`.
inline bool peer_has_name(SSL* ssl, const std::string& name) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return false;
  const int ok = X509_check_host(cert, name.data(), name.size(), 0, nullptr);
  X509_free(cert);
  return ok == 1;
}

}  // namespace detail::tls
}  // namespace secformer
