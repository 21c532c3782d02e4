#include "daemon/upstream/tls_context.hpp"

#include "daemon/upstream/url.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace actoken::upstream {
namespace ssl = boost::asio::ssl;

namespace {

// The system's trust store, as set_default_verify_paths would load it but
// lazily: the hashed directory ($SSL_CERT_DIR, else OpenSSL's default, which
// on Debian is /etc/ssl/certs) is read one certificate per lookup, so an
// exchange costs the one or two CA certificates it needs instead of parsing
// the ~140 of the bundle file (+0.8 MiB, docs/performance.md). The bundle file
// is loaded only when $SSL_CERT_FILE names one or there is no directory.
void load_system_trust(SSL_CTX* context) {
  const char* dir = std::getenv(X509_get_default_cert_dir_env());
  if (dir == nullptr) dir = X509_get_default_cert_dir();
  std::error_code ec;
  const bool have_dir = std::filesystem::is_directory(dir, ec);
  if (have_dir && ::SSL_CTX_load_verify_dir(context, dir) != 1) {
    spdlog::debug("upstream: cannot use the CA directory {}", dir);
  }
  const char* file = std::getenv(X509_get_default_cert_file_env());
  if (file == nullptr && !have_dir) file = X509_get_default_cert_file();
  if (file != nullptr && ::SSL_CTX_load_verify_file(context, file) != 1) {
    // Not fatal: a configured ca_file may be all the trust there is.
    spdlog::debug("upstream: cannot use the CA file {}", file);
  }
  ::ERR_clear_error();
}

// TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 suites: OpenSSL's defaults, spelled out.
constexpr const char* tls13_ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// The least OpenSSL security level the client accepts (SPEC §1): 112-bit
// security, so no RSA or DH key under 2048 bits, no SHA-1 signature.
constexpr int minimum_security_level = 2;

// Handshake failures (OpenSSL's reasons, library SSL) that mean the server
// insists on something the policy refuses, or named a host we did not ask
// for: a setting must change, on its side or ours, before a retry can work.
constexpr std::array<int, 21> policy_refusals{
    SSL_R_CERTIFICATE_VERIFY_FAILED,
    SSL_R_TLSV1_UNRECOGNIZED_NAME,
    // The server's alerts when it offers nothing the client accepts.
    SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE,
    SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
    SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY,
    // The client's own refusals of what the server chose.
    SSL_R_UNSUPPORTED_PROTOCOL,
    SSL_R_NO_PROTOCOLS_AVAILABLE,
    SSL_R_VERSION_TOO_LOW,
    SSL_R_NO_CIPHERS_AVAILABLE,
    SSL_R_NO_SHARED_CIPHER,
    SSL_R_WRONG_CIPHER_RETURNED,
    SSL_R_NO_SHARED_GROUPS,
    SSL_R_WRONG_CURVE,
    SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM,
    SSL_R_WRONG_SIGNATURE_TYPE,
    SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED,
    SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED,
    // The security level's refusals of keys and digests.
    SSL_R_DH_KEY_TOO_SMALL,
    SSL_R_EE_KEY_TOO_SMALL,
    SSL_R_CA_KEY_TOO_SMALL,
    SSL_R_CA_MD_TOO_WEAK,
};

// What OpenSSL says when the first bytes back are no TLS record at all: an
// HTTP answer, a banner, a portal's page.
constexpr std::array<int, 4> not_tls{
    SSL_R_WRONG_VERSION_NUMBER,
    SSL_R_PACKET_LENGTH_TOO_LONG,
    SSL_R_UNKNOWN_PROTOCOL,
    SSL_R_RECORD_LENGTH_MISMATCH,
};

// OpenSSL's reason in `ec` when it is an error of OpenSSL's SSL library, else 0.
int ssl_reason(const boost::system::error_code& ec) {
  if (ec.category() != boost::asio::error::get_ssl_category()) return 0;
  // Asio stores ERR_get_error()'s packed code in an int: take back its bits.
  const auto packed = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
  if (ERR_GET_LIB(packed) != ERR_LIB_SSL) return 0;
  return ERR_GET_REASON(packed);
}

template <std::size_t n>
bool is_one_of(int reason, const std::array<int, n>& reasons) {
  return reason != 0 && std::find(reasons.begin(), reasons.end(), reason) != reasons.end();
}

// Where a connection records that it refused the server's renegotiation.
int renegotiation_index() {
  static const int index = ::SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's info callback: a no_renegotiation alert we send is how
// SSL_OP_NO_RENEGOTIATION answers a HelloRequest; remember it, so that the
// failure that follows can say why.
void note_refused_renegotiation(const SSL* connection, int where, int value) {
  if ((where & SSL_CB_WRITE_ALERT) != 0 && (value & 0xff) == SSL_AD_NO_RENEGOTIATION) {
    static int refused = 1;
    ::SSL_set_ex_data(const_cast<SSL*>(connection), renegotiation_index(), &refused);
  }
}

}  // namespace

std::variant<std::unique_ptr<ssl::context>, std::string> make_tls_context(
    const std::optional<std::filesystem::path>& ca_file) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // The options above are deprecated in OpenSSL 3; the minimum version is what
  // actually holds the line at TLS 1.2 (RFC 8996 retired 1.0 and 1.1).
  ::SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: forward secrecy (ECDHE; no static-RSA key exchange, where the
  // server's key decrypts every recorded session) and AEAD only (no CBC with
  // its padding-oracle history, Lucky13, RFC 7457 §2). The TLS 1.3 suites are
  // all ECDHE/DHE and AEAD by design; named here so that no configuration
  // file (openssl.cnf) can widen them (SPEC §1 "Transport").
  if (::SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1 ||
      ::SSL_CTX_set_ciphersuites(native, tls13_ciphersuites) != 1) {
    ::ERR_clear_error();
    return std::string("this OpenSSL offers none of the required TLS cipher suites");
  }
  // Renegotiation is a second handshake inside the first, with a history of
  // attacks (RFC 5746, the triple handshake) and no use for one short request:
  // a server's HelloRequest is answered with a no_renegotiation alert. A
  // server that insists then fails the exchange (see renegotiation_refused).
  ::SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // openssl.cnf (or $OPENSSL_CONF) may lower the security level, e.g. with
  // "CipherString = DEFAULT@SECLEVEL=0" for some legacy server: at level 0 an
  // RSA-1024 or SHA-1 certificate verifies. The daemon sends a key, so its
  // floor does not move; a stricter system setting is kept.
  if (::SSL_CTX_get_security_level(native) < minimum_security_level) {
    ::SSL_CTX_set_security_level(native, minimum_security_level);
  }
  ::SSL_CTX_set_info_callback(native, note_refused_renegotiation);
  context->set_verify_mode(ssl::verify_peer);

  load_system_trust(context->native_handle());

  if (ca_file) {
    const std::string path = ca_file->string();
    // Checked first for a clearer reason than OpenSSL's "system lib".
    if (std::FILE* file = std::fopen(path.c_str(), "rb")) {
      std::fclose(file);
    } else {
      return "cannot read ca_file " + path + ": " + std::generic_category().message(errno);
    }
    boost::system::error_code ec;
    context->load_verify_file(path, ec);
    if (ec) return "cannot load ca_file " + path + ": " + ec.message();
  }
  return context;
}

bool prepare_tls_connection(ssl_st* connection, const std::string& host) {
  // Names are matched against subjectAltName only (RFC 6125 §6.4.4: a client
  // never falls back to the subject CN, which was never meant to hold a host
  // name), and a wildcard must be a whole label: "*.example.com", never
  // "a*.example.com" (RFC 6125 §6.4.3 allows refusing partial wildcards, and
  // the CA/Browser Forum forbids issuing them).
  ::SSL_set_hostflags(connection,
                      X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // SSL_set_tlsext_host_name spelled out: the macro's C cast trips -Wold-style-cast.
  if (!is_ip_literal(host) &&
      ::SSL_ctrl(connection, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str())) != 1) {
    return false;
  }
  // SSL_set1_host takes an IP literal as an address to match against the
  // certificate's IP SANs and anything else as a DNS name; a mismatch fails
  // the handshake with X509_V_ERR_HOSTNAME_MISMATCH / _IP_ADDRESS_MISMATCH.
  return ::SSL_set1_host(connection, host.c_str()) == 1;
}

bool renegotiation_refused(ssl_st* connection) {
  return connection != nullptr && ::SSL_get_ex_data(connection, renegotiation_index()) != nullptr;
}

handshake_failure_kind classify_handshake_failure(const boost::system::error_code& ec,
                                                  long verify_result) {
  if (verify_result != X509_V_OK || is_one_of(ssl_reason(ec), policy_refusals)) {
    return handshake_failure_kind::refused;
  }
  return handshake_failure_kind::transient;
}

std::string describe_tls_failure(const boost::system::error_code& ec, ssl_st* connection) {
  if (connection != nullptr) {
    const long result = ::SSL_get_verify_result(connection);
    if (result != X509_V_OK) {
      return std::string("certificate verify failed: ") + ::X509_verify_cert_error_string(result);
    }
  }
  if (ec == ssl::error::stream_truncated) return "connection closed during the TLS handshake";
  if (is_one_of(ssl_reason(ec), not_tls)) {
    return ec.message() +
           ": the answer is not TLS (a proxy or captive portal answering in plain HTTP?)";
  }
  // What a server says when it offers only what the policy above leaves out
  // (static RSA, CBC, TLS 1.1 or older): name the policy.
  switch (ssl_reason(ec)) {
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return ec.message() +
             "; the server probably offers nothing actoken accepts (TLS 1.3, or TLS 1.2 "
             "with ECDHE and AES-GCM or ChaCha20-Poly1305)";
    default:
      return ec.message();
  }
}

}  // namespace actoken::upstream
