#include "daemon/outputs/cache_file.hpp"

#include "common/base64.hpp"
#include "common/bearer_token.hpp"
#include "common/json_text.hpp"
#include "common/names.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/platform/secure_memory.hpp"

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace actoken::persist {
namespace {

// Version 2 binds auth_url, api_version and scope; version 1 did not.
constexpr int format_version = 2;
constexpr std::size_t salt_size = 16;
constexpr std::size_t nonce_size = 12;  // the GCM standard nonce (NIST SP 800-38D)
constexpr std::size_t tag_size = 16;
constexpr std::size_t key_size = 32;
constexpr std::size_t max_plaintext_size = 64 * 1024;
constexpr std::string_view hkdf_info = "actoken cache v2";

/// Bytes in locked memory, wiped when freed: derived keys and plaintexts.
using secure_bytes = std::vector<unsigned char, platform::secure_allocator<unsigned char>>;
using byte_vector = std::vector<unsigned char>;

template <auto free_function>
struct openssl_deleter {
  template <class T>
  void operator()(T* pointer) const noexcept {
    free_function(pointer);
  }
};
using kdf_ptr = std::unique_ptr<EVP_KDF, openssl_deleter<&EVP_KDF_free>>;
using kdf_ctx_ptr = std::unique_ptr<EVP_KDF_CTX, openssl_deleter<&EVP_KDF_CTX_free>>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, openssl_deleter<&EVP_CIPHER_CTX_free>>;

[[noreturn]] void openssl_failure(const char* what) {
  throw std::runtime_error(std::string("cache file: OpenSSL ") + what + " failed");
}

const unsigned char* as_uchar(const char* p) noexcept {
  return reinterpret_cast<const unsigned char*>(p);
}

// Binary fields travel as padded base64 (common/base64.hpp).
std::string to_base64(const byte_vector& bytes) {
  return base64_encode({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

std::optional<byte_vector> from_base64(std::string_view text) {
  const auto bytes = base64_decode(text);
  if (!bytes) return std::nullopt;
  return byte_vector(bytes->begin(), bytes->end());
}

// --- crypto -----------------------------------------------------------------

byte_vector random_bytes(std::size_t n) {
  byte_vector out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) openssl_failure("RAND_bytes");
  return out;
}

/// HKDF-SHA256(ikm = the org's access key, salt, info) -> 32 bytes (RFC 5869).
secure_bytes derive_key(const platform::secure_buffer& access_key, const byte_vector& salt) {
  const kdf_ptr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) openssl_failure("EVP_KDF_fetch(HKDF)");
  const kdf_ctx_ptr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) openssl_failure("EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  // OSSL_PARAM takes non-const pointers; OpenSSL only reads these.
  const std::array<OSSL_PARAM, 5> params{
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(access_key.data()),
                                        access_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<unsigned char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(hkdf_info.data()),
                                        hkdf_info.size()),
      OSSL_PARAM_construct_end()};
  secure_bytes key(key_size);
  if (EVP_KDF_derive(ctx.get(), key.data(), key.size(), params.data()) != 1) {
    openssl_failure("HKDF");
  }
  return key;
}

/// The associated data: the format label, the org, the sub-org and the
/// settings the token was obtained under (SPEC §6), each length-prefixed so no
/// two different tuples give the same bytes.
std::string associated_data(std::string_view org, const seal_inputs& settings,
                            std::string_view sub_org) {
  std::string aad;
  for (const auto part :
       {hkdf_info, org, sub_org, std::string_view(settings.auth_url),
        upstream::to_string(settings.api_version), std::string_view(settings.scope)}) {
    const auto n = static_cast<std::uint32_t>(part.size());
    for (int shift = 24; shift >= 0; shift -= 8) aad.push_back(static_cast<char>(n >> shift));
    aad.append(part);
  }
  return aad;
}

struct sealed {
  byte_vector ciphertext;
  byte_vector tag;
};

sealed seal(const secure_bytes& key, const byte_vector& nonce, std::string_view aad,
            const platform::secure_buffer& plaintext) {
  const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) openssl_failure("EVP_CIPHER_CTX_new");
  sealed out{byte_vector(plaintext.size() + 16), byte_vector(tag_size)};
  int n = 0;
  int total = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, as_uchar(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.ciphertext.data(), &n, as_uchar(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    openssl_failure("AES-256-GCM encryption");
  }
  total = n;
  if (EVP_EncryptFinal_ex(ctx.get(), out.ciphertext.data() + total, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                          out.tag.data()) != 1) {
    openssl_failure("AES-256-GCM encryption");
  }
  out.ciphertext.resize(static_cast<std::size_t>(total + n));
  return out;
}

/// Decrypts and authenticates; nullopt when the tag does not verify.
std::optional<secure_bytes> unseal(const secure_bytes& key, const byte_vector& nonce,
                                   std::string_view aad, const byte_vector& ciphertext,
                                   byte_vector tag) {
  const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) openssl_failure("EVP_CIPHER_CTX_new");
  secure_bytes plaintext(ciphertext.size() + 16);
  int n = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, as_uchar(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plaintext.data(), &n, ciphertext.data(),
                        static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                          tag.data()) != 1) {
    return std::nullopt;
  }
  const int total = n;
  // Final is where GCM compares the tag: anything else means "not authentic".
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + total, &n) != 1) return std::nullopt;
  plaintext.resize(static_cast<std::size_t>(total + n));
  return plaintext;
}

