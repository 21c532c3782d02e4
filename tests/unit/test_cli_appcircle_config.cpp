// The Appcircle CLI's config store as `actoken appcircle-config` changes it (SPEC §1,
// §5): text in, text out or a refusal. The file itself, its mode, links and the real
// daemon are in tests/integration/test_cli_appcircle.cpp.
#include "client/appcircle_config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>

using actoken::client::appcircle_config_path;
using actoken::client::check_appcircle_config;
using actoken::client::folder_warning;
using actoken::client::host_warning;
using actoken::client::render_with_token;
using actoken::client::same_server;
using json = nlohmann::ordered_json;

namespace {

// The new text for `before` (nullopt: no file), or "REFUSED: why".
std::string update(std::optional<std::string> before, const std::string& token = "tok.en") {
  auto checked =
      check_appcircle_config(before ? std::optional<std::string_view>(*before) : std::nullopt);
  if (!checked.config) {
    REQUIRE_FALSE(checked.problem.empty());
    return "REFUSED: " + checked.problem;
  }
  return render_with_token(*checked.config, token);
}

actoken::env_lookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    const auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("a missing file is created with Appcircle's public defaults, as conf writes it") {
  CHECK(update(std::nullopt) ==
        "{\n"
        "\t\"current\": \"default\",\n"
        "\t\"envs\": {\n"
        "\t\t\"default\": {\n"
        "\t\t\t\"API_HOSTNAME\": \"https://api.appcircle.io\",\n"
        "\t\t\t\"AUTH_HOSTNAME\": \"https://auth.appcircle.io\",\n"
        "\t\t\t\"AC_ACCESS_TOKEN\": \"tok.en\"\n"
        "\t\t}\n"
        "\t}\n"
        "}");
  const auto checked = check_appcircle_config(std::nullopt);
  REQUIRE(checked.config);
  CHECK(checked.config->created_file);
  CHECK_FALSE(checked.config->created_environment);
  CHECK(checked.config->environment == "default");
}

TEST_CASE("the token goes to envs[current]; every other field stays, in its order") {
  const std::string before = R"({
	"__internal__": {"migrations": {"version": "2.7.3"}},
	"current": "corp",
	"envs": {
		"default": {"API_HOSTNAME": "https://api.appcircle.io", "AUTH_HOSTNAME": "https://auth.appcircle.io", "AC_ACCESS_TOKEN": "old-default"},
		"corp": {"AC_ACCESS_TOKEN": "old-corp", "API_HOSTNAME": "https://api.corp.example/", "AUTH_HOSTNAME": "https://auth.corp.example", "NOTE": "ünïcödé", "n": [1, 2.5, null, true]}
	},
	"zzz": {"unknown": "kept"}
})";
  const auto after = update(before, "new-token");
  auto expected = json::parse(before);
  expected["envs"]["corp"]["AC_ACCESS_TOKEN"] = "new-token";
  CHECK(json::parse(after) == expected);
  // Same order of fields, the token where the old one was.
  CHECK(json::parse(after).dump() == expected.dump());
  CHECK(after.find("old-corp") == std::string::npos);
  CHECK(after.find("old-default") != std::string::npos);
  CHECK(after.find("\"NOTE\": \"ünïcödé\"") != std::string::npos);
  CHECK(after.find("\n\t\"current\": \"corp\",\n") != std::string::npos);  // tabs, as conf
  CHECK(after.back() == '}');
}

