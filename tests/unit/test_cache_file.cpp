#include "daemon/outputs/cache_file.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

using namespace actoken;
using namespace actoken::persist;
using namespace std::chrono_literals;
using namespace actoken::testing;
using json = nlohmann::json;

namespace {

const wall_time now{seconds{1'800'000'000}};
const std::string sub_guid = "9b2f6d1e-0000-4000-8000-000000000001";
// header.payload.signature, as a JWT looks.
const std::string jwt_payload =
    "eyJleHAiOjE4MDAwMDM2MDAsImN1cnJlbnRPcmdhbml6YXRpb25JZCI6ImFjbWUifQ";
const std::string acme_token = "eyJhbGciOiJSUzI1NiJ9." + jwt_payload + ".c2lnbmF0dXJlLWFjbWU";
const std::string acme_sub_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtb2JpbGUifQ.c2lnLXN1Yg";
const std::string beta_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZXRhIn0.c2lnLWJldGE";
const std::string acme_key = "QUNNRS1wZXJzb25hbC1hY2Nlc3Mta2V5+/==";
const std::string beta_key = "YmV0YS1rZXktbWF0ZXJpYWw=";

platform::shared_key make_key(const std::string& text) {
  return std::make_shared<const platform::secure_buffer>(text);
}

/// The organizations' keys and settings, which the tests can change.
struct key_store {
  std::map<std::string, platform::shared_key> keys{{"acme", make_key(acme_key)},
                                                   {"beta", make_key(beta_key)}};
  std::map<std::string, std::string> auth_urls;               ///< default https://auth.appcircle.io
  std::map<std::string, upstream::api_version> api_versions;  ///< default v3
  std::map<std::string, std::string> scopes;                  ///< default openid,profile,email

  org_lookup lookup() const {
    return [this](const std::string& org) -> std::optional<seal_inputs> {
      const auto key = keys.find(org);
      if (key == keys.end()) return std::nullopt;
      seal_inputs settings;
      settings.key = key->second;
      const auto url = auth_urls.find(org);
      settings.auth_url = url == auth_urls.end() ? "https://auth.appcircle.io" : url->second;
      const auto version = api_versions.find(org);
      settings.api_version =
          version == api_versions.end() ? upstream::api_version::v3 : version->second;
      const auto scope = scopes.find(org);
      settings.scope = scope == scopes.end() ? "openid,profile,email" : scope->second;
      return settings;
    };
  }
};

std::vector<persisted_token> sample_tokens() {
  return {{"acme", "", acme_token, now - 60s, now + 3600s},
          {"acme", sub_guid, acme_sub_token, now - 30s, now + 1800s},
          {"beta", "", beta_token, now - 10s, now + 600s}};
}

bool same(const persisted_token& a, const persisted_token& b) {
  return a.org == b.org && a.sub_org == b.sub_org && a.access_token == b.access_token &&
         a.obtained_at == b.obtained_at && a.expires_at == b.expires_at;
}

bool mentions(const std::vector<std::string>& problems, const std::string& word) {
  for (const auto& p : problems) {
    if (p.find(word) != std::string::npos) return true;
  }
  return false;
}

// Changes the first base64 digit of a field, which changes its first byte.
std::string tamper(const std::string& file, std::size_t entry, const char* field) {
  auto doc = json::parse(file);
  auto text = doc["entries"][entry][field].get<std::string>();
  text[0] = text[0] == 'A' ? 'B' : 'A';
  doc["entries"][entry][field] = text;
  return doc.dump();
}

/// A fresh folder under /tmp, removed afterwards.
const uid_t me = ::geteuid();

}  // namespace

TEST_CASE("round trip: two organizations and a sub-organization") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  const auto doc = json::parse(file);
  CHECK(doc["version"] == 2);
  REQUIRE(doc["entries"].size() == 3);
  CHECK(doc["entries"][0]["org"] == "acme");
  CHECK(doc["entries"][1]["sub_org"] == sub_guid);

  const auto result = decode_cache(file, store.lookup(), now);
  CHECK(result.problems.empty());
  REQUIRE(result.tokens.size() == 3);
  const auto expected = sample_tokens();
  for (std::size_t i = 0; i < 3; ++i) CHECK(same(result.tokens[i], expected[i]));
}

TEST_CASE("each entry has its own salt and nonce") {
  const key_store store;
  const auto doc = json::parse(encode_cache(sample_tokens(), store.lookup(), now));
  CHECK(doc["entries"][0]["salt"] != doc["entries"][1]["salt"]);
  CHECK(doc["entries"][0]["nonce"] != doc["entries"][1]["nonce"]);
  // Two encodings of the same token differ.
  const auto again = json::parse(encode_cache(sample_tokens(), store.lookup(), now));
  CHECK(doc["entries"][0]["ciphertext"] != again["entries"][0]["ciphertext"]);
}

TEST_CASE("every b64token character survives; times keep whole seconds") {
  const key_store store;
  const std::string all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
  const persisted_token token{"acme", "", all, now - 1500ms, now + 100s + 900ms};
  const auto result = decode_cache(encode_cache({token}, store.lookup(), now), store.lookup(), now);
  REQUIRE(result.tokens.size() == 1);
  CHECK(result.tokens[0].access_token == all);
  CHECK(result.tokens[0].obtained_at == now - 2s);
  CHECK(result.tokens[0].expires_at == now + 100s);
}

TEST_CASE("a sealed token that could not be handed out is dropped, named by its byte only") {
  const key_store store;
  const std::string odds[] = {"a\"b", "line\nbreak", std::string("nul\0x", 5), "esc\x1b[2J",
                              "caf\xc3\xa9"};
  for (const auto& odd : odds) {
    CAPTURE(odd);
    const persisted_token token{"acme", "", odd, now - 1s, now + 100s};
    const auto result =
        decode_cache(encode_cache({token}, store.lookup(), now), store.lookup(), now);
    CHECK(result.tokens.empty());
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].find("has a byte outside") != std::string::npos);
    CHECK(result.problems[0].find(odd) == std::string::npos);
  }
}