// --- the plaintext: {"access_token":"...","obtained_at":unix,"expires_at":unix} ---

std::int64_t to_unix(wall_time t) {
  return std::chrono::floor<seconds>(t.time_since_epoch()).count();
}

std::optional<wall_time> from_unix(std::int64_t s) {
  // Only what a wall_time can hold, so the conversion cannot overflow.
  constexpr auto lo = std::chrono::ceil<seconds>(wall_time::min().time_since_epoch()).count();
  constexpr auto hi = std::chrono::floor<seconds>(wall_time::max().time_since_epoch()).count();
  if (s < lo || s > hi) return std::nullopt;
  return wall_time{std::chrono::duration_cast<wall_time::duration>(seconds{s})};
}

// Written by hand into locked memory rather than through nlohmann::json, which
// would leave unwiped copies of the token behind.
platform::secure_buffer plaintext_of(const persisted_token& token) {
  platform::secure_buffer out;
  out.reserve(token.access_token.size() * 6 + 96);  // no regrowth: no stray copies
  out.append(R"({"access_token":)");
  append_json_string(out, token.access_token);
  out.append(R"(,"obtained_at":)" + std::to_string(to_unix(token.obtained_at)));
  out.append(R"(,"expires_at":)" + std::to_string(to_unix(token.expires_at)) + "}");
  return out;
}

// --- names (checked before they reach a log line) -------------------------------

std::string describe(std::size_t index, const std::string& org, const std::string& sub_org) {
  std::string text = "cache file entry " + std::to_string(index) + " (organization " + org;
  if (!sub_org.empty()) text += ", sub-organization " + sub_org;
  return text + ")";
}