TEST_CASE("a missing current means default; a missing environment or envs is created") {
  // The Appcircle CLI reads `config.get('current') || 'default'`.
  for (const auto* current : {R"()", R"("current": null,)", R"("current": "",)"}) {
    CAPTURE(current);
    const auto after = update(std::string("{") + current +
                              R"("envs": {"default": {"AC_ACCESS_TOKEN": "", "X": 1}}})");
    const auto parsed = json::parse(after);
    CHECK(parsed["envs"]["default"]["AC_ACCESS_TOKEN"] == "tok.en");
    CHECK(parsed["envs"]["default"]["X"] == 1);
    CHECK(parsed["envs"]["default"].size() == 2);  // no host names added
  }
  const auto no_environment = check_appcircle_config(
      std::string_view(R"({"current": "qa", "envs": {"default": {"AC_ACCESS_TOKEN": "x"}}})"));
  REQUIRE(no_environment.config);
  CHECK(no_environment.config->created_environment);
  CHECK_FALSE(no_environment.config->created_file);
  const auto qa = json::parse(update(R"({"current": "qa", "envs": {"default": {}}})"));
  CHECK(qa["envs"]["qa"] == json::parse(R"({"API_HOSTNAME": "https://api.appcircle.io",
      "AUTH_HOSTNAME": "https://auth.appcircle.io", "AC_ACCESS_TOKEN": "tok.en"})"));
  CHECK(qa["envs"]["default"] == json::object());
  const auto bare = json::parse(update(R"({"other": 1})"));
  CHECK(bare["other"] == 1);
  // Written out, so the Appcircle CLI does not rewrite the file (mode 0666) as it starts.
  CHECK(bare["current"] == "default");
  CHECK(bare["envs"]["default"]["AC_ACCESS_TOKEN"] == "tok.en");
}

