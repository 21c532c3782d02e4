// Organizations, keys and the config end to end (SPEC §2, §4, §6): loose
// key files, keys added and removed through the CLI, keys the config
// manages, sub-organizations on the wire, reload, --check-config, default_org,
// and where secrets must never show up.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace {

constexpr auto other_org_id = "6f1c2a8e-0000-4000-8000-000000000002";

// The entry for `name` in a /v1/orgs answer (a null value when absent).
json org_entry(const json& orgs, const std::string& name) {
  for (const auto& org : orgs.at("orgs")) {
    if (org.at("name") == name) return org;
  }
  return nullptr;
}

// A stand-in with one account (`key`, acme_org_id) and a daemon trusting it
// with key_dir/acme.key. `config` is the config the daemon was started with,
// so a test can change it, rewrite the file and reload.
struct world : daemon_world {
  explicit world(const json& extra = json::object()) : daemon_world({.config = extra}) {}

  // SIGHUP, and wait until /v1/status shows the reload.
  void reload() { daemon->reload(); }

  // Rewrites the config file (socket and key_dir unchanged) and reloads.
  void reload_with(const json& changed) { reload_with_text(changed.dump(2)); }
  void reload_with_text(const std::string& text) {
    dir.write("actokend.json", text);
    reload();
  }
};

}  // namespace

TEST_CASE("a loose key file: that organization answers no_key with the reason, others work") {
  world w;
  const auto loose_key = awkward_key();
  w.upstream.add_account(loose_key, other_org_id);  // it would work if the daemon read it
  w.dir.write("keys/loose.key", loose_key + "\n", 0644);
  w.reload();

  const auto reply = w.daemon->get("/v1/token?org=loose");
  CHECK(reply.status == 409);
  CHECK(reply.json()["error"] == "no_key");
  const auto message = reply.json()["message"].get<std::string>();
  CHECK(message.find("loose") != std::string::npos);
  CHECK(message.find("0644") != std::string::npos);  // the reason, not only "no key"
  CHECK(message.find(loose_key) == std::string::npos);

  const auto orgs = w.daemon->get("/v1/orgs").json();
  const auto loose = org_entry(orgs, "loose");
  REQUIRE(loose.is_object());
  CHECK(loose["state"] == "no_key");
  CHECK(loose["has_key"] == false);
  CHECK(loose["key_source"] == "key_dir");
  REQUIRE(loose["last_error"].is_object());
  CHECK(loose["last_error"]["code"] == "no_key");
  CHECK(loose["last_error"]["message"].get<std::string>().find("0644") != std::string::npos);
  CHECK(org_entry(orgs, "acme")["state"] == "ok");

  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.cli({"token", "loose"}).exit_code == 5);
  CHECK(w.upstream.exchanges_for(loose_key) == 0);
  const auto log = w.daemon->log();
  CHECK(log.find("loose.key") != std::string::npos);  // the reason is logged
  CHECK(log.find(loose_key) == std::string::npos);

  // chmod 600 and a reload make it usable.
  REQUIRE(::chmod((w.dir.path() / "keys" / "loose.key").c_str(), 0600) == 0);
  w.reload_with(w.config);
  CHECK(w.daemon->get("/v1/token?org=loose").status == 200);
  CHECK(w.upstream.exchanges_for(loose_key) == 1);
}

TEST_CASE("actoken key add persists a 0600 key file and the key's token works; remove deletes it") {
  world w;
  const auto new_key = awkward_key();
  w.upstream.add_account(new_key, other_org_id);

  const auto added = w.cli({"key", "add", "newco"}, new_key + "\n");
  CHECK(added.exit_code == 0);
  CHECK(added.out.find(new_key) == std::string::npos);
  CHECK(added.err.find(new_key) == std::string::npos);
  const auto file = w.dir.path() / "keys" / "newco.key";
  REQUIRE(std::filesystem::exists(file));
  CHECK(mode_of(file) == 0600U);
  CHECK(slurp(file) == new_key + "\n");

  const auto token = w.daemon->get("/v1/token?org=newco");
  CHECK(token.status == 200);
  CHECK(w.upstream.exchanges_for(new_key) == 1);
  CHECK(w.upstream.requests().back().form.at("personalAccessKey") == new_key);
  const auto entry = w.org_view("newco");
  CHECK(entry["key_source"] == "key_dir");
  CHECK(entry["has_key"] == true);

  const auto removed = w.cli({"key", "remove", "newco"});
  CHECK(removed.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(file));
  const auto after = w.cli({"token", "newco"});
  CHECK(after.exit_code == 5);
  CHECK(after.err.rfind("actoken: ", 0) == 0);
  CHECK(w.daemon->get("/v1/token?org=newco").status == 404);
  CHECK(w.upstream.exchanges_for(new_key) == 1);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);  // untouched
}

