#include "common/error.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::errc;

TEST_CASE("every error code maps to its SPEC §4 status") {
  CHECK(actoken::http_status(errc::bad_request) == 400);
  CHECK(actoken::http_status(errc::forbidden) == 403);
  CHECK(actoken::http_status(errc::not_found) == 404);
  CHECK(actoken::http_status(errc::method_not_allowed) == 405);
  CHECK(actoken::http_status(errc::unknown_org) == 404);
  CHECK(actoken::http_status(errc::no_key) == 409);
  CHECK(actoken::http_status(errc::ttl_unsatisfiable) == 409);
  CHECK(actoken::http_status(errc::key_managed_by_config) == 409);
  CHECK(actoken::http_status(errc::payload_too_large) == 413);
  CHECK(actoken::http_status(errc::key_rejected) == 502);
  CHECK(actoken::http_status(errc::endpoint_not_found) == 502);
  CHECK(actoken::http_status(errc::upstream_tls) == 502);
  CHECK(actoken::http_status(errc::bad_upstream_response) == 502);
  CHECK(actoken::http_status(errc::upstream_unavailable) == 503);
  CHECK(actoken::http_status(errc::rate_limited) == 503);
  CHECK(actoken::http_status(errc::upstream_timeout) == 504);
  CHECK(actoken::http_status(errc::internal_error) == 500);
}

TEST_CASE("every error code maps to its SPEC §5 exit code") {
  CHECK(actoken::cli_exit_code(errc::bad_request) == 1);
  CHECK(actoken::cli_exit_code(errc::ttl_unsatisfiable) == 1);
  CHECK(actoken::cli_exit_code(errc::upstream_tls) == 1);
  CHECK(actoken::cli_exit_code(errc::forbidden) == 4);
  CHECK(actoken::cli_exit_code(errc::unknown_org) == 5);
  CHECK(actoken::cli_exit_code(errc::no_key) == 5);
  CHECK(actoken::cli_exit_code(errc::key_rejected) == 6);
  CHECK(actoken::cli_exit_code(errc::upstream_unavailable) == 7);
  CHECK(actoken::cli_exit_code(errc::upstream_timeout) == 7);
  CHECK(actoken::cli_exit_code(errc::rate_limited) == 7);
}

TEST_CASE("wire names round-trip and only 503s carry Retry-After") {
  for (int value = 1; value <= static_cast<int>(errc::internal_error); ++value) {
    const auto code = static_cast<errc>(value);
    const auto name = actoken::code_name(code);
    REQUIRE(actoken::errc_from_name(name).has_value());
    CHECK(*actoken::errc_from_name(name) == code);
    CHECK(actoken::carries_retry_after(code) == (actoken::http_status(code) == 503));
  }
  CHECK_FALSE(actoken::errc_from_name("no_such_code").has_value());
}