TEST_CASE("host names are never changed") {
  const auto after = json::parse(update(
      R"({"current": "x", "envs": {"x": {"API_HOSTNAME": 7, "AUTH_HOSTNAME": "http://a/"}}})"));
  CHECK(after["envs"]["x"]["API_HOSTNAME"] == 7);
  CHECK(after["envs"]["x"]["AUTH_HOSTNAME"] == "http://a/");
  CHECK(after["envs"]["x"]["AC_ACCESS_TOKEN"] == "tok.en");
}

TEST_CASE("a file that is not a JSON object of the expected shape is refused") {
  const std::string secret = "SeCrEt-in-the-file";
  const std::map<std::string, std::string> refusals{
      {"", "is not JSON (error at byte 1)"},
      {"  \n", "is not JSON"},
      {"{\"current\": \"" + secret + "\",", "is not JSON (error at byte"},
      {"{\"envs\": {}} trailing " + secret, "is not JSON"},
      {"// conf never writes comments\n{}", "is not JSON"},
      {"[]", "is not a JSON object"},
      {"\"" + secret + "\"", "is not a JSON object"},
      {"null", "is not a JSON object"},
      {R"({"current": 5})", "its \"current\" is not a string"},
      {R"({"current": ["a"]})", "its \"current\" is not a string"},
      {R"({"envs": []})", "its \"envs\" is not an object"},
      {R"({"envs": "x"})", "its \"envs\" is not an object"},
      {R"({"current": "a", "envs": {"a": "token"}})", "its environment \"a\" is not an object"},
      {R"({"envs": {"default": null}, "x": 1})", ""},  // null: missing, so created (below)
      {R"({"current": "a.b", "envs": {"a.b": {}}})", "has a '.'"},
      {std::string(100, '[') + std::string(100, ']'), "nests deeper than 64 levels"},
      {"{\"a\": \"\xff\"}", "is not JSON"},  // not UTF-8
  };
  for (const auto& entry : refusals) {
    const auto& text = entry.first;
    const auto& says = entry.second;
    CAPTURE(text);
    const auto after = update(text);
    if (says.empty()) {
      CHECK(json::parse(after)["envs"]["default"]["AC_ACCESS_TOKEN"] == "tok.en");
      continue;
    }
    CHECK(after.starts_with("REFUSED: "));
    CHECK(after.find(says) != std::string::npos);
    CHECK(after.find(secret) == std::string::npos);  // never the file's content
  }
  // 64 levels are fine.
  CHECK(json::parse(update(R"({"deep": )" + std::string(62, '[') + std::string(62, ']') + "}"))
            .contains("envs"));
}

TEST_CASE("render_with_token leaves no copy of the token in the checked config") {
  auto checked = check_appcircle_config(std::nullopt);
  REQUIRE(checked.config);
  const auto text = render_with_token(*checked.config, "the-token");
  CHECK(text.find("the-token") != std::string::npos);
  CHECK(checked.config->document.dump().find("the-token") == std::string::npos);
}

TEST_CASE("the file's path: ${XDG_CONFIG_HOME:-$HOME/.config}/@appcircle/cli-nodejs/config.json") {
  CHECK(appcircle_config_path(fake_env({{"XDG_CONFIG_HOME", "/x/conf"}, {"HOME", "/h"}}), 1000) ==
        "/x/conf/@appcircle/cli-nodejs/config.json");
  CHECK(appcircle_config_path(fake_env({{"XDG_CONFIG_HOME", ""}, {"HOME", "/h"}}), 1000) ==
        "/h/.config/@appcircle/cli-nodejs/config.json");
  CHECK(appcircle_config_path(fake_env({{"HOME", "/home/dev"}}), 1000) ==
        "/home/dev/.config/@appcircle/cli-nodejs/config.json");
  // No HOME: the password database's home of the uid (root's here).
  CHECK(appcircle_config_path(fake_env({}), 0)
            .string()
            .ends_with("/.config/@appcircle/cli-nodejs/config.json"));
}

TEST_CASE("same_server ignores case in scheme and host, and trailing slashes") {
  CHECK(same_server("https://auth.appcircle.io", "https://auth.appcircle.io/"));
  CHECK(same_server("HTTPS://Auth.AppCircle.io", "https://auth.appcircle.io"));
  CHECK(same_server("https://a.example:8443/x/", "https://A.example:8443/x"));
  CHECK_FALSE(same_server("https://a.example/X", "https://a.example/x"));  // paths keep case
  CHECK_FALSE(same_server("https://auth.corp.example", "https://auth.appcircle.io"));
  CHECK_FALSE(same_server("http://auth.appcircle.io", "https://auth.appcircle.io"));
}

TEST_CASE("a warning when the token may go to the wrong server; never a change") {
  const std::filesystem::path path = "/h/.config/@appcircle/cli-nodejs/config.json";
  auto fresh = check_appcircle_config(std::nullopt);
  REQUIRE(fresh.config);
  CHECK_FALSE(host_warning(*fresh.config, path, "acme", "https://auth.appcircle.io"));
  CHECK_FALSE(host_warning(*fresh.config, path, "acme", "https://auth.appcircle.io/"));
  CHECK_FALSE(host_warning(*fresh.config, path, "acme", ""));  // unknown: no warning
  const auto self_hosted = host_warning(*fresh.config, path, "corp", "https://auth.corp.example");
  REQUIRE(self_hosted);
  CHECK(self_hosted->find("organization corp uses the auth server https://auth.corp.example") !=
        std::string::npos);
  CHECK(self_hosted->find("Appcircle's public servers") != std::string::npos);
  CHECK(self_hosted->find(path.string()) != std::string::npos);
  CHECK(self_hosted->find("appcircle config set AUTH_HOSTNAME https://auth.corp.example") !=
        std::string::npos);
  CHECK(self_hosted->find("API_HOSTNAME") != std::string::npos);

  auto existing = check_appcircle_config(std::string_view(
      R"({"current": "corp", "envs": {"corp": {"API_HOSTNAME": "https://api.corp.example",
          "AUTH_HOSTNAME": "https://auth.corp.example/"}}})"));
  REQUIRE(existing.config);
  CHECK_FALSE(host_warning(*existing.config, path, "corp", "https://auth.corp.example"));
  const auto mismatch = host_warning(*existing.config, path, "acme", "https://auth.appcircle.io");
  REQUIRE(mismatch);
  CHECK(mismatch->find("environment \"corp\"") != std::string::npos);
  CHECK(mismatch->find("AUTH_HOSTNAME https://auth.corp.example/") != std::string::npos);
  CHECK(mismatch->find("API_HOSTNAME https://api.corp.example") != std::string::npos);
}

TEST_CASE("a warning when others may enter the folder the Appcircle CLI makes 0666 files in") {
  CHECK_FALSE(folder_warning("/h/.config/@appcircle/cli-nodejs", 0700));
  CHECK_FALSE(folder_warning("/h/.config/@appcircle/cli-nodejs", 01700));
  for (const unsigned mode : {0755U, 0750U, 0701U, 0710U, 0777U}) {
    CAPTURE(mode);
    const auto warning = folder_warning("/h/.config/@appcircle/cli-nodejs", mode);
    REQUIRE(warning);
    CHECK(warning->find("`chmod 700 /h/.config/@appcircle/cli-nodejs`") != std::string::npos);
    CHECK(warning->find("0666") != std::string::npos);
  }
  CHECK(folder_warning("/f", 0755)->find("(mode 0755)") != std::string::npos);
}