TEST_CASE("the file holds neither tokens nor keys in clear") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  for (const auto& secret : {acme_token, acme_sub_token, beta_token, jwt_payload,
                             std::string("c2lnbmF0dXJlLWFjbWU"), acme_key, beta_key}) {
    CHECK(file.find(secret) == std::string::npos);
  }
  CHECK(file.find("acme") != std::string::npos);  // names are not secret
}

TEST_CASE("tampering with one field drops that entry only") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  for (const char* field : {"ciphertext", "tag", "nonce", "salt"}) {
    CAPTURE(field);
    const auto result = decode_cache(tamper(file, 2, field), store.lookup(), now);
    REQUIRE(result.tokens.size() == 2);
    CHECK(result.tokens[0].org == "acme");
    CHECK(result.tokens[1].org == "acme");
    REQUIRE(result.problems.size() == 1);
    CHECK(mentions(result.problems, "beta"));
    CHECK(mentions(result.problems, "authenticate"));
  }
}

TEST_CASE("an entry moved to another organization or sub-organization is dropped") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);

  SUBCASE("to another org that has a key") {
    auto doc = json::parse(file);
    doc["entries"][0]["org"] = "beta";
    const auto result = decode_cache(doc.dump(), store.lookup(), now);
    CHECK(result.tokens.size() == 2);
    REQUIRE(result.problems.size() == 1);
    CHECK(mentions(result.problems, "beta"));
  }
  SUBCASE("to an org with the same key") {
    key_store twins = store;
    twins.keys["gamma"] = twins.keys["acme"];
    auto doc = json::parse(file);
    doc["entries"][0]["org"] = "gamma";
    const auto result = decode_cache(doc.dump(), twins.lookup(), now);
    CHECK(result.tokens.size() == 2);
    CHECK(mentions(result.problems, "gamma"));
  }
  SUBCASE("a sub-org token presented as the root token") {
    auto doc = json::parse(file);
    doc["entries"][1]["sub_org"] = "";
    const auto result = decode_cache(doc.dump(), store.lookup(), now);
    REQUIRE(result.tokens.size() == 2);
    CHECK(result.tokens[0].access_token == acme_token);
    CHECK(result.tokens[1].access_token == beta_token);
  }
  SUBCASE("sealed fields swapped between entries") {
    auto doc = json::parse(file);
    std::swap(doc["entries"][0]["org"], doc["entries"][2]["org"]);
    const auto result = decode_cache(doc.dump(), store.lookup(), now);
    CHECK(result.tokens.size() == 1);
    CHECK(result.problems.size() == 2);
  }
  SUBCASE("a name that could not be an organization is not echoed") {
    auto doc = json::parse(file);
    doc["entries"][0]["org"] = "evil\nFAKE LOG LINE";
    const auto result = decode_cache(doc.dump(), store.lookup(), now);
    CHECK(result.tokens.size() == 2);
    REQUIRE(result.problems.size() == 1);
    CHECK(!mentions(result.problems, "FAKE"));
  }
}