/// Decodes one entry of the document; nullopt with `problem` set, or with it
/// empty for an expired entry.
// An entry's text field, or nullopt when it is missing or not a string.
std::optional<std::string> text_field(const nlohmann::json& entry, const char* name) {
  const auto it = entry.find(name);
  if (it == entry.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// What an entry seals, each field base64-decoded and of its size.
struct sealed_fields {
  byte_vector salt, nonce, ciphertext, tag;
};

std::optional<sealed_fields> read_sealed(const nlohmann::json& entry) {
  const auto field = [&entry](const char* name) -> std::optional<byte_vector> {
    const auto text = text_field(entry, name);
    return text ? from_base64(*text) : std::nullopt;
  };
  auto salt = field("salt");
  auto nonce = field("nonce");
  auto ciphertext = field("ciphertext");
  auto tag = field("tag");
  if (!salt || salt->size() != salt_size || !nonce || nonce->size() != nonce_size || !ciphertext ||
      ciphertext->empty() || ciphertext->size() > max_plaintext_size || !tag ||
      tag->size() != tag_size) {
    return std::nullopt;
  }
  return sealed_fields{std::move(*salt), std::move(*nonce), std::move(*ciphertext),
                       std::move(*tag)};
}

// What an entry's plaintext holds.
struct sealed_payload {
  std::string access_token;
  wall_time obtained_at;
  wall_time expires_at;
};

std::optional<sealed_payload> read_payload(const secure_bytes& plaintext) {
  const auto* first = reinterpret_cast<const char*>(plaintext.data());
  const auto inner = nlohmann::json::parse(first, first + plaintext.size(), nullptr, false);
  if (!inner.is_object()) return std::nullopt;
  const auto token = inner.find("access_token");
  const auto obtained = inner.find("obtained_at");
  const auto expires = inner.find("expires_at");
  if (token == inner.end() || !token->is_string() || token->get_ref<const std::string&>().empty() ||
      obtained == inner.end() || !obtained->is_number_integer() || expires == inner.end() ||
      !expires->is_number_integer()) {
    return std::nullopt;
  }
  const auto obtained_at = from_unix(obtained->get<std::int64_t>());
  const auto expires_at = from_unix(expires->get<std::int64_t>());
  if (!obtained_at || !expires_at) return std::nullopt;
  return sealed_payload{token->get<std::string>(), *obtained_at, *expires_at};
}

std::optional<persisted_token> decode_entry(const nlohmann::json& entry, std::size_t index,
                                            const org_lookup& org_of, wall_time now,
                                            std::string& problem) {
  const auto prefix = "cache file entry " + std::to_string(index);
  if (!entry.is_object()) {
    problem = prefix + " is not an object; dropped";
    return std::nullopt;
  }
  const auto org = text_field(entry, "org");
  const auto sub_org = text_field(entry, "sub_org");
  if (!org || !is_valid_org_name(*org) || !sub_org || !(sub_org->empty() || is_guid(*sub_org))) {
    problem = prefix + " has an invalid organization or sub-organization; dropped";
    return std::nullopt;
  }
  const auto who = describe(index, *org, *sub_org);
  const auto sealed = read_sealed(entry);
  if (!sealed) {
    problem = who + " is malformed; dropped";
    return std::nullopt;
  }
  const auto settings = org_of(*org);
  if (!settings || !settings->key || settings->key->empty()) {
    problem = who + ": the organization has no key; dropped";
    return std::nullopt;
  }
  const auto plaintext =
      unseal(derive_key(*settings->key, sealed->salt), sealed->nonce,
             associated_data(*org, *settings, *sub_org), sealed->ciphertext, sealed->tag);
  if (!plaintext) {
    problem = who +
              " does not authenticate (the key, auth_url, api_version or scope changed, or the "
              "file was altered); dropped";
    return std::nullopt;
  }
  auto payload = read_payload(*plaintext);
  if (!payload) {
    problem = who + " has an unreadable payload; dropped";
    return std::nullopt;
  }
  // A restored token passes the same check as an exchanged one (SPEC §3).
  if (auto why = bearer_token_problem(payload->access_token)) {
    problem = who + "'s token " + *why + "; dropped";
    return std::nullopt;
  }
  // Whatever the entry says (one sealed by someone holding the key, a clock
  // set back): never obtained in the future, never kept past 24 h (SPEC §3).
  const auto obtained_at = std::min(payload->obtained_at, now);
  const auto expires_at = std::min(payload->expires_at, obtained_at + max_token_lifetime);
  if (expires_at <= now) return std::nullopt;  // expired: dropped without a word
  return persisted_token{*org, *sub_org, std::move(payload->access_token), obtained_at, expires_at};
}

}  // namespace

std::string encode_cache(const std::vector<persisted_token>& tokens, const org_lookup& org_of,
                         wall_time now) {
  auto entries = nlohmann::json::array();
  // The document around the entries, then each entry and its comma.
  std::size_t size = std::string_view(R"({"entries":[],"version":2})").size() + 1;
  for (const auto& token : tokens) {
    if (token.expires_at <= now) continue;
    const auto settings = org_of(token.org);
    if (!settings || !settings->key || settings->key->empty()) continue;
    const auto salt = random_bytes(salt_size);
    const auto nonce = random_bytes(nonce_size);
    const auto box =
        seal(derive_key(*settings->key, salt), nonce,
             associated_data(token.org, *settings, token.sub_org), plaintext_of(token));
    nlohmann::json entry{{"org", token.org},
                         {"sub_org", token.sub_org},
                         {"salt", to_base64(salt)},
                         {"nonce", to_base64(nonce)},
                         {"ciphertext", to_base64(box.ciphertext)},
                         {"tag", to_base64(box.tag)}};
    // Left out rather than write a file the next start would refuse.
    const auto entry_size = entry.dump().size() + 1;
    if (size + entry_size > max_cache_file_size) continue;
    size += entry_size;
    entries.push_back(std::move(entry));
  }
  const nlohmann::json document{{"version", format_version}, {"entries", std::move(entries)}};
  return document.dump() + "\n";
}

decode_result decode_cache(std::string_view bytes, const org_lookup& org_of, wall_time now) {
  decode_result result;
  const auto document = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    result.problems.emplace_back("cache file is not a valid JSON document; ignored");
    return result;
  }
  const auto version = document.find("version");
  const auto entries = document.find("entries");
  if (version != document.end() && version->is_number_integer() &&
      version->get<std::int64_t>() == 1) {
    // Dropped rather than trusted once: a version 1 entry would be restored
    // even after auth_url or scope changed. The next write replaces the file.
    result.problems.emplace_back(
        "cache file has version 1, whose entries are not bound to auth_url, api_version and "
        "scope; its tokens are dropped (the next write replaces the file)");
    return result;
  }
  if (version == document.end() || !version->is_number_integer() ||
      version->get<std::int64_t>() != format_version || entries == document.end() ||
      !entries->is_array()) {
    result.problems.emplace_back("cache file has an unknown format or version; ignored");
    return result;
  }
  for (std::size_t i = 0; i < entries->size(); ++i) {
    std::string problem;
    auto token = decode_entry((*entries)[i], i, org_of, now, problem);
    if (token) {
      result.tokens.push_back(std::move(*token));
    } else if (!problem.empty()) {
      result.problems.push_back(std::move(problem));
    }
  }
  return result;
}

