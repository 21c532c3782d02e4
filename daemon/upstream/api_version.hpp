#pragma once

/// @file
/// Which token endpoint of the auth server to use (SPEC §2 `api_version`): a
/// setting the config, the key store and the cache file share with the auth
/// codec, in a header of its own so that they need not include the codec.

#include <optional>
#include <string_view>

namespace actoken::upstream {

/// Which token endpoint to use. `automatic` tries v3 and falls back (SPEC §2).
enum class api_version { v1, v2, v3, automatic };

/// "v1", "v2", "v3" or "auto".
constexpr std::string_view to_string(api_version v) noexcept {
  switch (v) {
    case api_version::v1:
      return "v1";
    case api_version::v2:
      return "v2";
    case api_version::v3:
      return "v3";
    case api_version::automatic:
      return "auto";
  }
  return "v3";
}

/// Parses "v1", "v2", "v3" or "auto".
constexpr std::optional<api_version> parse_api_version(std::string_view text) noexcept {
  if (text == "v1") return api_version::v1;
  if (text == "v2") return api_version::v2;
  if (text == "v3") return api_version::v3;
  if (text == "auto") return api_version::automatic;
  return std::nullopt;
}

}  // namespace actoken::upstream
