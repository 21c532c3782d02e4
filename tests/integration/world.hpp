#pragma once

/// @file
/// The usual integration-test world: a stand-in auth server with the account
/// of organization "acme", its CA written to DIR/pki/ca.pem, the key in
/// DIR/keys/acme.key, and the real daemon configured to trust it. Tests that
/// need more derive from it or set `world_options`.

#include "tests/integration/harness.hpp"
#include "tests/stand_in/server.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace actoken::testing {

/// The stand-in's id for organization "acme".
inline constexpr auto acme_org_id = "6f1c2a8e-0000-4000-8000-000000000001";

/// How a `daemon_world` starts.
struct world_options {
  /// Merged over the defaults (auth_url, ca_file; socket and key_dir inside the folder).
  nlohmann::json config = nlohmann::json::object();
  bool trust_stand_in = true;       ///< set ca_file to the stand-in's CA
  bool acme_key = true;             ///< write keys/acme.key (and register it upstream)
  stand_in::behaviour behaviour{};  ///< the stand-in's behaviour from the start
  bool start_daemon = true;         ///< false: call start() when ready
};

struct daemon_world {
  explicit daemon_world(world_options options = {});
  daemon_world(const daemon_world&) = delete;
  daemon_world& operator=(const daemon_world&) = delete;

  temp_dir dir;
  std::string key = awkward_key();  ///< acme's key
  stand_in::server upstream;
  nlohmann::json config;  ///< what the daemon is (re)started with
  std::optional<daemon_process> daemon;

  /// Starts the daemon with `config`; restart() stops it first.
  void start() { daemon.emplace(dir, config); }
  void restart() {
    daemon.reset();
    start();
  }

  const std::filesystem::path& socket() const { return daemon->socket(); }

  /// `actoken --socket SOCKET args...` with `input` on stdin.
  process_result cli(std::vector<std::string> args, const std::string& input = "") const;

  /// Changes some knobs of the stand-in's behaviour.
  void tune(const std::function<void(stand_in::behaviour&)>& change);

  /// The organization's entry in /v1/orgs (null when absent).
  nlohmann::json org_view(const std::string& name) const;
};

/// A token's fingerprint as SPEC §6 gives it (the first 8 hex digits of its
/// SHA-256), computed here independently of the daemon's code.
std::string fingerprint_of(const std::string& token);

}  // namespace actoken::testing