TEST_CASE("actoken key add verifies the key with one exchange; a rejected key changes nothing") {
  world w;
  // A key the auth server does not know: refused with key_rejected (exit 6),
  // neither stored nor put in memory, and acme's own key untouched.
  const auto bogus = "bogus-" + awkward_key();
  const auto refused = w.cli({"key", "add", "acme"}, bogus + "\n");
  CHECK(refused.exit_code == 6);
  CHECK(refused.err.find("not kept") != std::string::npos);
  CHECK(refused.err.find(bogus) == std::string::npos);
  CHECK(w.upstream.exchanges_for(bogus) == 1);
  CHECK(slurp(w.dir.path() / "keys" / "acme.key") == w.key + "\n");
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.upstream.requests().back().form.at("personalAccessKey") == w.key);
  // A new organization with a bogus key does not appear at all.
  CHECK(w.cli({"key", "add", "newco", "--ephemeral"}, bogus + "\n").exit_code == 6);
  CHECK(w.org_view("newco").is_null());
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "newco.key"));
  // The rejection rests nothing: acme still serves, and no rest was set for newco.
  CHECK(w.org_view("acme")["state"] == "ok");

  // A good key: stored, and its first token cached from that one exchange.
  const auto good = awkward_key();
  w.upstream.add_account(good, other_org_id);
  const auto added = w.cli({"key", "add", "newco"}, good + "\n");
  CHECK_MESSAGE(added.exit_code == 0, added.err);
  CHECK(added.out == "added the key for newco (saved, verified: the auth server issued a token)\n");
  CHECK(w.upstream.exchanges_for(good) == 1);
  const auto token = w.daemon->get("/v1/token?org=newco").json();
  CHECK(token["source"] == "cache");
  CHECK(w.upstream.exchanges_for(good) == 1);

  // --no-verify keeps even a bogus key, untried (the old behaviour, on request).
  const auto kept = w.cli({"key", "add", "later", "--no-verify"}, bogus + "\n");
  CHECK(kept.exit_code == 0);
  CHECK(kept.out == "added the key for later (saved, not verified)\n");
  CHECK(std::filesystem::exists(w.dir.path() / "keys" / "later.key"));
  CHECK(w.upstream.exchanges_for(bogus) == 2);  // the two refusals above, nothing since

  // Over raw HTTP: the answer says whether the key was verified.
  const auto raw = unix_request(w.socket(), "PUT", "/v1/orgs/rawco/key",
                                json{{"key", good}, {"persist", false}, {"verify", true}}.dump());
  CHECK(raw.status == 200);
  CHECK(raw.json() == json{{"org", "rawco"}, {"persisted", false}, {"verified", true}});
  CHECK(unix_request(w.socket(), "PUT", "/v1/orgs/rawco/key",
                     json{{"key", good}, {"verify", 1}}.dump())
            .status == 400);
  const auto log = w.daemon->log();
  CHECK(log.find(bogus) == std::string::npos);
  CHECK(log.find(good) == std::string::npos);
}

