// The Prometheus alerting rules (monitoring/actoken.rules.yml, SPEC §8) are
// written against the metrics the daemon really exports: every `actoken_`
// metric a rule names is a family of the real daemon's /metrics, and the
// states the rules look for (`backoff`, `rejected`, `error`) are what
// actoken_org_state says of organizations really in them. The rules' logic
// itself is proven by `promtool test rules` (tests/packaging/test_alert_rules.sh).
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <set>

namespace {

const auto rules_file =
    std::filesystem::path(ACTOKEN_SOURCE_DIR) / "monitoring" / "actoken.rules.yml";

// The `actoken_` metrics a text names.
std::set<std::string> metric_names(const std::string& text) {
  std::set<std::string> names;
  const std::regex name(R"(\bactoken_[a-z_]+\b)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    names.insert(it->str());
  }
  return names;
}

std::string state_line(const std::string& org, const std::string& state, int value) {
  return "actoken_org_state{org=\"" + org + "\",state=\"" + state + "\"} " + std::to_string(value) +
         "\n";
}

}  // namespace

TEST_CASE("the alerting rules name only metrics the daemon exports, in the states it reports") {
  world_options options;
  options.start_daemon = false;
  // The stand-in answers API v2's path with 404: an organization on v2 is held in `error`.
  options.behaviour.disabled_versions = {"v2"};
  daemon_world w(options);
  w.dir.write("keys/beta.key", "a-key-appcircle-never-issued\n");  // rejected
  w.dir.write("keys/gamma.key", w.key + "\n");
  w.config["organizations"] = {{"gamma", {{"api_version", "v2"}}}, {"delta", json::object()}};
  w.start();
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.daemon->get("/v1/token?org=beta").json()["error"] == "key_rejected");
  CHECK(w.daemon->get("/v1/token?org=gamma").json()["error"] == "endpoint_not_found");
  CHECK(w.daemon->get("/v1/token?org=delta").json()["error"] == "no_key");

  const auto metrics = w.daemon->get("/metrics").body;
  const auto rules = slurp(rules_file);
  const auto named = metric_names(rules);
  CHECK(named.size() >= 4);
  for (const auto& name : named) {
    CHECK_MESSAGE(metrics.find("# TYPE " + name + " ") != std::string::npos,
                  name << " is named by a rule but not exported");
  }
  const std::map<std::string, std::string> in_state{
      {"acme", "ok"}, {"beta", "rejected"}, {"gamma", "error"}, {"delta", "no_key"}};
  for (const auto& [org, now] : in_state) {
    for (const auto* state : {"ok", "no_key", "rejected", "backoff", "error"}) {
      const auto line = state_line(org, state, now == state ? 1 : 0);
      CHECK_MESSAGE(metrics.find(line) != std::string::npos, line);
    }
  }
  // And the states a rule looks for are spelt as the daemon spells them.
  for (const auto* state : {"backoff", "rejected", "error"}) {
    CHECK_MESSAGE(rules.find(state) != std::string::npos, state);
  }
}

TEST_CASE("an organization backing off is `backoff` in actoken_org_state") {
  world_options options;
  options.behaviour.forced_status = 503;
  daemon_world w(options);
  CHECK(w.daemon->get("/v1/token?org=acme").json()["error"] == "upstream_unavailable");
  const auto metrics = w.daemon->get("/metrics").body;
  CHECK(metrics.find(state_line("acme", "backoff", 1)) != std::string::npos);
  CHECK(metrics.find("actoken_exchanges_total{org=\"acme\",result=\"upstream_unavailable\"} 1\n") !=
        std::string::npos);
}
