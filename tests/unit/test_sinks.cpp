// What each sink format writes (SPEC §6 "Sinks"): pure, no files.
#include "daemon/outputs/sinks.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace actoken;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

tokens::cached_token sample_token() {
  tokens::cached_token token;
  token.access_token = "eyJ.payload.sig";
  token.obtained_at = wall_time{} + 1000s;
  token.expires_at = wall_time{} + 4600s;
  tokens::render_json_members(token);
  return token;
}

sink_text render(sink_format format, std::optional<std::string_view> existing = std::nullopt,
                 std::string_view sub = "") {
  return render_sink(format, "acme", sub, sample_token(), wall_time{} + 1600s, existing);
}

}  // namespace

TEST_CASE("token, env and json") {
  CHECK(render(sink_format::token).text == "eyJ.payload.sig\n");
  CHECK(render(sink_format::env).text == "AC_ACCESS_TOKEN=eyJ.payload.sig\n");
  const auto text = render(sink_format::json, std::nullopt, "mobile").text;
  CHECK(text.back() == '\n');
  const auto object = json::parse(text);
  CHECK(object == json::parse(R"({"org":"acme","sub_org":"mobile","access_token":"eyJ.payload.sig",
      "token_type":"Bearer","expires_at":"1970-01-01T01:16:40Z","obtained_at":"1970-01-01T00:16:40Z",
      "expires_in":3000,"source":"exchange"})"));
}

TEST_CASE(
    "appcircle-cli: only envs[current].AC_ACCESS_TOKEN changes; a missing file gets the defaults") {
  const auto created = json::parse(render(sink_format::appcircle_cli).text);
  CHECK(created == json::parse(R"({"current":"default","envs":{"default":{
      "API_HOSTNAME":"https://api.appcircle.io","AUTH_HOSTNAME":"https://auth.appcircle.io",
      "AC_ACCESS_TOKEN":"eyJ.payload.sig"}}})"));
  const auto kept = json::parse(
      render(sink_format::appcircle_cli,
             std::string_view(
                 R"({"current":"staging","x":[1,2],"envs":{"default":{"AC_ACCESS_TOKEN":"d"},
               "staging":{"API_HOSTNAME":"https://api.example","AC_ACCESS_TOKEN":"s","y":null}}})"))
          .text);
  CHECK(kept ==
        json::parse(R"({"current":"staging","x":[1,2],"envs":{"default":{"AC_ACCESS_TOKEN":"d"},
      "staging":{"API_HOSTNAME":"https://api.example","AC_ACCESS_TOKEN":"eyJ.payload.sig","y":null}}})"));
}

TEST_CASE("appcircle-cli: a file that is not a JSON object is left alone") {
  for (const auto* text : {"not json", "[1,2]", R"({"current": 3})", R"({"envs": []})"}) {
    CAPTURE(text);
    const auto refused = render(sink_format::appcircle_cli, std::string_view(text));
    CHECK(refused.text.empty());
    CHECK(refused.problem.find("it is left alone") != std::string::npos);
  }
  CHECK(render_appcircle_without_token("not json") == std::nullopt);
  const auto emptied = render_appcircle_without_token(
      R"({"current":"default","envs":{"default":{"AC_ACCESS_TOKEN":"t","k":1}}})");
  REQUIRE(emptied);
  CHECK(json::parse(*emptied) ==
        json::parse(R"({"current":"default","envs":{"default":{"AC_ACCESS_TOKEN":"","k":1}}})"));
}