TEST_CASE("a changed key drops that organization's entries; an unknown org is reported") {
  key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  store.keys["acme"] = make_key("a-new-key-for-acme");
  auto result = decode_cache(file, store.lookup(), now);
  REQUIRE(result.tokens.size() == 1);
  CHECK(result.tokens[0].org == "beta");
  CHECK(result.problems.size() == 2);
  CHECK(mentions(result.problems, "acme"));
  CHECK(!mentions(result.problems, "beta"));

  store.keys.erase("beta");
  result = decode_cache(file, store.lookup(), now);
  CHECK(result.tokens.empty());
  CHECK(result.problems.size() == 3);
  CHECK(mentions(result.problems, "beta"));
  CHECK(mentions(result.problems, "no key"));
}

TEST_CASE("an entry is bound to its organization's auth_url, api_version and scope") {
  key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  SUBCASE("auth_url") { store.auth_urls["acme"] = "https://auth.other.example"; }
  SUBCASE("api_version") { store.api_versions["acme"] = upstream::api_version::v2; }
  SUBCASE("scope") { store.scopes["acme"] = "openid"; }
  // As a reload would: acme's two entries go, beta's stays.
  const auto result = decode_cache(file, store.lookup(), now);
  REQUIRE(result.tokens.size() == 1);
  CHECK(result.tokens[0].org == "beta");
  REQUIRE(result.problems.size() == 2);
  CHECK(mentions(result.problems, "acme"));
  CHECK(mentions(result.problems, "auth_url, api_version or scope changed"));
}

TEST_CASE("a version 1 file (entries not bound to the settings) is dropped with one line") {
  const key_store store;
  auto doc = json::parse(encode_cache(sample_tokens(), store.lookup(), now));
  doc["version"] = 1;
  const auto result = decode_cache(doc.dump(), store.lookup(), now);
  CHECK(result.tokens.empty());
  REQUIRE(result.problems.size() == 1);
  CHECK(mentions(result.problems, "version 1"));
  CHECK(mentions(result.problems, "next write replaces the file"));
}

TEST_CASE("a restored token keeps at most 24 h from when it was obtained, never from the future") {
  const key_store store;
  const auto restore = [&store](const persisted_token& token) {
    auto result = decode_cache(encode_cache({token}, store.lookup(), now), store.lookup(), now);
    CHECK(result.problems.empty());
    return result.tokens;
  };
  SUBCASE("an entry claiming ten years is cut to 24 h after it was obtained") {
    const auto back = restore({"acme", "", acme_token, now - 1h, now + 24h * 3650});
    REQUIRE(back.size() == 1);
    CHECK(back[0].obtained_at == now - 1h);
    CHECK(back[0].expires_at == now + 23h);
  }
  SUBCASE("an entry obtained in the future counts as obtained now") {
    const auto back = restore({"acme", "", acme_token, now + 24h * 3650, now + 24h * 3651});
    REQUIRE(back.size() == 1);
    CHECK(back[0].obtained_at == now);
    CHECK(back[0].expires_at == now + 24h);
  }
  SUBCASE("an entry obtained over 24 h ago is dropped, however long it claims") {
    CHECK(restore({"acme", "", acme_token, now - 25h, now + 1h}).empty());
  }
  SUBCASE("a token within the cap is kept as it is") {
    const auto back = restore({"acme", "", acme_token, now - 1h, now + 1h});
    REQUIRE(back.size() == 1);
    CHECK(back[0].expires_at == now + 1h);
  }
}

TEST_CASE("organizations without a key are not written") {
  key_store store;
  store.keys.erase("beta");
  const auto doc = json::parse(encode_cache(sample_tokens(), store.lookup(), now));
  CHECK(doc["entries"].size() == 2);
}

TEST_CASE("expired tokens are neither written nor read back, silently") {
  const key_store store;
  auto tokens = sample_tokens();
  tokens.push_back({"beta", sub_guid, "gone", now - 700s, now});
  const auto file = encode_cache(tokens, store.lookup(), now);
  CHECK(json::parse(file)["entries"].size() == 3);

  // 1000 s later the beta token (600 s) has expired, acme's have not.
  auto result = decode_cache(file, store.lookup(), now + 1000s);
  CHECK(result.problems.empty());
  REQUIRE(result.tokens.size() == 2);
  CHECK(result.tokens[0].org == "acme");
  result = decode_cache(file, store.lookup(), now + 3600s);
  CHECK(result.tokens.empty());
  CHECK(result.problems.empty());
}

