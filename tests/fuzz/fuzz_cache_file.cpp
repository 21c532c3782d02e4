// The encrypted cache file (daemon/outputs/cache_file.hpp), two ways per input:
//
// 1. the bytes as a cache file -> decode_cache. Properties: nothing crashes or
//    throws; a document that is not JSON gives one problem and no token; every
//    token restored belongs to an organization with a key, is unexpired and
//    within the 24 h cap, has a sub_org that is "" or a GUID and a non-empty
//    token; no problem line is empty or carries a key.
// 2. the bytes as a recipe (FuzzedDataProvider) for up to 4 tokens ->
//    encode_cache -> decode_cache. Property: exactly the tokens that have a key
//    and are unexpired at whole-second precision (after the 24 h cap) come
//    back, in order, with their times rounded down to the second, obtained_at
//    at most now and expires_at at most 24 h after it, and without any
//    problem; a long token never appears in the file in the clear.
//
// `ACTOKEN_FUZZ_WRITE_SEED=PATH fuzz_cache_file` writes a real cache file made
// with this target's keys to PATH and exits (how corpus/fuzz_cache_file/ was made).
#include "common/bearer_token.hpp"
#include "daemon/outputs/cache_file.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace actoken;
using namespace std::chrono_literals;

// 2026-01-01T00:00:00Z: "now" for every run, a whole second.
const wall_time now{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
const std::string acme_key = "QUNNRS1mdXp6LWtleS0wMDAx+/Zm9vYmFyYmF6cXV4==";
const std::string beta_key = "QkVUQS1mdXp6LWtleS0wMDAy+/cXV1eGNvcmdlZ3JhdWx0";
const std::string sub_guid = "9b2f6d1e-0000-4000-8000-000000000001";

persist::seal_inputs settings_with(const std::string& key) {
  return {std::make_shared<const platform::secure_buffer>(key), "https://auth.appcircle.io",
          upstream::api_version::v3, "openid,profile,email"};
}

std::optional<persist::seal_inputs> org_of(const std::string& org) {
  static const auto acme = settings_with(acme_key);
  static const auto beta = settings_with(beta_key);
  if (org == "acme") return acme;
  if (org == "beta") return beta;
  return std::nullopt;  // "gamma" and the rest: no key
}

platform::shared_key key_of(const std::string& org) {
  const auto settings = org_of(org);
  return settings ? settings->key : nullptr;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool is_sub_org(std::string_view id) {
  if (id.empty()) return true;
  if (id.size() != 36) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = id[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

wall_time floor_second(wall_time t) { return std::chrono::floor<seconds>(t); }

void decode_raw(std::string_view bytes) {
  const auto result = persist::decode_cache(bytes, org_of, now);
  for (const auto& token : result.tokens) {
    ACTOKEN_FUZZ_CHECK(key_of(token.org) != nullptr, "a token restored for an org without a key");
    ACTOKEN_FUZZ_CHECK(token.expires_at > now, "an expired token restored");
    ACTOKEN_FUZZ_CHECK(token.obtained_at <= now, "a token restored as obtained in the future");
    ACTOKEN_FUZZ_CHECK(token.expires_at <= token.obtained_at + max_token_lifetime,
                       "a token restored for more than 24 h");
    ACTOKEN_FUZZ_CHECK(is_sub_org(token.sub_org), "a token restored with a bad sub_org");
    ACTOKEN_FUZZ_CHECK(!token.access_token.empty(), "an empty token restored");
  }
  for (const auto& problem : result.problems) {
    ACTOKEN_FUZZ_CHECK(!problem.empty(), "an empty problem line");
    for (const auto* key : {&acme_key, &beta_key}) {
      ACTOKEN_FUZZ_CHECK(!contains(problem, *key) || contains(bytes, *key),
                         "a problem line carries a key");
    }
  }
  if (!result.problems.empty() && result.tokens.empty() && result.problems.size() == 1) return;
  // A document that is not JSON gives exactly one problem and nothing else.
  const bool json =
      !nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false).is_discarded();
  ACTOKEN_FUZZ_CHECK(json, "a non-JSON document gave tokens or several problems");
}

// A token: usually only RFC 6750 b64token characters, as the daemon caches
// them; else printable ASCII and control characters (escaped in the file),
// sometimes a multi-byte character, as a forged entry could hold.
std::string token_text(FuzzedDataProvider& fdp) {
  static constexpr std::string_view b64token =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
  const bool handable = fdp.ConsumeIntegralInRange<int>(0, 3) != 0;
  const auto raw = fdp.ConsumeRandomLengthString(300);
  std::string out;
  for (const char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (handable) {
      out.push_back(b64token[u % b64token.size()]);
    } else if (u == 0xFF) {
      out += "\xC3\xA9";  // é
    } else {
      out.push_back(static_cast<char>(u & 0x7FU));
    }
  }
  if (out.empty()) out = "t";
  return out;
}

std::string guid_text(FuzzedDataProvider& fdp) {
  static constexpr std::string_view digits = "0123456789abcdefABCDEF";
  std::string out;
  for (std::size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      out.push_back('-');
    } else {
      out.push_back(digits[fdp.ConsumeIntegralInRange<std::size_t>(0, digits.size() - 1)]);
    }
  }
  return out;
}

wall_time time_near_now(FuzzedDataProvider& fdp) {
  const auto s = fdp.ConsumeIntegralInRange<std::int64_t>(-100'000'000, 100'000'000);
  const auto ns = fdp.ConsumeIntegralInRange<std::int64_t>(0, 999'999'999);
  return now + seconds{s} +
         std::chrono::duration_cast<wall_clock::duration>(std::chrono::nanoseconds{ns});
}

void round_trip(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  std::vector<persist::persisted_token> tokens(fdp.ConsumeIntegralInRange<std::size_t>(0, 4));
  for (auto& token : tokens) {
    token.org = fdp.PickValueInArray({"acme", "beta", "gamma"});
    token.sub_org = fdp.ConsumeBool() ? std::string() : guid_text(fdp);
    token.access_token = token_text(fdp);
    token.obtained_at = time_near_now(fdp);
    token.expires_at = fdp.ConsumeBool() ? token.obtained_at + 1h : time_near_now(fdp);
  }

  const auto file = persist::encode_cache(tokens, org_of, now);
  const auto back = persist::decode_cache(file, org_of, now);

  // What a restore makes of each token: whole seconds, never obtained in the
  // future, at most 24 h from when it was obtained.
  std::vector<persist::persisted_token> expected;
  std::size_t refused = 0;  // written, but not a token that could be handed out
  for (auto token : tokens) {
    const bool written = token.expires_at > now;
    if (written && key_of(token.org) && bearer_token_problem(token.access_token)) {
      ++refused;
      continue;
    }
    token.obtained_at = std::min(floor_second(token.obtained_at), now);
    token.expires_at =
        std::min(floor_second(token.expires_at), token.obtained_at + max_token_lifetime);
    if (key_of(token.org) && written && token.expires_at > now) expected.push_back(token);
    // Ciphertext is base64 and tokens have no '"': a long token can only be
    // in the file if it was written in the clear.
    if (token.access_token.size() >= 40 && !contains(token.access_token, "\"")) {
      ACTOKEN_FUZZ_CHECK(!contains(file, token.access_token), "a token in the clear in the file");
    }
  }
  // A freshly encoded file has one problem per such token, and no other.
  ACTOKEN_FUZZ_CHECK(back.problems.size() == refused, "a freshly encoded file has problems");
  ACTOKEN_FUZZ_CHECK(back.tokens.size() == expected.size(), "the round trip lost or added tokens");
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& got = back.tokens[i];
    const auto& want = expected[i];
    ACTOKEN_FUZZ_CHECK(got.org == want.org && got.sub_org == want.sub_org,
                       "the round trip changed a token's organization");
    ACTOKEN_FUZZ_CHECK(got.access_token == want.access_token, "the round trip changed a token");
    ACTOKEN_FUZZ_CHECK(got.obtained_at == want.obtained_at && got.expires_at == want.expires_at,
                       "the round trip changed a token's times");
  }
}

void write_seed(const char* path) {
  const std::vector<persist::persisted_token> tokens{
      {"acme", "",
       "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NjcyMzI4MDAsImN1cnJlbnRPcmdhbml6YXRpb25JZCI6ImFjbWUifQ."
       "c2lnbmF0dXJlLWFjbWU",
       now - 60s, now + 1h},
      {"acme", sub_guid, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtb2JpbGUifQ.c2lnLXN1Yg", now - 30s,
       now + 30min},
      {"beta", "", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZXRhIn0.c2lnLWJldGE", now - 10s, now + 10min}};
  std::ofstream(path, std::ios::binary) << persist::encode_cache(tokens, org_of, now);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  spdlog::set_level(spdlog::level::off);
  if (const char* path = std::getenv("ACTOKEN_FUZZ_WRITE_SEED")) {
    write_seed(path);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    decode_raw({reinterpret_cast<const char*>(data), size});
    round_trip(data, size);
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "the cache file codec threw", e.what());
  }
  return 0;
}