TEST_CASE("actoken key add --ephemeral keeps the key in memory only") {
  world w;
  const auto temp_key = awkward_key();
  w.upstream.add_account(temp_key, other_org_id);
  CHECK(w.cli({"key", "add", "tmpco", "--ephemeral"}, temp_key + "\n").exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "tmpco.key"));
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "tmpco.json"));
  const auto token = w.cli({"token", "tmpco"});
  CHECK(token.exit_code == 0);
  CHECK_FALSE(token.out.empty());
  CHECK(w.upstream.exchanges_for(temp_key) == 1);
  CHECK(w.org_view("tmpco")["key_source"] == "runtime");

  // An ephemeral key outranks a key file for the same organization.
  CHECK(w.cli({"key", "add", "acme", "--ephemeral"}, temp_key + "\n").exit_code == 0);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.upstream.requests().back().form.at("personalAccessKey") == temp_key);
  CHECK(slurp(w.dir.path() / "keys" / "acme.key") == w.key + "\n");

  CHECK(w.cli({"key", "remove", "tmpco"}).exit_code == 0);
  CHECK(w.cli({"token", "tmpco"}).exit_code == 5);
}

TEST_CASE("actoken key add --auth-url --api-version writes <org>.json and the exchange uses them") {
  world w;
  const auto new_key = awkward_key();
  w.upstream.add_account(new_key, other_org_id);
  CHECK(w.cli({"key", "add", "legacy", "--auth-url", w.upstream.url(), "--api-version", "v2"},
              new_key + "\n")
            .exit_code == 0);
  const auto meta_path = w.dir.path() / "keys" / "legacy.json";
  REQUIRE(std::filesystem::exists(meta_path));
  CHECK(mode_of(meta_path) == 0600U);
  const auto meta = json::parse(slurp(meta_path));
  CHECK(meta["api_version"] == "v2");
  CHECK(meta["auth_url"] == w.upstream.url());

  CHECK(w.daemon->get("/v1/token?org=legacy").status == 200);
  const auto request = w.upstream.requests().back();
  CHECK(request.path == "/auth/v2/token");
  CHECK(request.form.at("pat") == new_key);
  CHECK(w.org_view("legacy")["api_version"] == "v2");
}

TEST_CASE("a key the config's key_file manages cannot be replaced or removed: 409") {
  world w;
  const auto config_key = awkward_key();
  w.upstream.add_account(config_key, other_org_id);
  const auto key_file = w.dir.write("managed.key", config_key + "\n");
  auto config = w.config;
  config["organizations"]["managed"]["key_file"] = key_file.string();
  w.reload_with(config);

  const auto put = unix_request(w.socket(), "PUT", "/v1/orgs/managed/key",
                                json{{"key", "replacement-key"}}.dump());
  CHECK(put.status == 409);
  CHECK(put.json()["error"] == "key_managed_by_config");
  CHECK(put.json()["message"].get<std::string>().find("managed") != std::string::npos);
  const auto ephemeral = unix_request(w.socket(), "PUT", "/v1/orgs/managed/key",
                                      R"({"key": "replacement-key", "persist": false})");
  CHECK(ephemeral.status == 409);
  const auto del = unix_request(w.socket(), "DELETE", "/v1/orgs/managed/key");
  CHECK(del.status == 409);
  CHECK(del.json()["error"] == "key_managed_by_config");
  CHECK(w.cli({"key", "add", "managed"}, "replacement-key\n").exit_code == 1);
  CHECK(w.cli({"key", "remove", "managed"}).exit_code == 1);

  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "managed.key"));
  CHECK(slurp(key_file) == config_key + "\n");
  CHECK(w.daemon->get("/v1/token?org=managed").status == 200);
  CHECK(w.upstream.requests().back().form.at("personalAccessKey") == config_key);
  CHECK(w.org_view("managed")["key_source"] == "config");
}

