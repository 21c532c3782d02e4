#pragma once

/// @file
/// The daemon's exchanger: the auth codec (what to send, how to read the
/// answer) over the auth client (HTTPS). Nothing here is faked for tests.

#include "daemon/tokens/token_service.hpp"
#include "daemon/upstream/auth_client.hpp"

#include <memory>

namespace actoken::tokens {

/// Exchanges keys for tokens at the organization's auth server over HTTPS.
class https_exchanger final : public exchanger {
 public:
  https_exchanger(std::shared_ptr<upstream::auth_client> client, const clock_source& clock,
                  seconds timeout, seconds default_token_ttl);

  net::awaitable<upstream::exchange_result> exchange(std::shared_ptr<const org_settings> org,
                                                     upstream::api_version version,
                                                     std::string sub_org) override;

 private:
  std::shared_ptr<upstream::auth_client> client_;
  const clock_source& clock_;
  seconds timeout_;
  seconds default_token_ttl_;
};

}  // namespace actoken::tokens
