// Every CLI command against the real daemon, and /metrics as Prometheus text.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <sstream>

namespace {

struct cli_world : daemon_world {
  std::string token() const {
    return daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  }
};

// The first words of the lines under `title` ("Subcommands:") up to the next blank line.
std::vector<std::string> help_section(const std::string& help, const std::string& title) {
  std::vector<std::string> names;
  const auto at = help.find("\n" + title + "\n");
  if (at == std::string::npos) return names;
  std::istringstream lines(help.substr(at + title.size() + 2));
  std::string line;
  while (std::getline(lines, line) && !line.empty()) {
    std::istringstream words(line);
    std::string first;
    if (words >> first) names.push_back(first);
  }
  return names;
}

// The command lines under "Examples:", without the description column.
std::vector<std::string> help_examples(const std::string& help) {
  std::vector<std::string> examples;
  const auto at = help.find("\nExamples:\n");
  if (at == std::string::npos) return examples;
  std::istringstream lines(help.substr(at + 11));
  std::string line;
  while (std::getline(lines, line) && !line.empty()) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos) break;
    // Two spaces or more start the description.
    const auto end = line.find("  ", start);
    examples.push_back(line.substr(start, end == std::string::npos ? end : end - start));
  }
  return examples;
}

// True when the help's option list (before "Examples:") names `option`.
bool documents_option(const std::string& help, const std::string& option) {
  const auto options = help.substr(0, help.find("\nExamples:\n"));
  for (std::size_t at = options.find(option); at != std::string::npos;
       at = options.find(option, at + 1)) {
    const auto after = at + option.size();
    const bool whole = after == options.size() || options[after] == ' ' || options[after] == ',' ||
                       options[after] == '\n' || options[after] == '=';
    if (whole) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& words, const std::string& separator) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : separator) + w;
  return out;
}

}  // namespace

TEST_CASE("token and header print the token; --json prints the daemon's object") {
  cli_world w;
  const auto plain = w.cli({"token", "acme"});
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out == w.token() + "\n");
  CHECK(w.cli({"token", "--org", "acme"}).out == plain.out);
  CHECK(w.cli({"token"}).out == plain.out);  // one organization: org may be left out

  const auto header = w.cli({"header", "acme"});
  CHECK(header.exit_code == 0);
  CHECK(header.out == "Authorization: Bearer " + w.token() + "\n");

  const auto as_json = w.cli({"token", "acme", "--json"});
  CHECK(as_json.exit_code == 0);
  const auto body = json::parse(as_json.out);
  CHECK(body["access_token"] == w.token());
  CHECK(body["source"] == "cache");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("--json: header, ping, key add and key remove print the daemon's object") {
  cli_world w;
  const auto header = w.cli({"header", "acme", "--json"});
  REQUIRE(header.exit_code == 0);
  CHECK(json::parse(header.out)["access_token"] == w.token());

  const auto ping = w.cli({"ping", "--json"});
  REQUIRE(ping.exit_code == 0);
  CHECK(json::parse(ping.out)["status"] == "ok");

  const auto added =
      w.cli({"key", "add", "beta", "--ephemeral", "--no-verify", "--json"}, "beta-key\n");
  REQUIRE(added.exit_code == 0);
  const auto added_body = json::parse(added.out);
  CHECK(added_body["org"] == "beta");
  CHECK(added_body["persisted"] == false);
  CHECK(added_body["verified"] == false);
  CHECK(added.out.find("beta-key") == std::string::npos);

  const auto removed = w.cli({"key", "remove", "beta", "--json"});
  REQUIRE(removed.exit_code == 0);
  CHECK(json::parse(removed.out)["org"] == "beta");
  CHECK(w.org_view("beta").is_null());
}

