#include "tests/integration/world.hpp"

#include "tests/stand_in/pki.hpp"

#include <openssl/sha.h>

#include <cstdio>

namespace actoken::testing {

daemon_world::daemon_world(world_options options) {
  if (options.acme_key) {
    upstream.add_account(key, acme_org_id);
    dir.write("keys/acme.key", key + "\n");
  }
  upstream.set_behaviour(options.behaviour);
  upstream.start();
  write_pki(upstream.pki(), dir.path() / "pki");
  config = {{"auth_url", upstream.url()},
            {"socket", (dir.path() / "actokend.sock").string()},
            {"key_dir", (dir.path() / "keys").string()}};
  if (options.trust_stand_in) config["ca_file"] = (dir.path() / "pki" / "ca.pem").string();
  for (const auto& [name, value] : options.config.items()) config[name] = value;
  if (options.start_daemon) start();
}

process_result daemon_world::cli(std::vector<std::string> args, const std::string& input) const {
  args.insert(args.begin(), {actoken_path(), "--socket", socket().string()});
  return run_process(args, {}, input);
}

void daemon_world::tune(const std::function<void(stand_in::behaviour&)>& change) {
  auto behaviour = upstream.get_behaviour();
  change(behaviour);
  upstream.set_behaviour(behaviour);
}

nlohmann::json daemon_world::org_view(const std::string& name) const {
  const auto all = daemon->get("/v1/orgs").json();  // outlives the loop
  for (const auto& org : all["orgs"]) {
    if (org["name"] == name) return org;
  }
  return nullptr;
}

std::string fingerprint_of(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  ::SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  return hex;
}

}  // namespace actoken::testing
