#pragma once

/// @file
/// A small HTTPS server for the TLS policy tests (SPEC §1 "Transport"): it
/// offers exactly the protocol versions, cipher suites and certificate a test
/// gives it — the weak choices a client must refuse as well as the strong ones
/// it must accept — can ask for a renegotiation, and records every byte it
/// decrypts, so a test can show that nothing of the key arrived. Plain
/// blocking OpenSSL on its own thread, one connection at a time, on
/// 127.0.0.1. With `connect_preamble` it first answers an HTTP CONNECT as a
/// proxy would, so a client can be pointed at any host name without DNS.

#include "tests/stand_in/pki.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace actoken::testing {

/// A TLS protocol version the server may speak.
enum class tls_version { tls1_2, tls1_3 };

/// What the server offers.
struct tls_server_options {
  stand_in::test_pki pki;  ///< the certificate chain and key it presents
  tls_version min_version = tls_version::tls1_2;
  tls_version max_version = tls_version::tls1_3;
  /// TLS 1.2 suites in OpenSSL's syntax, e.g. "AES128-GCM-SHA256"; "" keeps
  /// OpenSSL's default list. Set at security level 0, so that nothing the
  /// system's openssl.cnf removes stops a test from offering it.
  std::string tls12_ciphers;
  /// Asks for a renegotiation (a HelloRequest, TLS 1.2) right after the
  /// handshake, and answers the request only once the renegotiation is done.
  bool renegotiate = false;
  /// Reads an HTTP CONNECT request and answers 200 before the TLS handshake.
  bool connect_preamble = false;
  /// The body of the 200 answer to every request.
  std::string response_body = R"({"access_token":"tls.test.token"})";
};

/// The server; see the file comment. Every public member may be called from
/// any thread.
class tls_test_server {
 public:
  /// Listens on 127.0.0.1 (any free port) and starts serving.
  explicit tls_test_server(tls_server_options options);
  /// Stops serving and joins the thread.
  ~tls_test_server();
  tls_test_server(const tls_test_server&) = delete;
  tls_test_server& operator=(const tls_test_server&) = delete;

  /// The bound port.
  std::uint16_t port() const;
  /// "https://127.0.0.1:PORT".
  std::string url() const;
  /// "http://127.0.0.1:PORT", for `connect_preamble`.
  std::string proxy_url() const;

  /// Connections accepted.
  std::size_t connections() const;
  /// Handshakes completed (a renegotiation counts as one more).
  std::size_t handshakes() const;
  /// Requests answered with 200.
  std::size_t answers() const;
  /// Every application byte decrypted from every connection, in order.
  std::string received() const;
  /// "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256" for the last completed handshake.
  std::string negotiated() const;
  /// OpenSSL's reason for the last failed handshake or read ("" if none).
  std::string last_failure() const;
  /// The CONNECT targets asked for ("host:port"), oldest first.
  std::vector<std::string> connect_targets() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace actoken::testing
