#pragma once

/// @file
/// A throw-away test PKI made at run time with the OpenSSL 3 C API: a
/// self-signed CA and a server certificate it signs (directly or through an
/// intermediate CA), on EC P-256 keys or, for the leaf, RSA 2048 or 1024.
/// Nothing is read from or written to disk unless `write_pki` is called.

#include <filesystem>
#include <string>
#include <vector>

namespace actoken::stand_in {

/// A CA and one server certificate it issued, all PEM-encoded.
struct test_pki {
  std::string ca_cert_pem;  ///< the CA certificate (what clients trust)
  std::string ca_key_pem;   ///< the CA's private key
  /// The leaf, signed by the CA; followed by the intermediate CA that signed
  /// it when there is one (the chain a server sends).
  std::string server_cert_pem;
  std::string server_key_pem;  ///< the leaf's private key
};

/// The leaf's key: EC P-256 (ECDSA suites), RSA 2048 (RSA and static-RSA
/// suites), or RSA 1024, which security level 2 refuses (SPEC §1).
enum class leaf_key_kind { p256, rsa2048, rsa1024 };

/// The digest the issuer signs the leaf with: SHA-256, or SHA-1, which
/// security level 2 refuses (SPEC §1).
enum class leaf_digest { sha256, sha1 };

/// How `generate_pki_with` shapes the leaf, for tests of what a client must
/// refuse (SPEC §1 "Transport") as well as what it must accept.
struct pki_options {
  /// Names as written into the certificate: IP literals as iPAddress names,
  /// anything else (wildcards included, e.g. "a*.example.test") as dNSName.
  std::vector<std::string> hosts{"127.0.0.1", "localhost"};
  /// false: no subjectAltName at all; the first host is only the subject CN.
  bool subject_alt_name = true;
  /// true: the leaf is issued by an intermediate CA (itself issued by the
  /// trusted CA), sent after the leaf in `server_cert_pem`.
  bool intermediate = false;
  leaf_key_kind leaf_key = leaf_key_kind::p256;
  leaf_digest leaf_signature = leaf_digest::sha256;
};

/// Makes a fresh CA (basicConstraints CA:TRUE, keyUsage keyCertSign) and a
/// leaf for `hosts` (subjectAltName IP: for IP literals, DNS: otherwise;
/// extendedKeyUsage serverAuth), valid from a day ago to 30 days ahead.
/// Every call gives an unrelated CA. Throws std::runtime_error on failure.
test_pki generate_pki(const std::vector<std::string>& hosts = {"127.0.0.1", "localhost"});

/// Makes a fresh CA and a leaf shaped by `options` (see `pki_options`);
/// `generate_pki(hosts)` is `generate_pki_with({.hosts = hosts})`.
test_pki generate_pki_with(const pki_options& options);

/// Writes `dir`/ca.pem, `dir`/server.pem and `dir`/server.key (mode 0600),
/// creating `dir` when needed. Throws std::runtime_error on failure.
void write_pki(const test_pki& pki, const std::filesystem::path& dir);

}  // namespace actoken::stand_in