TEST_CASE("token options reach the daemon: min_ttl it cannot meet is exit 1") {
  cli_world w;
  auto short_lived = w.upstream.get_behaviour();
  short_lived.token_lifetime = std::chrono::seconds{120};
  w.upstream.set_behaviour(short_lived);
  const auto result = w.cli({"token", "acme", "--min-ttl", "600"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("actoken: ") == 0);
  CHECK(result.err.find("acme") != std::string::npos);
  CHECK(w.cli({"token", "acme", "--min-ttl", "nope"}).exit_code == 2);
}

TEST_CASE("exec puts the token in the environment, passes the status, 127 when missing") {
  cli_world w;
  const auto seen = w.cli(
      {"exec", "--org", "acme", "--", "/bin/sh", "-c", "printf '%s' \"$AC_ACCESS_TOKEN\"; exit 3"});
  CHECK(seen.exit_code == 3);
  CHECK(seen.out == w.token());

  const auto named =
      w.cli({"exec", "--org", "acme", "--env", "MY_TOKEN", "--env", "OTHER", "--", "/bin/sh", "-c",
             "printf '%s|%s|%s' \"$MY_TOKEN\" \"$OTHER\" \"${AC_ACCESS_TOKEN-unset}\""});
  CHECK(named.exit_code == 0);
  CHECK(named.out == w.token() + "|" + w.token() + "|unset");

  const auto missing = w.cli({"exec", "--org", "acme", "--", "/no/such/command"});
  CHECK(missing.exit_code == 127);
  CHECK(missing.err.find("/no/such/command") != std::string::npos);
  CHECK(w.cli({"exec", "--org", "acme"}).exit_code == 2);  // no command
}

TEST_CASE("orgs, status, ping and flush") {
  cli_world w;
  w.token();
  const auto table = w.cli({"orgs"});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("ORG") != std::string::npos);
  CHECK(table.out.find("acme") != std::string::npos);
  CHECK(table.out.find("ok") != std::string::npos);
  CHECK(table.out.find(w.token()) == std::string::npos);

  const auto orgs = json::parse(w.cli({"--json", "orgs"}).out);
  REQUIRE(orgs["orgs"].size() == 1);
  CHECK(orgs["orgs"][0]["name"] == "acme");
  CHECK(orgs["orgs"][0]["has_key"] == true);
  CHECK(orgs["orgs"][0]["key_source"] == "key_dir");
  CHECK(orgs["orgs"][0]["tokens"].size() == 1);

  const auto status = w.cli({"status", "--json"});
  CHECK(status.exit_code == 0);
  CHECK(json::parse(status.out)["exchanges_total"] == 1);
  CHECK(w.cli({"status"}).out.find("exchanges") != std::string::npos);
  CHECK(w.cli({"ping"}).exit_code == 0);

  const auto flushed = w.cli({"flush", "acme", "--json"});
  CHECK(flushed.exit_code == 0);
  CHECK(json::parse(flushed.out)["evicted"] == 1);
  CHECK(w.token() != "");
  CHECK(w.upstream.exchanges() == 2);
  CHECK(w.cli({"flush"}).exit_code == 0);  // root is admin
}