TEST_CASE("sub-organizations by alias and by id: subOrganization on the wire, one token per id") {
  constexpr auto mobile = "9b2f6d1e-0000-4000-8000-00000000000a";
  constexpr auto web = "9b2f6d1e-0000-4000-8000-00000000000b";
  world w(json::parse(R"({"organizations": {"acme": {"sub_organizations":
            {"mobile": "9B2F6D1E-0000-4000-8000-00000000000A"}}}})"));
  w.upstream.add_account(w.key, acme_org_id, {mobile, web});

  const auto by_alias = w.daemon->get("/v1/token?org=acme&sub_org=mobile");
  REQUIRE(by_alias.status == 200);
  CHECK(by_alias.json()["sub_org"] == "mobile");
  CHECK(by_alias.json()["source"] == "exchange");
  auto requests = w.upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].form.at("subOrganization") == mobile);  // lower case on the wire
  CHECK(requests[0].form.at("personalAccessKey") == w.key);

  // The same organization id by GUID: the same cache key.
  const auto by_id = w.daemon->get(std::string("/v1/token?org=acme&sub_org=") + mobile);
  REQUIRE(by_id.status == 200);
  CHECK(by_id.json()["source"] == "cache");
  CHECK(by_id.json()["access_token"] == by_alias.json()["access_token"]);
  CHECK(w.upstream.exchanges() == 1);

  // Another id, given in upper case.
  const auto other =
      w.daemon->get("/v1/token?org=acme&sub_org=9B2F6D1E-0000-4000-8000-00000000000B");
  REQUIRE(other.status == 200);
  CHECK(other.json()["source"] == "exchange");
  requests = w.upstream.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].form.at("subOrganization") == web);
  CHECK(other.json()["access_token"] != by_alias.json()["access_token"]);

  // The root organization's token carries no subOrganization.
  const auto root = w.daemon->get("/v1/token?org=acme");
  REQUIRE(root.status == 200);
  requests = w.upstream.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[2].form.count("subOrganization") == 0);
  CHECK(root.json()["sub_org"].is_null());
  CHECK(root.json()["access_token"] != by_alias.json()["access_token"]);

  // The CLI's --sub-org takes the alias; an unknown alias is a bad request.
  const auto cli = w.cli({"token", "acme", "--sub-org", "mobile"});
  CHECK(cli.exit_code == 0);
  CHECK(cli.out == by_alias.json()["access_token"].get<std::string>() + "\n");
  const auto unknown = w.daemon->get("/v1/token?org=acme&sub_org=desktop");
  CHECK(unknown.status == 400);
  CHECK(unknown.json()["error"] == "bad_request");
  CHECK(w.upstream.exchanges() == 3);

  // /v1/orgs lists each token under its alias, else its id.
  std::set<std::string> labels;
  const auto acme = w.org_view("acme");
  for (const auto& token : acme["tokens"]) {
    labels.insert(token["sub_org"].is_null() ? "(root)" : token["sub_org"].get<std::string>());
  }
  CHECK(labels == std::set<std::string>{"(root)", "mobile", web});
}

TEST_CASE("reload: a new organization appears and an unchanged one keeps its cached token") {
  world w;
  const auto first = w.daemon->get("/v1/token?org=acme").json();
  REQUIRE(first["source"] == "exchange");

  const auto beta_key = awkward_key();
  w.upstream.add_account(beta_key, other_org_id);
  w.dir.write("beta.key", beta_key + "\n");  // beside the config
  auto config = w.config;
  config["organizations"]["beta"]["key_file"] = "beta.key";  // relative to the config's folder
  w.reload_with(config);

  const auto status = w.daemon->get("/v1/status").json();
  CHECK(status["last_reload"]["ok"] == true);
  CHECK(status["orgs"] == 2);
  const auto beta = w.daemon->get("/v1/token?org=beta");
  CHECK(beta.status == 200);
  CHECK(beta.json()["source"] == "exchange");
  CHECK(w.upstream.exchanges_for(beta_key) == 1);

  const auto again = w.daemon->get("/v1/token?org=acme").json();
  CHECK(again["source"] == "cache");
  CHECK(again["access_token"] == first["access_token"]);
  CHECK(w.upstream.exchanges_for(w.key) == 1);

  // Dropping beta from the config makes it unknown.
  w.reload_with_text(w.config.dump());
  CHECK(w.daemon->get("/v1/token?org=beta").status == 404);
  CHECK(w.daemon->get("/v1/token?org=acme").json()["source"] == "cache");
}

