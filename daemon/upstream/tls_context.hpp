#pragma once

/// @file
/// TLS for the auth client (STYLE §8, SPEC §1 "Transport"), every policy
/// setting in one place: the client context (TLS 1.2 or 1.3, ECDHE with AEAD
/// ciphers only on 1.2, security level 2 or higher, renegotiation refused,
/// verify_peer, the system store plus the configured CA file), the per
/// connection settings (SNI for host names only, host or IP verification
/// against subjectAltName only, no partial wildcards), and what a failed
/// handshake means: its class (SPEC §3) and a readable reason. Only the auth
/// client includes this header.

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

// OpenSSL's connection type, from <openssl/ssl.h>.
struct ssl_st;

namespace actoken::upstream {

/// Builds a client context: TLS 1.2 or 1.3; on 1.2 only ECDHE key exchange
/// with AES-GCM or ChaCha20-Poly1305; OpenSSL security level 2 at least,
/// whatever `openssl.cnf` or `$OPENSSL_CONF` set; renegotiation refused; peer
/// verification against OpenSSL's default verify paths and, when given, the
/// PEM CAs in `ca_file`. Costs tens
/// of milliseconds and a few MiB (the system bundle), so callers build it once,
/// lazily. Returns the reason (naming the file, never its content) when
/// `ca_file` cannot be loaded.
std::variant<std::unique_ptr<boost::asio::ssl::context>, std::string> make_tls_context(
    const std::optional<std::filesystem::path>& ca_file);

/// Prepares one connection to `host` (without brackets): SNI when `host` is a
/// name (RFC 6066 §3 forbids it for addresses), and certificate verification
/// against `host` as a DNS name (subjectAltName dNSName only: no subject CN,
/// no partial wildcard) or an IP address (iPAddress names). Returns false when
/// OpenSSL refuses either setting.
bool prepare_tls_connection(ssl_st* connection, const std::string& host);

/// True when the server asked to renegotiate on `connection` and was refused
/// (a no_renegotiation alert was sent): what a later failure on it means.
bool renegotiation_refused(ssl_st* connection);

/// What a failed handshake says about the server (SPEC §3).
enum class handshake_failure_kind {
  /// Verification failed (certificate, host name) or the server insists on
  /// what the policy refuses (protocol version, cipher, security level):
  /// `upstream_tls`, which holds until someone changes a setting.
  refused,
  /// Anything else: bytes that are not TLS (a proxy or captive portal
  /// answering in plain HTTP), an unexpected alert, a reset or a close
  /// during the handshake: `upstream_unavailable`, retried with backoff.
  transient,
};

/// Classifies a failed handshake from its error and the connection's
/// `SSL_get_verify_result`. Pure: no connection needed.
handshake_failure_kind classify_handshake_failure(const boost::system::error_code& ec,
                                                  long verify_result);

/// A reason for a failed handshake, e.g. "certificate verify failed: unable to
/// get local issuer certificate" or "certificate verify failed: hostname
/// mismatch"; OpenSSL's own reason for other failures.
std::string describe_tls_failure(const boost::system::error_code& ec, ssl_st* connection);

}  // namespace actoken::upstream