TEST_CASE("a truncated file never crashes and yields a problem") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  const auto closing = file.rfind('}');
  REQUIRE(closing != std::string::npos);
  for (std::size_t length = 0; length <= closing; ++length) {
    CAPTURE(length);
    const auto result = decode_cache(std::string_view(file).substr(0, length), store.lookup(), now);
    CHECK(result.tokens.empty());
    CHECK(result.problems.size() == 1);
  }
}

TEST_CASE("a truncated field inside valid JSON drops the entry") {
  const key_store store;
  const auto file = encode_cache(sample_tokens(), store.lookup(), now);
  for (const char* field : {"ciphertext", "tag", "nonce", "salt"}) {
    for (const std::size_t cut : {1U, 4U, 8U}) {
      CAPTURE(field);
      CAPTURE(cut);
      auto doc = json::parse(file);
      auto text = doc["entries"][0][field].get<std::string>();
      doc["entries"][0][field] = text.substr(0, text.size() - cut);
      const auto result = decode_cache(doc.dump(), store.lookup(), now);
      CHECK(result.tokens.size() == 2);
      REQUIRE(result.problems.size() == 1);
      CHECK(mentions(result.problems, "acme"));
    }
  }
}

TEST_CASE("garbage and foreign documents yield problems, not tokens") {
  const key_store store;
  std::string binary;
  for (int i = 0; i < 512; ++i) binary.push_back(static_cast<char>((i * 37 + 11) % 256));
  for (const std::string& bytes : {binary, std::string(), std::string("null"), std::string("[]"),
                                   std::string("{}"), std::string(R"({"version":3,"entries":[]})"),
                                   std::string(R"({"version":"1","entries":[]})"),
                                   std::string(R"({"version":1,"entries":{}})")}) {
    const auto result = decode_cache(bytes, store.lookup(), now);
    CHECK(result.tokens.empty());
    CHECK(result.problems.size() == 1);
  }
  const auto result = decode_cache(
      R"({"version":2,"entries":[1,{},{"org":"acme","sub_org":"","salt":"!!","nonce":3}]})",
      store.lookup(), now);
  CHECK(result.tokens.empty());
  CHECK(result.problems.size() == 3);
  CHECK(decode_cache(R"({"version":2,"entries":[]})", store.lookup(), now).problems.empty());
}

TEST_CASE("write_cache_file writes mode 0600 and replaces the old content") {
  const scratch_dir dir;
  const auto path = dir.path() / "tokens.cache";
  write_cache_file(path, "first", me);
  CHECK(slurp(path) == "first");
  CHECK(mode_of(path) == 0600U);

  write_cache_file(path, "second, longer content", me);
  CHECK(slurp(path) == "second, longer content");
  CHECK(mode_of(path) == 0600U);
  // No temporary file is left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                      std::filesystem::directory_iterator()) == 1);

  std::string problem;
  const auto back = read_cache_file(path, problem, me);
  REQUIRE(back.has_value());
  CHECK(*back == "second, longer content");
  CHECK(problem.empty());
}

TEST_CASE("write_cache_file names the path when it fails") {
  const scratch_dir dir;
  const auto path = dir.path() / "missing-folder" / "tokens.cache";
  CHECK_THROWS_WITH(write_cache_file(path, "x", me),
                    ("cache file " + path.string() + ": " +
                     (dir.path() / "missing-folder").string() + " does not exist")
                        .c_str());
}