TEST_CASE("a broken config on reload is survived, reported in /v1/status, and the old one kept") {
  world w;
  const auto first = w.daemon->get("/v1/token?org=acme").json();
  const auto config_path = w.daemon->config_path().string();

  w.reload_with_text("{ \"min_ttl\": 30,\n  broken");
  auto status = w.daemon->get("/v1/status").json();
  CHECK(status["last_reload"]["ok"] == false);
  auto message = status["last_reload"]["message"].get<std::string>();
  CHECK(message.find(config_path) != std::string::npos);
  CHECK(message.find("not valid JSON") != std::string::npos);
  const auto served = w.daemon->get("/v1/token?org=acme").json();
  CHECK(served["source"] == "cache");
  CHECK(served["access_token"] == first["access_token"]);

  // A config with a bad key: the message names it, the old config still rules.
  auto bad = w.config;
  bad["organizations"]["acme"]["api_version"] = "v9";
  bad["default_org"] = "acme";
  w.reload_with(bad);
  status = w.daemon->get("/v1/status").json();
  CHECK(status["last_reload"]["ok"] == false);
  message = status["last_reload"]["message"].get<std::string>();
  CHECK(message.find("organizations.acme.api_version") != std::string::npos);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto log = w.daemon->log();
  CHECK(log.find("organizations.acme.api_version") != std::string::npos);

  // A good one again.
  w.reload_with(w.config);
  status = w.daemon->get("/v1/status").json();
  CHECK(status["last_reload"]["ok"] == true);
  CHECK(w.daemon->get("/v1/token?org=acme").json()["access_token"] == first["access_token"]);
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("actokend --check-config prints `FILE: key: reason` and exits 1; a good file exits 0") {
  temp_dir dir;
  const auto bad = dir.write("bad.json", R"({
    "min_ttl": "sixty",
    "organizations": {"acme": {"api_version": "v9", "keyfile": "a.key"}}
  })");
  const auto result = run_process({actokend_path(), "--check-config", "--config", bad.string()});
  CHECK(result.exit_code == 1);
  const auto output = result.out + result.err;
  CHECK(output.find(bad.string() + ": min_ttl: ") != std::string::npos);
  CHECK(output.find(bad.string() + ": organizations.acme.api_version: ") != std::string::npos);
  CHECK(output.find(bad.string() + ": organizations.acme.keyfile: unknown key") !=
        std::string::npos);

  const auto broken = dir.write("broken.json", "{\"min_ttl\": 30,,}");
  const auto broken_result =
      run_process({actokend_path(), "--check-config", "--config", broken.string()});
  CHECK(broken_result.exit_code == 1);
  CHECK((broken_result.out + broken_result.err).find(broken.string() + ": ") != std::string::npos);

  const auto missing = dir.path() / "missing.json";
  const auto missing_result =
      run_process({actokend_path(), "--check-config", "--config", missing.string()});
  CHECK(missing_result.exit_code == 1);
  // Not repeated: a path that names nothing may be a key pasted by mistake.
  CHECK(missing_result.err == "actokend: the config file given with --config does not exist\n");

  dir.write("acme.key", "ac-key\n");  // a key_file that is not there would be a problem
  const auto good = dir.write("good.json", R"(// a comment
{
  /* the auth server */
  "auth_url": "https://auth.appcircle.example.com",
  "socket_mode": "0660", // trailing
  "organizations": {"acme": {"key_file": "acme.key",
                             "sub_organizations": {"mobile": "9b2f6d1e-0000-4000-8000-000000000001"}}}
})");
  const auto good_result =
      run_process({actokend_path(), "--check-config", "--config", good.string()});
  CHECK(good_result.exit_code == 0);
  // Checking starts nothing: no socket appears.
  CHECK_FALSE(std::filesystem::exists(dir.path() / "actokend.sock"));
}

