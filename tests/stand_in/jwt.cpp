#include "tests/stand_in/jwt.hpp"

#include "tests/stand_in/encoding.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <stdexcept>

namespace actoken::stand_in {

std::string sign_jwt(const jwt_claims& claims, std::string_view secret) {
  const nlohmann::json payload = {
      {"iss", "actoken-stand-in"},
      {"sub", claims.subject},
      {"iat", claims.issued_at},
      {"exp", claims.expires_at},
      {"currentOrganizationId", claims.organization_id},
      {"jti", claims.token_id},
  };
  std::string token =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + '.' + base64url_encode(payload.dump());

  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, sizeof mac,
                &mac_size) == nullptr) {
    throw std::runtime_error("sign_jwt: HMAC-SHA256 failed");
  }
  token += '.';
  token += base64url_encode({reinterpret_cast<const char*>(mac), mac_size});
  return token;
}

}  // namespace actoken::stand_in
