#include "tests/integration/tls_test_server.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace actoken::testing {
namespace {

using steady = std::chrono::steady_clock;

// A connection that stalls is given up after this; the client's own timeout
// in the tests is the same or shorter.
constexpr auto connection_deadline = std::chrono::seconds{10};
// How long one blocking read waits before the deadline is checked again.
constexpr long read_slice_ms = 100;

template <auto free_function>
struct openssl_deleter {
  template <class T>
  void operator()(T* pointer) const noexcept {
    free_function(pointer);
  }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, openssl_deleter<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, openssl_deleter<SSL_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no OpenSSL error queued";
  char text[256] = {};
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

void check(bool ok, const char* what) {
  if (!ok)
    throw std::runtime_error(std::string("tls_test_server: ") + what + ": " + openssl_error());
}

int version_of(tls_version v) { return v == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

bio_ptr memory_bio(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  check(bio != nullptr, "BIO_new_mem_buf");
  return bio;
}

// The leaf from `chain_pem`, then every certificate after it as the chain.
void use_chain(SSL_CTX* ctx, const std::string& chain_pem, const std::string& key_pem) {
  const auto bio = memory_bio(chain_pem);
  x509_ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  check(leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf.get()) == 1, "leaf certificate");
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    check(SSL_CTX_add0_chain_cert(ctx, next) == 1, "chain certificate");
  }
  ERR_clear_error();  // the end of the PEM data
  const auto key_bio = memory_bio(key_pem);
  const pkey_ptr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  check(key != nullptr && SSL_CTX_use_PrivateKey(ctx, key.get()) == 1, "private key");
}

std::size_t content_length(const std::string& head) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return static_cast<std::size_t>(std::stoul(lower.substr(at + 17)));
}

}  // namespace

struct tls_test_server::impl {
  tls_server_options options;
  ctx_ptr ctx;
  int listen_fd = -1;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::size_t renegotiated_at = 0;  ///< the handshake count once this connection renegotiated

  mutable std::mutex mutex;  // guards everything below
  std::size_t connections = 0;
  std::size_t handshakes = 0;
  std::size_t answers = 0;
  std::string received;
  std::string negotiated;
  std::string last_failure;
  std::vector<std::string> connect_targets;