TEST_CASE("--check-config as a user who cannot read the config file is an error, not \"ok\"") {
  // nobody's user-mode config, in a folder nobody may not search (as a config
  // under another user's home or a 0750 /etc/actoken), then in a folder it may
  // search but as a file it may not read.
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "hidden" / "actoken");
  const auto config = dir.path() / "hidden" / "actoken" / "actokend.json";
  std::ofstream(config) << "{}";
  ::chmod((dir.path() / "hidden").c_str(), 0700);
  ::chmod(dir.path().c_str(), 0755);
  const std::vector<std::string> as_nobody{
      "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
      actokend_path(),    "--user",        "--check-config"};
  const std::map<std::string, std::string> env{
      {"XDG_CONFIG_HOME", (dir.path() / "hidden").string()}, {"HOME", "/nonexistent"}};
  auto result = run_process(as_nobody, env);
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(result.err.find(config.string() + ": (file): cannot read: Permission denied") !=
                    std::string::npos,
                result.err);
  CHECK(result.out.find("ok") == std::string::npos);

  ::chmod((dir.path() / "hidden").c_str(), 0755);
  ::chmod((dir.path() / "hidden" / "actoken").c_str(), 0755);
  ::chmod(config.c_str(), 0600);
  result = run_process(as_nobody, env);
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(result.err.find(config.string() + ": (file): cannot read: Permission denied") !=
                    std::string::npos,
                result.err);

  // Readable, it is checked as usual (nothing else is wrong with `{}`).
  ::chmod(config.c_str(), 0644);
  result = run_process(as_nobody, env);
  CHECK_MESSAGE(result.exit_code == 0, result.err);
  CHECK(result.out == config.string() + ": ok\n");
}

TEST_CASE("a FIFO at the config path is refused at once, never waited on") {
  temp_dir dir;
  const auto fifo = dir.path() / "actokend.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened without blocking: nobody will ever write to this FIFO, and a
  // blocking open would hang until `timeout` kills it (exit 124).
  const auto result = run_process(
      {"/usr/bin/timeout", "10", actokend_path(), "--check-config", "--config", fifo.string()});
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(
      result.err.find(fifo.string() + ": (file): is not a regular file") != std::string::npos,
      result.err);
}

TEST_CASE("--check-config finds what would fail once running: CA file, cache folder, key files") {
  temp_dir dir;
  const auto not_pem = dir.write("not-a-ca.pem", "this is no certificate\n", 0644);
  const auto key = dir.write("acme.key", "ac-key-that-must-not-be-printed\n", 0644);
  const auto write_config = [&](const json& config) {
    return dir.write("actokend.json", config.dump());
  };
  const auto check = [&](const std::filesystem::path& config) {
    return run_process({actokend_path(), "--check-config", "--config", config.string()});
  };

  auto config = write_config({{"ca_file", not_pem.string()},
                              {"cache_file", (dir.path() / "no-such-folder" / "cache").string()},
                              {"key_dir", (dir.path() / "keys").string()},
                              {"organizations", {{"acme", {{"key_file", key.string()}}}}}});
  auto result = check(config);
  CHECK(result.exit_code == 1);
  const auto prefix = config.string() + ": ";
  CHECK_MESSAGE(result.err.find(prefix + "ca_file: cannot load ca_file " + not_pem.string()) !=
                    std::string::npos,
                result.err);
  CHECK(result.err.find(prefix + "cache_file: cache file " +
                        (dir.path() / "no-such-folder" / "cache").string() + ": " +
                        (dir.path() / "no-such-folder").string() + " does not exist") !=
        std::string::npos);
  CHECK(result.err.find(prefix + "organizations.acme: key file " + key.string()) !=
        std::string::npos);
  CHECK(result.err.find("0644") != std::string::npos);
  CHECK(result.err.find("ac-key-that-must-not-be-printed") == std::string::npos);
  CHECK(result.out.empty());

  // A CA file that is not there; then everything set right: ok.
  config = write_config({{"ca_file", (dir.path() / "missing.pem").string()}});
  result = check(config);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find(prefix + "ca_file: cannot read ca_file") != std::string::npos);

  ::chmod(key.c_str(), 0600);
  std::filesystem::create_directories(dir.path() / "state");
  const auto ca = dir.write("ca.pem", stand_in::generate_pki().ca_cert_pem, 0644);
  config = write_config({{"ca_file", ca.string()},
                         {"cache_file", (dir.path() / "state" / "cache").string()},
                         {"key_dir", (dir.path() / "keys").string()},
                         {"organizations", {{"acme", {{"key_file", key.string()}}}}}});
  result = check(config);
  CHECK_MESSAGE(result.exit_code == 0, result.err);
  CHECK(result.out == config.string() + ": ok\n");
}

