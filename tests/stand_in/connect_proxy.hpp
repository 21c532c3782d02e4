#pragma once

/// @file
/// A small HTTP CONNECT proxy on a loopback port, for the daemon's proxy
/// tests: it checks Basic credentials when asked to, then splices bytes both
/// ways. Like `server`, it runs on its own thread; Asio stays in the .cpp.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace actoken::stand_in {

/// An HTTP CONNECT proxy that tunnels to loopback targets only.
/// Every public member may be called from any thread.
class connect_proxy {
 public:
  /// With `required_basic_auth` (user, password), a CONNECT without the
  /// matching `Proxy-Authorization: Basic ...` gets 407.
  explicit connect_proxy(
      std::optional<std::pair<std::string, std::string>> required_basic_auth = {});
  /// Stops the proxy.
  ~connect_proxy();
  connect_proxy(const connect_proxy&) = delete;
  connect_proxy& operator=(const connect_proxy&) = delete;

  /// Listens on 127.0.0.1 (any free port) and starts the proxy thread.
  void start();
  /// Closes every tunnel and joins the proxy thread. Idempotent.
  void stop();

  /// The bound port (after `start`).
  std::uint16_t port() const;
  /// "http://127.0.0.1:PORT", what the daemon's `proxy` setting should be
  /// (add `user:pass@` for the authenticated case).
  std::string url() const;

  /// Answers every CONNECT from now on with exactly `bytes`, then closes the
  /// connection, instead of tunnelling ("" tunnels again): a refusal other
  /// than 407, bytes after a 200, a reply that is not HTTP, a head over a
  /// client's limit. Targets are still recorded; tunnels() does not count these.
  void answer_with(std::string bytes);

  /// What to answer inside a "tunnel" instead of the server.
  struct inside_tunnel {
    std::string bytes;   ///< sent once the client's first bytes (its ClientHello) are in
    bool reset = false;  ///< then end with a TCP RST (SO_LINGER 0) instead of a FIN
  };

  /// Answers every CONNECT from now on with 200, then plays the server's part
  /// itself as `answer` says: a filtering proxy or captive portal that speaks
  /// plain HTTP where the server's TLS should be, a TLS alert, a close or a
  /// reset mid-handshake. nullopt tunnels again. Targets are still recorded;
  /// tunnels() does not count these.
  void answer_inside_tunnel(std::optional<inside_tunnel> answer);

  /// CONNECT requests answered with 200.
  std::size_t tunnels() const;
  /// Every CONNECT target asked for ("host:port"), oldest first, allowed or not.
  std::vector<std::string> targets() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace actoken::stand_in
