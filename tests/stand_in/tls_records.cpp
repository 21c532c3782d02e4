#include "tests/stand_in/tls_records.hpp"

#include <openssl/ssl.h>

namespace actoken::stand_in {
namespace {

// OpenSSL's message callback, for records read: TLS 1.2 says a record's type
// in its header; TLS 1.3 hides it inside the encrypted record (whose header
// always says application data) and reports it once decrypted, as the inner
// content type.
void on_message(int write_p, int /*version*/, int content_type, const void* data, std::size_t size,
                SSL* connection, void* arg) {
  if (write_p != 0 || size < 1 || arg == nullptr) {
    return;
  }
  const auto type = *static_cast<const unsigned char*>(data);
  const bool tls13 = SSL_version(connection) == TLS1_3_VERSION;
  if ((content_type == SSL3_RT_HEADER && !tls13 && type == SSL3_RT_APPLICATION_DATA) ||
      (content_type == SSL3_RT_INNER_CONTENT_TYPE && type == SSL3_RT_APPLICATION_DATA)) {
    ++static_cast<record_counter*>(arg)->application_records;
  }
}

}  // namespace

void count_received_records(ssl_st* connection, record_counter& counter) {
  SSL_set_msg_callback(connection, on_message);
  SSL_set_msg_callback_arg(connection, &counter);
}

}  // namespace actoken::stand_in
