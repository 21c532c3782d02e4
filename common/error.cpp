#include "common/error.hpp"

#include <array>
#include <string>

namespace actoken {
namespace {

struct code_info {
  errc code;
  std::string_view name;
  unsigned status;
  int exit;
};

// The single table behind every mapping (SPEC §4 status, SPEC §5 exit code).
constexpr std::array<code_info, 17> table{{
    {errc::bad_request, "bad_request", 400, exit_code::failure},
    {errc::forbidden, "forbidden", 403, exit_code::permission},
    {errc::not_found, "not_found", 404, exit_code::failure},
    {errc::method_not_allowed, "method_not_allowed", 405, exit_code::failure},
    {errc::unknown_org, "unknown_org", 404, exit_code::no_such_org},
    {errc::no_key, "no_key", 409, exit_code::no_such_org},
    {errc::ttl_unsatisfiable, "ttl_unsatisfiable", 409, exit_code::failure},
    {errc::key_managed_by_config, "key_managed_by_config", 409, exit_code::failure},
    {errc::payload_too_large, "payload_too_large", 413, exit_code::failure},
    {errc::key_rejected, "key_rejected", 502, exit_code::rejected},
    {errc::endpoint_not_found, "endpoint_not_found", 502, exit_code::failure},
    {errc::upstream_tls, "upstream_tls", 502, exit_code::failure},
    {errc::bad_upstream_response, "bad_upstream_response", 502, exit_code::failure},
    {errc::upstream_unavailable, "upstream_unavailable", 503, exit_code::unavailable},
    {errc::rate_limited, "rate_limited", 503, exit_code::unavailable},
    {errc::upstream_timeout, "upstream_timeout", 504, exit_code::unavailable},
    {errc::internal_error, "internal_error", 500, exit_code::failure},
}};

const code_info* find(errc e) noexcept {
  for (const auto& info : table) {
    if (info.code == e) {
      return &info;
    }
  }
  return nullptr;
}

}  // namespace

std::string_view code_name(errc e) noexcept {
  const auto* info = find(e);
  return info != nullptr ? info->name : std::string_view("internal_error");
}

std::optional<errc> errc_from_name(std::string_view name) noexcept {
  for (const auto& info : table) {
    if (info.name == name) {
      return info.code;
    }
  }
  return std::nullopt;
}

unsigned http_status(errc e) noexcept {
  const auto* info = find(e);
  return info != nullptr ? info->status : 500U;
}

bool carries_retry_after(errc e) noexcept {
  return e == errc::upstream_unavailable || e == errc::rate_limited;
}

int cli_exit_code(errc e) noexcept {
  const auto* info = find(e);
  return info != nullptr ? info->exit : exit_code::failure;
}

}  // namespace actoken