  explicit impl(tls_server_options opts) : options(std::move(opts)) {
    if (options.pki.server_cert_pem.empty()) options.pki = stand_in::generate_pki();
    ctx.reset(SSL_CTX_new(TLS_server_method()));
    check(ctx != nullptr, "SSL_CTX_new");
    // Whatever the system's policy, offer exactly what the test asks for.
    SSL_CTX_set_security_level(ctx.get(), 0);
    check(SSL_CTX_set_min_proto_version(ctx.get(), version_of(options.min_version)) == 1 &&
              SSL_CTX_set_max_proto_version(ctx.get(), version_of(options.max_version)) == 1,
          "protocol versions");
    if (!options.tls12_ciphers.empty()) {
      check(SSL_CTX_set_cipher_list(ctx.get(), options.tls12_ciphers.c_str()) == 1, "cipher list");
    }
    // No session tickets: with them TLS 1.3 reports a "handshake done" per ticket.
    SSL_CTX_set_num_tickets(ctx.get(), 0);
    SSL_CTX_set_app_data(ctx.get(), this);
    SSL_CTX_set_msg_callback(ctx.get(), &impl::on_message);
    use_chain(ctx.get(), options.pki.server_cert_pem, options.pki.server_key_pem);

    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) throw std::runtime_error("tls_test_server: socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd, 16) != 0 ||
        ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(listen_fd);
      throw std::runtime_error("tls_test_server: cannot listen on 127.0.0.1");
    }
    port = ntohs(address.sin_port);
    thread = std::thread([this] { run(); });
  }

  ~impl() {
    stopping = true;
    thread.join();
    ::close(listen_fd);
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  // Counts the client's Finished messages: one per completed handshake, a
  // renegotiation included. (SSL_CB_HANDSHAKE_DONE also fires when a server
  // merely sends a HelloRequest, so it cannot tell.)
  static void on_message(int write_p, int /*version*/, int content_type, const void* buf,
                         std::size_t len, SSL* ssl, void* /*arg*/) {
    if (write_p != 0 || content_type != SSL3_RT_HANDSHAKE || len == 0 ||
        static_cast<const unsigned char*>(buf)[0] != SSL3_MT_FINISHED) {
      return;
    }
    auto* self = static_cast<impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    const std::lock_guard lock(self->mutex);
    ++self->handshakes;
    self->negotiated = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  }

  void fail(const std::string& why) {
    const std::lock_guard lock(mutex);
    last_failure = why;
  }

  std::size_t handshakes_now() const {
    const std::lock_guard lock(mutex);
    return handshakes;
  }

  void run() {
    while (!stopping) {
      pollfd waiting{listen_fd, POLLIN, 0};
      if (::poll(&waiting, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      {
        const std::lock_guard lock(mutex);
        ++connections;
      }
      const timeval slice{0, read_slice_ms * 1000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
      serve(fd);
      ::close(fd);
    }
  }

  // Reads a CONNECT request byte by byte (nothing of the TLS stream behind
  // it) and accepts it, as a proxy would.
  bool accept_connect(int fd, steady::time_point deadline) {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char c = 0;
      const auto n = ::recv(fd, &c, 1, 0);
      if (n == 1) {
        head.push_back(c);
      } else if (n == 0 || steady::now() > deadline || stopping) {
        fail("no CONNECT request");
        return false;
      }
    }
    const auto target_end = head.find(' ', 8);
    {
      const std::lock_guard lock(mutex);
      connect_targets.push_back(head.substr(8, target_end - 8));
    }
    const std::string reply = "HTTP/1.1 200 Connection established\r\n\r\n";
    return ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(reply.size());
  }

  // One SSL_read; false on failure or at the deadline. Records what it read.
  bool read_some(SSL* ssl, std::string& into, steady::time_point deadline) {
    char buffer[4096];
    for (;;) {
      const int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n > 0) {
        into.append(buffer, static_cast<std::size_t>(n));
        const std::lock_guard lock(mutex);
        received.append(buffer, static_cast<std::size_t>(n));
        return true;
      }
      const int error = SSL_get_error(ssl, n);
      if (error == SSL_ERROR_WANT_READ && steady::now() < deadline && !stopping) {
        // The renegotiation may complete without any application data.
        if (options.renegotiate && handshakes_now() >= renegotiated_at) return true;
        continue;
      }
      fail(error == SSL_ERROR_SSL ? openssl_error() : "read ended (" + std::to_string(error) + ")");
      return false;
    }
  }

  void serve(int fd) {
    const auto deadline = steady::now() + connection_deadline;
    if (options.connect_preamble && !accept_connect(fd, deadline)) return;
    const ssl_ptr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    // Handshakes are counted for all connections: this one's second is the renegotiation.
    renegotiated_at = handshakes_now() + 2;
    for (;;) {
      const int accepted = SSL_accept(ssl.get());
      if (accepted == 1) break;
      if (SSL_get_error(ssl.get(), accepted) == SSL_ERROR_WANT_READ && steady::now() < deadline &&
          !stopping) {
        continue;
      }
      fail("handshake: " + openssl_error());
      return;
    }
    if (options.renegotiate &&
        (SSL_renegotiate(ssl.get()) != 1 || SSL_do_handshake(ssl.get()) != 1)) {
      fail("cannot request a renegotiation: " + openssl_error());
      return;
    }
    // The request: its head, then Content-Length bytes of body.
    std::string request;
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (!read_some(ssl.get(), request, deadline)) return;
    }
    const auto head_end = request.find("\r\n\r\n") + 4;
    const auto body_size = content_length(request.substr(0, head_end));
    while (request.size() < head_end + body_size) {
      if (!read_some(ssl.get(), request, deadline)) return;
    }
    // A renegotiating server answers only over the renegotiated session.
    while (options.renegotiate && handshakes_now() < renegotiated_at) {
      std::string more;
      if (!read_some(ssl.get(), more, deadline)) return;
    }
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(options.response_body.size()) + "\r\nConnection: close\r\n\r\n" +
        options.response_body;
    if (SSL_write(ssl.get(), answer.data(), static_cast<int>(answer.size())) <= 0) {
      fail("write: " + openssl_error());
      return;
    }
    {
      const std::lock_guard lock(mutex);
      ++answers;
    }
    SSL_shutdown(ssl.get());
  }
};

tls_test_server::tls_test_server(tls_server_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

tls_test_server::~tls_test_server() = default;

std::uint16_t tls_test_server::port() const { return impl_->port; }

std::string tls_test_server::url() const { return "https://127.0.0.1:" + std::to_string(port()); }

std::string tls_test_server::proxy_url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

std::size_t tls_test_server::connections() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->connections;
}

std::size_t tls_test_server::handshakes() const { return impl_->handshakes_now(); }

std::size_t tls_test_server::answers() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->answers;
}

std::string tls_test_server::received() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->received;
}

std::string tls_test_server::negotiated() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->negotiated;
}

std::string tls_test_server::last_failure() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->last_failure;
}

std::vector<std::string> tls_test_server::connect_targets() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->connect_targets;
}

}  // namespace actoken::testing
