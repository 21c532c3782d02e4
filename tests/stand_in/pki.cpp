#include "tests/stand_in/pki.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace actoken::stand_in {
namespace {

template <auto free_function>
struct openssl_deleter {
  template <class T>
  void operator()(T* pointer) const noexcept {
    free_function(pointer);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, openssl_deleter<EVP_PKEY_CTX_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;

constexpr long one_day_s = 24L * 60 * 60;

// Throws with OpenSSL's queued error text when `ok` is false.
void check(bool ok, const char* what) {
  if (ok) {
    return;
  }
  char text[256] = {};
  ERR_error_string_n(ERR_get_error(), text, sizeof text);
  ERR_clear_error();
  throw std::runtime_error(std::string("generate_pki: ") + what + ": " + text);
}

pkey_ptr make_p256_key() {
  const pkey_ctx_ptr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  check(context != nullptr, "EVP_PKEY_CTX_new_from_name");
  check(EVP_PKEY_keygen_init(context.get()) == 1, "EVP_PKEY_keygen_init");
  check(EVP_PKEY_CTX_set_group_name(context.get(), "P-256") == 1, "set_group_name");
  EVP_PKEY* key = nullptr;
  check(EVP_PKEY_generate(context.get(), &key) == 1, "EVP_PKEY_generate");
  return pkey_ptr(key);
}

pkey_ptr make_rsa_key(unsigned bits) {
  const pkey_ctx_ptr context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  check(context != nullptr, "EVP_PKEY_CTX_new_from_name");
  check(EVP_PKEY_keygen_init(context.get()) == 1, "EVP_PKEY_keygen_init");
  check(EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), static_cast<int>(bits)) == 1,
        "set_rsa_keygen_bits");
  EVP_PKEY* key = nullptr;
  check(EVP_PKEY_generate(context.get(), &key) == 1, "EVP_PKEY_generate");
  return pkey_ptr(key);
}

bool is_ip_literal(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

std::string subject_alt_names(const std::vector<std::string>& hosts) {
  std::string names;
  for (const auto& host : hosts) {
    names += names.empty() ? "" : ",";
    names += (is_ip_literal(host) ? "IP:" : "DNS:") + host;
  }
  return names;
}

// Adds one v3 extension given in openssl.cnf syntax, e.g. "critical,CA:TRUE".
void add_extension(X509* cert, X509V3_CTX* context, int nid, const std::string& value) {
  const extension_ptr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value.c_str()));
  check(extension != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, extension.get(), -1) == 1, "X509_add_ext");
}

// A certificate for `key` named `common_name`; self-signed when `issuer` is null.
x509_ptr make_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  x509_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");

  // A random positive 127-bit serial: unique enough that no two runs collide.
  const bignum_ptr serial(BN_new());
  check(serial != nullptr && BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
        "BN_rand");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr,
        "BN_to_ASN1_INTEGER");

  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -one_day_s) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30 * one_day_s) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("actoken stand-in"), -1,
                                   -1, 0) == 1,
        "subject O");
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) == 1,
        "subject CN");
  check(X509_set_issuer_name(cert.get(),
                             issuer != nullptr ? X509_get_subject_name(issuer) : subject) == 1,
        "X509_set_issuer_name");
  return cert;
}

void sign(X509* cert, EVP_PKEY* key, const EVP_MD* digest = EVP_sha256()) {
  check(X509_sign(cert, key, digest) > 0, "X509_sign");
}

pkey_ptr make_leaf_key(leaf_key_kind kind) {
  switch (kind) {
    case leaf_key_kind::rsa2048:
      return make_rsa_key(2048);
    case leaf_key_kind::rsa1024:
      return make_rsa_key(1024);
    case leaf_key_kind::p256:
      break;
  }
  return make_p256_key();
}

std::string to_pem(X509* cert) {
  const bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  BUF_MEM* memory = nullptr;
  check(BIO_get_mem_ptr(bio.get(), &memory) == 1, "BIO_get_mem_ptr");
  return {memory->data, memory->length};
}