// SPEC §6: the cache file's folder is reached by the walk; a folder others
// could write, on the way or holding the file, is refused, nothing is read
// from it and nothing written.
TEST_CASE("a folder on the way others may write: nothing read, nothing written, the reason said") {
  const scratch_dir dir;
  const auto open = dir.path() / "open";
  std::filesystem::create_directory(open);
  std::filesystem::permissions(open, std::filesystem::perms(0777));
  const auto in_open = open / "tokens.cache";
  const auto reason = "cache file " + in_open.string() + ": " + open.string() +
                      " is writable by others (mode 0777)";
  CHECK_THROWS_WITH(write_cache_file(in_open, "x", me), reason.c_str());
  CHECK(std::filesystem::is_empty(open));
  std::string problem;
  CHECK_FALSE(read_cache_file(in_open, problem, me).has_value());
  CHECK(problem == reason);
  CHECK(cache_file_problem(in_open, me) == reason);

  std::filesystem::permissions(open, std::filesystem::perms(0775));
  const auto below = open / "cache";
  std::filesystem::create_directory(below);
  std::filesystem::permissions(below, std::filesystem::perms(0700));
  const auto in_below = below / "tokens.cache";
  CHECK(cache_file_problem(in_below, me) == "cache file " + in_below.string() + ": " +
                                                open.string() +
                                                " is writable by its group (mode 0775)");
  CHECK_THROWS(write_cache_file(in_below, "x", me));
  CHECK(std::filesystem::is_empty(below));
}

TEST_CASE("read_cache_file: missing is quiet, loose or odd files are refused") {
  const scratch_dir dir;
  std::string problem = "stale";
  CHECK(!read_cache_file(dir.path() / "absent", problem, me).has_value());
  CHECK(problem.empty());
  CHECK(!read_cache_file(dir.path() / "no-folder" / "absent", problem, me).has_value());
  CHECK(problem.empty());

  const auto loose = dir.path() / "loose.cache";
  write_cache_file(loose, "{}", me);
  std::filesystem::permissions(loose, std::filesystem::perms(0644));
  CHECK(!read_cache_file(loose, problem, me).has_value());
  CHECK(problem ==
        "cache file " + loose.string() + " has mode 0644: group- or world-readable; chmod 600 it");
  CHECK(cache_file_problem(loose, me) == problem);

  // Read back from the folder the walk reached, never through a link (SPEC §6).
  const auto good = dir.path() / "good.cache";
  write_cache_file(good, "{}", me);
  const auto link = dir.path() / "link.cache";
  std::filesystem::create_symlink(good, link);
  CHECK(!read_cache_file(link, problem, me).has_value());
  CHECK(problem == "cache file " + link.string() + " is a symbolic link");
  CHECK(cache_file_problem(link, me) == problem);

  CHECK(!read_cache_file(dir.path(), problem, me).has_value());
  CHECK(!problem.empty());

  const auto fifo = dir.path() / "fifo.cache";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(!read_cache_file(fifo, problem, me).has_value());
  CHECK(problem.find("is a FIFO") != std::string::npos);

  // Another user's file: neither read nor replaced.
  const auto theirs = dir.path() / "theirs.cache";
  write_cache_file(theirs, "{}", me);
  REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
  CHECK(cache_file_problem(theirs, me) ==
        "cache file " + theirs.string() +
            " is owned by uid 65534, neither the daemon's user nor root");

  // 1 MiB at most.
  const auto big = dir.path() / "big.cache";
  write_cache_file(big, std::string(max_cache_file_size, ' '), me);
  CHECK(read_cache_file(big, problem, me).has_value());
  write_cache_file(big, std::string(max_cache_file_size + 1, ' '), me);
  CHECK(!read_cache_file(big, problem, me).has_value());
  CHECK(problem.find("is larger than 1 MiB") != std::string::npos);

  CHECK(cache_file_problem(dir.path() / "absent", me).empty());
  CHECK(cache_file_problem(good, me).empty());
}

TEST_CASE("temporary files a killed writer left are removed, only through the walk") {
  const scratch_dir dir;
  const auto path = dir.path() / "tokens.cache";
  write_cache_file(path, "{}", me);
  { std::ofstream(dir.path() / ".tokens.cache.tmp123") << "left"; }
  { std::ofstream(dir.path() / ".other.tmp123") << "not ours"; }
  CHECK(remove_stale_cache_files(path, me) == 1);
  CHECK(remove_stale_cache_files(dir.path() / "absent" / "tokens.cache", me) == 0);
  CHECK(std::filesystem::exists(dir.path() / ".other.tmp123"));
}

TEST_CASE("encode_cache leaves out what would take the file over the size cap") {
  const key_store store;
  // Tokens of 16 KiB (the longest an auth server may send) until well over 1 MiB.
  std::vector<persisted_token> many;
  for (int i = 0; i < 80; ++i) {
    many.push_back({"acme", "", std::string(16384, static_cast<char>('a' + i % 26)),
                    now - std::chrono::seconds{10}, now + std::chrono::hours{1}});
    many.back().sub_org = "9b2f6d1e-0000-4000-8000-0000000000" + std::to_string(10 + i);
  }
  const auto bytes = encode_cache(many, store.lookup(), now);
  CHECK(bytes.size() <= max_cache_file_size);
  CHECK(bytes.size() > max_cache_file_size * 9 / 10);  // filled, not emptied
  const auto back = decode_cache(bytes, store.lookup(), now);
  CHECK(back.problems.empty());
  CHECK(back.tokens.size() > 40);
  CHECK(back.tokens.size() < many.size());
}

