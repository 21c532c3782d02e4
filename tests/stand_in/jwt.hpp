#pragma once

/// @file
/// The access tokens the stand-in issues: HS256 JWTs (RFC 7519) whose payload
/// carries what SPEC §1 says Appcircle's do (`exp`, `currentOrganizationId`).

#include <cstdint>
#include <string>
#include <string_view>

namespace actoken::stand_in {

/// The payload of one token.
struct jwt_claims {
  std::string subject;          ///< `sub`
  std::string organization_id;  ///< `currentOrganizationId`
  std::int64_t issued_at = 0;   ///< `iat`, seconds since the epoch
  std::int64_t expires_at = 0;  ///< `exp`, seconds since the epoch
  std::string token_id;         ///< `jti`, unique per token
};

/// Encodes and signs a token with HMAC-SHA256 under `secret`.
std::string sign_jwt(const jwt_claims& claims, std::string_view secret);

}  // namespace actoken::stand_in
