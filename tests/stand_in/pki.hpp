#pragma once

/// @file
/// A throw-away test PKI made at run time with the OpenSSL 3 C API: a
/// self-signed CA and a server certificate it signs, both on EC P-256 keys.
/// Nothing is read from or written to disk unless `write_pki` is called.

#include <filesystem>
#include <string>
#include <vector>

namespace actoken::stand_in {

/// A CA and one server certificate it issued, all PEM-encoded.
struct test_pki {
  std::string ca_cert_pem;      ///< the CA certificate (what clients trust)
  std::string ca_key_pem;       ///< the CA's private key
  std::string server_cert_pem;  ///< the leaf, signed by the CA
  std::string server_key_pem;   ///< the leaf's private key
};

/// Makes a fresh CA (basicConstraints CA:TRUE, keyUsage keyCertSign) and a
/// leaf for `hosts` (subjectAltName IP: for IP literals, DNS: otherwise;
/// extendedKeyUsage serverAuth), valid from a day ago to 30 days ahead.
/// Every call gives an unrelated CA. Throws std::runtime_error on failure.
test_pki generate_pki(const std::vector<std::string>& hosts = {"127.0.0.1", "localhost"});

/// Writes `dir`/ca.pem, `dir`/server.pem and `dir`/server.key (mode 0600),
/// creating `dir` when needed. Throws std::runtime_error on failure.
void write_pki(const test_pki& pki, const std::filesystem::path& dir);

}  // namespace actoken::stand_in