TEST_CASE("every command has --help with examples; --version; usage errors exit 2") {
  // Every command `actoken --help` lists (and each `key` subcommand): its help
  // has examples that run that very command, with options its help documents.
  const auto top = run_process({actoken_path(), "--help"});
  REQUIRE(top.exit_code == 0);
  const auto commands = help_section(top.out, "Subcommands:");
  CHECK(commands.size() >= 8);
  std::vector<std::vector<std::string>> paths;
  for (const auto& command : commands) {
    const auto help = run_process({actoken_path(), command, "--help"});
    const auto subcommands = help_section(help.out, "Subcommands:");
    if (subcommands.empty()) paths.push_back({command});
    for (const auto& sub : subcommands) paths.push_back({command, sub});
  }
  for (const auto& path : paths) {
    auto argv = path;
    argv.insert(argv.begin(), actoken_path());
    argv.push_back("--help");
    const auto help = run_process(argv);
    const auto name = "actoken " + join(path, " ");
    CAPTURE(name);
    CHECK(help.exit_code == 0);
    const auto examples = help_examples(help.out);
    CHECK_MESSAGE(!examples.empty(), help.out);
    bool runs_itself = false;
    for (const auto& example : examples) {
      CAPTURE(example);
      // "[... | $( ` sudo ...] actoken [global options] COMMAND ... [| ) ` ...] [-- CMD]":
      // the part that runs actoken, up to a pipe, the end of a command
      // substitution or the child command.
      auto start = example.find("actoken ");
      while (start != std::string::npos && start > 0 &&
             std::string_view(" |(`").find(example[start - 1]) == std::string_view::npos) {
        start = example.find("actoken ", start + 1);
      }
      REQUIRE(start != std::string::npos);
      auto part = example.substr(start);
      part = part.substr(0, part.find_first_of(")`"));
      std::istringstream words(part.substr(0, part.find(" -- ")));
      std::string word;
      std::vector<std::string> said;
      while (words >> word && word != "|") said.push_back(word);
      std::vector<std::string> command_words;
      for (std::size_t i = 1; i < said.size(); ++i) {
        const auto& w = said[i];
        if (w == "--socket") {
          ++i;  // the one global option with a value
        } else if (w.rfind("--", 0) == 0) {
          const auto option = w.substr(0, w.find('='));
          // Documented by this command's help, or a global option of `actoken --help`.
          const bool documented =
              documents_option(help.out, option) || documents_option(top.out, option);
          CHECK_MESSAGE(documented, option);
        } else if (command_words.size() < path.size()) {
          command_words.push_back(w);
        }
      }
      if (command_words == path) runs_itself = true;
    }
    CHECK_MESSAGE(runs_itself, "no example runs " << name);
  }
  const auto version = run_process({actoken_path(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("actoken") != std::string::npos);
  CHECK(run_process({actoken_path(), "frobnicate"}).exit_code == 2);
  CHECK(run_process({actoken_path(), "token", "--no-such-flag"}).exit_code == 2);
  CHECK(run_process({actoken_path(), "key", "add", "acme", "the-key-as-argument"}).exit_code == 2);

  const auto daemon_version = run_process({actokend_path(), "--version"});
  CHECK(daemon_version.exit_code == 0);
  CHECK(daemon_version.out.find("actokend") != std::string::npos);
  CHECK(run_process({actokend_path(), "--help"}).exit_code == 0);
  CHECK(run_process({actokend_path(), "--no-such-flag"}).exit_code == 2);
}

TEST_CASE("/metrics is Prometheus text and counts the exchanges made") {
  cli_world w;
  w.token();
  w.token();
  w.daemon->get("/v1/token?org=nosuch");
  const auto reply = w.daemon->get("/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.headers.at("content-type").find("text/plain") == 0);

  // Every line is a comment or `name{labels} value`.
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.e+Inf]+$)");
  std::istringstream lines(reply.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    CHECK_MESSAGE(std::regex_match(line, sample), line);
    CHECK_MESSAGE(line.rfind("actoken_", 0) == 0, line);
    ++samples;
  }
  CHECK(samples > 10);
  CHECK(reply.body.find("actoken_exchanges_total{org=\"acme\",result=\"ok\"} 1\n") !=
        std::string::npos);
  CHECK(reply.body.find("actoken_cache_hits_total 1\n") != std::string::npos);
  CHECK(reply.body.find("actoken_requests_total{endpoint=\"token\",code=\"404\"} 1\n") !=
        std::string::npos);
  CHECK(reply.body.find("actoken_exchange_duration_seconds_count 1\n") != std::string::npos);
  CHECK(reply.body.find("actoken_token_expires_in_seconds{org=\"acme\",sub_org=\"\"}") !=
        std::string::npos);
}
