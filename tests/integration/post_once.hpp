#pragma once

/// @file
/// One exchange through the daemon's own auth client, run to completion on a fresh io_context:
/// what the tests that speak to a TLS server directly (no daemon) call.

#include "daemon/upstream/auth_client.hpp"
#include "daemon/upstream/auth_codec.hpp"
#include "daemon/upstream/url.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace actoken::testing {

/// POSTs the v3 form with `key` to `server`'s token path and returns the outcome; an exception
/// the client lets out is thrown here.
inline upstream::post_result post_once(upstream::auth_client_options options,
                                       const upstream::url& server, const std::string& key,
                                       std::chrono::milliseconds timeout) {
  boost::asio::io_context io;
  upstream::auth_client client(io.get_executor(), std::move(options));
  const auto body = upstream::build_form_body({upstream::api_version::v3, key, "openid", ""});
  std::optional<upstream::post_result> result;
  std::exception_ptr thrown;
  boost::asio::co_spawn(
      io,
      client.post_form(server, std::string(upstream::token_path(upstream::api_version::v3)), body,
                       timeout),
      [&](std::exception_ptr e, upstream::post_result r) {
        thrown = e;
        result = std::move(r);
      });
  io.run();
  if (thrown) std::rethrow_exception(thrown);
  REQUIRE(result);
  return std::move(*result);
}

}  // namespace actoken::testing
