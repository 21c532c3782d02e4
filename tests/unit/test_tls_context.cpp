// daemon/upstream/tls_context: which failed handshakes are `upstream_tls`
// (verification, or a server insisting on what the policy refuses) and which
// are transient (SPEC §3), from OpenSSL's own error codes as Asio reports
// them; and the security level the context keeps whatever openssl.cnf says.

#include "daemon/upstream/tls_context.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>
#include <variant>

namespace {

namespace upstream = actoken::upstream;
using boost::system::error_code;
using upstream::handshake_failure_kind;

// An error as Asio's SSL engine reports one: ERR_get_error()'s packed code,
// in the SSL category.
error_code ssl_error(int library, int reason) {
  return {static_cast<int>(ERR_PACK(library, 0, reason)), boost::asio::error::get_ssl_category()};
}

handshake_failure_kind classify(const error_code& ec, long verify_result = X509_V_OK) {
  return upstream::classify_handshake_failure(ec, verify_result);
}

}  // namespace

TEST_CASE("a failed verification is refused, whatever the error says") {
  for (const long result :
       {long{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY}, long{X509_V_ERR_HOSTNAME_MISMATCH},
        long{X509_V_ERR_IP_ADDRESS_MISMATCH}, long{X509_V_ERR_EE_KEY_TOO_SMALL},
        long{X509_V_ERR_CA_MD_TOO_WEAK}}) {
    CAPTURE(result);
    CHECK(classify(ssl_error(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED), result) ==
          handshake_failure_kind::refused);
    CHECK(classify(boost::asio::ssl::error::stream_truncated, result) ==
          handshake_failure_kind::refused);
  }
}

TEST_CASE("a server that insists on what the policy refuses is refused") {
  for (const int reason : {SSL_R_CERTIFICATE_VERIFY_FAILED,
                           SSL_R_TLSV1_UNRECOGNIZED_NAME,
                           SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE,
                           SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
                           SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY,
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
                           SSL_R_DH_KEY_TOO_SMALL,
                           SSL_R_EE_KEY_TOO_SMALL,
                           SSL_R_CA_KEY_TOO_SMALL,
                           SSL_R_CA_MD_TOO_WEAK}) {
    CAPTURE(reason);
    CHECK(classify(ssl_error(ERR_LIB_SSL, reason)) == handshake_failure_kind::refused);
  }
}

TEST_CASE("bytes that are not TLS, unexpected alerts, closes and resets are transient") {
  for (const int reason :
       {SSL_R_WRONG_VERSION_NUMBER, SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_UNKNOWN_PROTOCOL,
        SSL_R_RECORD_LENGTH_MISMATCH, SSL_R_TLSV1_ALERT_INTERNAL_ERROR,
        SSL_R_TLSV1_ALERT_DECODE_ERROR, SSL_R_SSLV3_ALERT_UNEXPECTED_MESSAGE,
        SSL_R_UNEXPECTED_MESSAGE, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, SSL_R_BAD_ECPOINT}) {
    CAPTURE(reason);
    CHECK(classify(ssl_error(ERR_LIB_SSL, reason)) == handshake_failure_kind::transient);
  }
  // The same reason numbers from another OpenSSL library are not the SSL library's.
  CHECK(classify(ssl_error(ERR_LIB_EVP, SSL_R_NO_SHARED_CIPHER)) ==
        handshake_failure_kind::transient);
  CHECK(classify(boost::asio::ssl::error::stream_truncated) == handshake_failure_kind::transient);
  CHECK(classify(boost::asio::error::connection_reset) == handshake_failure_kind::transient);
  CHECK(classify(boost::asio::error::eof) == handshake_failure_kind::transient);
}

TEST_CASE("a readable reason: the policy named, plain text named") {
  CHECK(upstream::describe_tls_failure(ssl_error(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER), nullptr)
            .find("the answer is not TLS") != std::string::npos);
  CHECK(upstream::describe_tls_failure(ssl_error(ERR_LIB_SSL, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE),
                                       nullptr)
            .find("offers nothing actoken accepts") != std::string::npos);
  CHECK(upstream::describe_tls_failure(boost::asio::ssl::error::stream_truncated, nullptr) ==
        "connection closed during the TLS handshake");
}

TEST_CASE("the context's security level is 2 at least, whatever the system set") {
  // openssl.cnf is read once per process, before this test could change it:
  // test_tls_policy runs the daemon with an OPENSSL_CONF at @SECLEVEL=0.
  auto made = upstream::make_tls_context(std::nullopt);
  REQUIRE(std::holds_alternative<std::unique_ptr<boost::asio::ssl::context>>(made));
  const auto& context = std::get<std::unique_ptr<boost::asio::ssl::context>>(made);
  CHECK(SSL_CTX_get_security_level(context->native_handle()) >= 2);
}