TEST_CASE("keys and tokens never appear in the daemon's arguments, answers, metrics or log") {
  world w;
  const auto token = w.daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();

  // A key added through the CLI, and its token.
  const auto new_key = awkward_key();
  w.upstream.add_account(new_key, other_org_id);
  REQUIRE(w.cli({"key", "add", "newco"}, new_key + "\n").exit_code == 0);
  const auto new_token =
      w.daemon->get("/v1/token?org=newco").json()["access_token"].get<std::string>();
  // A key the auth server rejects, refused when added, then kept untried.
  const auto rejected_key = "rejected-" + awkward_key();
  const auto refused = w.cli({"key", "add", "wrong", "--ephemeral"}, rejected_key + "\n");
  CHECK(refused.exit_code == 6);
  CHECK((refused.out + refused.err).find(rejected_key) == std::string::npos);
  REQUIRE(
      w.cli({"key", "add", "wrong", "--ephemeral", "--no-verify"}, rejected_key + "\n").exit_code ==
      0);
  const auto rejected = w.daemon->get("/v1/token?org=wrong");
  CHECK(rejected.status == 502);
  CHECK(rejected.json()["error"] == "key_rejected");
  CHECK(rejected.body.find(rejected_key) == std::string::npos);
  // A PUT with a malformed body that still carries a key.
  const auto malformed = unix_request(w.socket(), "PUT", "/v1/orgs/newco/key",
                                      json{{"key", rejected_key}, {"api_version", "v9"}}.dump());
  CHECK(malformed.status == 400);
  CHECK(malformed.body.find(rejected_key) == std::string::npos);

  const std::vector<std::string> secrets{w.key, new_key,   rejected_key,
                                         token, new_token, token.substr(token.rfind('.') + 1)};
  auto check_clean = [&secrets](const std::string& where, const std::string& text) {
    CAPTURE(where);
    CHECK_FALSE(text.empty());
    for (const auto& secret : secrets) {
      CHECK_MESSAGE(text.find(secret) == std::string::npos, "a secret leaked into " << where);
    }
  };

  check_clean("cmdline", slurp("/proc/" + std::to_string(w.daemon->pid()) + "/cmdline"));
  for (const auto* target : {"/v1/orgs", "/v1/status", "/metrics"}) {
    check_clean(target, w.daemon->get(target).body);
  }
  check_clean("orgs (CLI)", w.cli({"orgs"}).out);
  check_clean("status (CLI)", w.cli({"status"}).out);

  CHECK(w.daemon->stop(SIGTERM) == 0);
  const auto log = w.daemon->log();
  CHECK(log.find("newco") != std::string::npos);  // the log is there...
  check_clean("log", log);                        // ...without secrets
}

TEST_CASE("default_org: a request without org uses it") {
  world w(json::parse(R"({"default_org": "beta"})"));
  const auto beta_key = awkward_key();
  w.upstream.add_account(beta_key, other_org_id);
  w.dir.write("keys/beta.key", beta_key + "\n");
  w.reload();

  const auto reply = w.daemon->get("/v1/token");
  REQUIRE(reply.status == 200);
  CHECK(reply.json()["org"] == "beta");
  CHECK(w.upstream.exchanges_for(beta_key) == 1);
  const auto cli = w.cli({"token"});
  CHECK(cli.exit_code == 0);
  CHECK(cli.out == reply.json()["access_token"].get<std::string>() + "\n");
  CHECK(w.daemon->get("/v1/token?org=acme").json()["org"] == "acme");
}

TEST_CASE("with exactly one organization and no default_org, org may be left out") {
  world w;
  const auto reply = w.daemon->get("/v1/token");
  REQUIRE(reply.status == 200);
  CHECK(reply.json()["org"] == "acme");
  CHECK(w.cli({"token"}).exit_code == 0);
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("with two organizations and no default_org, a request without org is 400") {
  world w;
  w.dir.write("keys/beta.key", awkward_key() + "\n");
  w.reload();
  const auto reply = w.daemon->get("/v1/token");
  CHECK(reply.status == 400);
  CHECK(reply.json()["error"] == "bad_request");
  CHECK(w.cli({"token"}).exit_code == 2);  // SPEC §5: a usage error listing them
  CHECK(w.upstream.exchanges() == 0);
}
