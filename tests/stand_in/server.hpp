#pragma once

/// @file
/// The stand-in Appcircle auth server: real HTTPS on a loopback port, run on
/// its own thread and io_context so a test can host it beside the daemon it
/// spawns. What it answers is decided by `auth_handler`; Asio and Beast stay
/// in server.cpp.

#include "tests/stand_in/auth_handler.hpp"
#include "tests/stand_in/behaviour.hpp"
#include "tests/stand_in/pki.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::stand_in {

/// Where to listen and with which certificate.
struct server_options {
  std::string address = "127.0.0.1";  ///< listen address
  std::uint16_t port = 0;             ///< 0: any free port, see `server::port()`
  test_pki pki;                       ///< empty: `server` generates one, see `server::pki()`
  bool control_api = false;           ///< serve /_stand_in/stats and /_stand_in/behaviour
};

/// An HTTPS server that behaves like Appcircle's auth server (SPEC §1).
/// Every public member may be called from any thread.
class server {
 public:
  /// Prepares the TLS context; does not listen yet.
  explicit server(server_options options = {});
  /// Stops the server.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the server thread. Throws when it cannot bind.
  void start();
  /// Closes every connection and joins the server thread. Idempotent.
  void stop();

  /// The bound port (after `start`).
  std::uint16_t port() const;
  /// "https://ADDRESS:PORT", what the daemon's `auth_url` should be.
  std::string url() const;
  /// The certificates in use; clients trust `pki().ca_cert_pem`.
  const test_pki& pki() const;

  /// Registers a key for `org_id`; it may also get tokens for `sub_org_ids`.
  void add_account(std::string key, std::string org_id, std::vector<std::string> sub_org_ids = {});

  /// Replaces the behaviour; applies to requests read from now on.
  void set_behaviour(const behaviour& value);
  /// The current behaviour.
  behaviour get_behaviour() const;

  /// Requests to a token path (/auth/v{1,2,3}/token), whatever their method or outcome.
  std::size_t exchanges() const;
  /// Requests to a token path whose key field decoded to exactly `key`.
  std::size_t exchanges_for(std::string_view key) const;
  /// Tokens issued and sent whole (without a fault, or in pieces).
  std::size_t successful_exchanges() const;
  /// The requests to token paths, oldest first (the latest 10,000).
  std::vector<recorded_request> requests() const;
  /// Zeroes the counters and forgets the recorded requests.
  void reset_counters();
  /// The server name (SNI) each completed TLS handshake carried, oldest
  /// first; "" for a handshake without one (as for an IP address).
  std::vector<std::string> server_names() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace actoken::stand_in