TEST_CASE("write then read then decode: the whole path") {
  const scratch_dir dir;
  const key_store store;
  const auto path = dir.path() / "tokens.cache";
  write_cache_file(path, encode_cache(sample_tokens(), store.lookup(), now), me);
  std::string problem;
  const auto bytes = read_cache_file(path, problem, me);
  REQUIRE(bytes.has_value());
  const auto result = decode_cache(*bytes, store.lookup(), now);
  CHECK(result.tokens.size() == 3);
  CHECK(result.problems.empty());
}

TEST_CASE("an authenticated entry whose payload has an empty token is dropped as unreadable") {
  const key_store store;
  const persisted_token empty{"acme", "", "", now - 1s, now + 100s};
  const auto result = decode_cache(encode_cache({empty}, store.lookup(), now), store.lookup(), now);
  CHECK(result.tokens.empty());
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0] ==
        "cache file entry 0 (organization acme) has an unreadable payload; dropped");
}

// OpenSSL failing (tests/fault): sealing is not done half-way, it throws and
// the caller keeps the old file; opening an entry that OpenSSL cannot take
// apart drops that entry as not authentic, never hands out its bytes.
TEST_CASE("OpenSSL failing while sealing throws, naming the step; never a half-sealed entry") {
  const key_store store;
  const auto sealing_fails = [&](const char* call, int skip, const std::string& step) {
    CAPTURE(call);
    CAPTURE(skip);
    const fault_scope f({.call = call, .skip = skip});
    CHECK_THROWS_WITH_AS(encode_cache(sample_tokens(), store.lookup(), now),
                         ("cache file: OpenSSL " + step + " failed").c_str(), std::runtime_error);
    CHECK(f.hits() == 1);
  };
  sealing_fails("RAND_bytes", 0, "RAND_bytes");
  sealing_fails("EVP_KDF_fetch", 0, "EVP_KDF_fetch(HKDF)");
  sealing_fails("EVP_KDF_CTX_new", 0, "EVP_KDF_CTX_new");
  sealing_fails("EVP_KDF_derive", 0, "HKDF");
  sealing_fails("EVP_CIPHER_CTX_new", 0, "EVP_CIPHER_CTX_new");
  for (const int skip : {0, 1}) {
    sealing_fails("EVP_EncryptInit_ex", skip, "AES-256-GCM encryption");
    sealing_fails("EVP_EncryptUpdate", skip, "AES-256-GCM encryption");
    sealing_fails("EVP_CIPHER_CTX_ctrl", skip, "AES-256-GCM encryption");  // IV length, tag
  }
  sealing_fails("EVP_EncryptFinal_ex", 0, "AES-256-GCM encryption");
}

TEST_CASE("OpenSSL failing while opening an entry drops it as not authentic") {
  const key_store store;
  const auto file = encode_cache({sample_tokens()[0]}, store.lookup(), now);
  const auto opening_fails = [&](const char* call, int skip) {
    CAPTURE(call);
    CAPTURE(skip);
    const fault_scope f({.call = call, .skip = skip});
    const auto result = decode_cache(file, store.lookup(), now);
    CHECK(f.hits() == 1);
    CHECK(result.tokens.empty());
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].find("does not authenticate") != std::string::npos);
  };
  for (const int skip : {0, 1}) {
    opening_fails("EVP_DecryptInit_ex", skip);
    opening_fails("EVP_DecryptUpdate", skip);
    opening_fails("EVP_CIPHER_CTX_ctrl", skip);  // IV length, tag
  }
  {
    const fault_scope f({.call = "EVP_CIPHER_CTX_new"});
    CHECK_THROWS_WITH_AS(decode_cache(file, store.lookup(), now),
                         "cache file: OpenSSL EVP_CIPHER_CTX_new failed", std::runtime_error);
  }
  // Nothing armed: the same file opens.
  CHECK(decode_cache(file, store.lookup(), now).tokens.size() == 1);
}