namespace {

// The cache file's folder, reached by the walk (SPEC §6); never created.
platform::walk_result walk_to_cache_folder(const std::filesystem::path& path, uid_t daemon_uid) {
  return platform::walk_to_folder(platform::folder_of(path), {.daemon_uid = daemon_uid});
}

platform::private_file_rules cache_file_rules(uid_t daemon_uid) {
  return {.daemon_uid = daemon_uid, .max_size = max_cache_file_size};
}

}  // namespace

void write_cache_file(const std::filesystem::path& path, std::string_view data, uid_t daemon_uid) {
  const auto walked = walk_to_cache_folder(path, daemon_uid);
  if (!walked.ok()) throw std::runtime_error("cache file " + path.string() + ": " + walked.problem);
  if (const auto problem = platform::replace_file(walked.folder.get(), path, data)) {
    throw std::runtime_error(*problem);
  }
}

std::optional<std::string> read_cache_file(const std::filesystem::path& path, std::string& problem,
                                           uid_t daemon_uid) {
  problem.clear();
  const auto walked = walk_to_cache_folder(path, daemon_uid);
  if (walked.missing) return std::nullopt;
  if (!walked.ok()) {
    problem = "cache file " + path.string() + ": " + walked.problem;
    return std::nullopt;
  }
  std::string data;
  const auto read =
      platform::read_private_file_in(walked.folder.get(), path, cache_file_rules(daemon_uid), data);
  if (read.missing()) return std::nullopt;
  if (!read.ok()) {
    problem = "cache file " + read.problem;
    return std::nullopt;
  }
  return data;
}

std::string cache_file_problem(const std::filesystem::path& path, uid_t daemon_uid) {
  const auto walked = walk_to_cache_folder(path, daemon_uid);
  if (walked.missing) return {};
  if (!walked.ok()) return "cache file " + path.string() + ": " + walked.problem;
  const auto check =
      platform::check_private_file_in(walked.folder.get(), path, cache_file_rules(daemon_uid));
  return check.refused() ? "cache file " + check.problem : "";
}

std::size_t remove_stale_cache_files(const std::filesystem::path& path, uid_t daemon_uid) {
  const auto walked = walk_to_cache_folder(path, daemon_uid);
  if (!walked.ok()) return 0;
  const auto name = path.filename().string();
  return platform::remove_stale_temporary_files(
      walked.folder.get(), daemon_uid, [&name](std::string_view entry) { return entry == name; });
}

}  // namespace actoken::persist