std::string to_pem(EVP_PKEY* key) {
  const bio_ptr bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr &&
            PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  BUF_MEM* memory = nullptr;
  check(BIO_get_mem_ptr(bio.get(), &memory) == 1, "BIO_get_mem_ptr");
  return {memory->data, memory->length};
}

void write_file(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  const auto fail = [&path](const char* what) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("write_pki: ") + what + " " + path.string());
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    fail("open");
  }
  // An existing file keeps its old mode through O_CREAT: set it explicitly.
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t written = 0;
  while (ok && written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    ok = n > 0 || (n < 0 && errno == EINTR);
    written += n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    errno = saved_errno;
    fail("write");
  }
}

}  // namespace

test_pki generate_pki(const std::vector<std::string>& hosts) {
  return generate_pki_with({.hosts = hosts});
}

test_pki generate_pki_with(const pki_options& options) {
  if (options.hosts.empty()) {
    throw std::invalid_argument("generate_pki: no hosts");
  }
  const pkey_ptr ca_key = make_p256_key();
  const x509_ptr ca = make_certificate(ca_key.get(), "actoken stand-in test CA", nullptr);
  X509V3_CTX context{};
  X509V3_set_ctx(&context, ca.get(), ca.get(), nullptr, nullptr, 0);
  add_extension(ca.get(), &context, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(ca.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.get(), &context, NID_subject_key_identifier, "hash");
  sign(ca.get(), ca_key.get());

  // The leaf's issuer: the CA itself, or an intermediate it issued.
  X509* issuer = ca.get();
  EVP_PKEY* issuer_key = ca_key.get();
  pkey_ptr intermediate_key;
  x509_ptr intermediate;
  if (options.intermediate) {
    intermediate_key = make_p256_key();
    intermediate =
        make_certificate(intermediate_key.get(), "actoken stand-in intermediate CA", ca.get());
    X509V3_set_ctx(&context, ca.get(), intermediate.get(), nullptr, nullptr, 0);
    add_extension(intermediate.get(), &context, NID_basic_constraints,
                  "critical,CA:TRUE,pathlen:0");
    add_extension(intermediate.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(intermediate.get(), &context, NID_subject_key_identifier, "hash");
    add_extension(intermediate.get(), &context, NID_authority_key_identifier, "keyid:always");
    sign(intermediate.get(), ca_key.get());
    issuer = intermediate.get();
    issuer_key = intermediate_key.get();
  }

  const pkey_ptr leaf_key = make_leaf_key(options.leaf_key);
  const x509_ptr leaf = make_certificate(leaf_key.get(), options.hosts.front(), issuer);
  X509V3_set_ctx(&context, issuer, leaf.get(), nullptr, nullptr, 0);
  add_extension(leaf.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
  // RSA key exchange (static RSA) encrypts with the leaf's key: keyEncipherment.
  add_extension(leaf.get(), &context, NID_key_usage,
                options.leaf_key != leaf_key_kind::p256
                    ? "critical,digitalSignature,keyEncipherment"
                    : "critical,digitalSignature");
  add_extension(leaf.get(), &context, NID_ext_key_usage, "serverAuth");
  if (options.subject_alt_name) {
    add_extension(leaf.get(), &context, NID_subject_alt_name, subject_alt_names(options.hosts));
  }
  add_extension(leaf.get(), &context, NID_subject_key_identifier, "hash");
  add_extension(leaf.get(), &context, NID_authority_key_identifier, "keyid:always");
  sign(leaf.get(), issuer_key,
       options.leaf_signature == leaf_digest::sha1 ? EVP_sha1() : EVP_sha256());

  std::string chain = to_pem(leaf.get());
  if (intermediate) chain += to_pem(intermediate.get());
  return test_pki{to_pem(ca.get()), to_pem(ca_key.get()), chain, to_pem(leaf_key.get())};
}

void write_pki(const test_pki& pki, const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw std::system_error(error, "write_pki: create " + dir.string());
  }
  write_file(dir / "ca.pem", pki.ca_cert_pem, 0644);
  write_file(dir / "server.pem", pki.server_cert_pem, 0644);
  write_file(dir / "server.key", pki.server_key_pem, 0600);
}

}  // namespace actoken::stand_in
