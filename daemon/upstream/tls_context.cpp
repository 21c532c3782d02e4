#include "daemon/upstream/tls_context.hpp"

#include "daemon/upstream/url.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

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

}  // namespace

std::variant<std::unique_ptr<ssl::context>, std::string> make_tls_context(
    const std::optional<std::filesystem::path>& ca_file) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // The options above are deprecated in OpenSSL 3; the minimum version is what
  // actually holds the line at TLS 1.2.
  ::SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
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

std::string describe_tls_failure(const boost::system::error_code& ec, ssl_st* connection) {
  if (connection != nullptr) {
    const long result = ::SSL_get_verify_result(connection);
    if (result != X509_V_OK) {
      return std::string("certificate verify failed: ") + ::X509_verify_cert_error_string(result);
    }
  }
  if (ec == ssl::error::stream_truncated) return "connection closed during the TLS handshake";
  return ec.message();
}

}  // namespace actoken::upstream
