// Key administration: one rule for what the API may not change (a config
// key_file), one order for every change (evict, then rebuild), runtime and
// persisted keys. A real token service on a manual clock; key_dir is a
// temporary folder.
#include "daemon/admin/key_admin.hpp"
#include "daemon/runtime/spawn.hpp"
#include "tests/test_files.hpp"

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

using namespace actoken;
using namespace actoken::testing;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

// Never called: these tests make no exchange.
class no_exchanger final : public tokens::exchanger {
 public:
  net::awaitable<upstream::exchange_result> exchange(std::shared_ptr<const org_settings> /*org*/,
                                                     upstream::api_version /*version*/,
                                                     std::string /*sub_org*/) override {
    co_return failure{errc::internal_error, "no exchange in this test"};
  }
};

struct fixture {
  actoken::testing::scratch_dir scratch{"actoken-key-admin-test"};
  std::filesystem::path dir = scratch.path();
  net::io_context io;
  manual_clock clock;
  tokens::token_service service{io.get_executor(), clock, tokens::service_options{},
                                std::make_shared<no_exchanger>()};
  key_admin keys{io.get_executor(), service, ::geteuid()};
  config cfg;
  int changes = 0;

  fixture() {
    cfg.key_dir = dir / "keys";
    cfg.organizations["managed"].key_file = dir / "managed.key";
    cfg.organizations["acme"];
    keys.load(cfg, false);
    service.on_change([this] { ++changes; });
  }
  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;

  // Caches a token for `org` as the cache file would restore it.
  void cache_token(const std::string& org) {
    const auto now = clock.wall_now();
    service.restore(org, "", {"token-of-" + org, now - 60s, now + 1h, {}, "00000000", {}});
    REQUIRE(service.cached_tokens() > 0);
  }
};

}  // namespace

TEST_CASE("a key PUT evicts the organization's token first, so the change is seen") {
  fixture f;
  f.cache_token("acme");
  REQUIRE_FALSE(f.keys.put(f.cfg, "acme", platform::secure_buffer("key-2"), std::nullopt,
                           std::nullopt, /*persist=*/false));
  CHECK(f.service.cached_tokens() == 0);
  CHECK(f.changes == 1);  // the cache file writer hears of it
  CHECK(f.service.find_org("acme")->key->view() == "key-2");
  CHECK(f.service.find_org("acme")->source == key_source::runtime);
}

TEST_CASE("a key DELETE evicts the same way") {
  fixture f;
  REQUIRE_FALSE(f.keys.put(f.cfg, "acme", platform::secure_buffer("key-1"), std::nullopt,
                           std::nullopt, false));
  f.cache_token("acme");
  f.changes = 0;
  REQUIRE_FALSE(f.keys.remove(f.cfg, "acme"));
  CHECK(f.service.cached_tokens() == 0);
  CHECK(f.changes == 1);
  CHECK(f.service.find_org("acme")->key == nullptr);
}

TEST_CASE("a key from the config's key_file is neither replaced nor removed") {
  fixture f;
  const auto put =
      f.keys.put(f.cfg, "managed", platform::secure_buffer("k"), std::nullopt, std::nullopt, true);
  REQUIRE(put.has_value());
  CHECK(put->code == errc::key_managed_by_config);
  const auto removed = f.keys.remove(f.cfg, "managed");
  REQUIRE(removed.has_value());
  CHECK(removed->code == errc::key_managed_by_config);
  CHECK_FALSE(std::filesystem::exists(f.cfg.key_dir / "managed.key"));
}

TEST_CASE("a persisted key is written to key_dir and read back from it") {
  fixture f;
  REQUIRE_FALSE(f.keys.put(f.cfg, "delta", platform::secure_buffer("key-d"),
                           std::string("https://auth.example"), upstream::api_version::v2, true));
  CHECK(slurp(f.cfg.key_dir / "delta.key") == "key-d\n");
  CHECK(mode_of(f.cfg.key_dir / "delta.key") == 0600);
  const auto delta = f.service.find_org("delta");
  REQUIRE(delta != nullptr);
  CHECK(delta->source == key_source::key_dir);
  CHECK(delta->auth_url == "https://auth.example");
  CHECK(delta->api_version == upstream::api_version::v2);

  REQUIRE_FALSE(f.keys.remove(f.cfg, "delta"));
  CHECK_FALSE(std::filesystem::exists(f.cfg.key_dir / "delta.key"));
  CHECK(f.service.find_org("delta") == nullptr);  // nothing names it any more
}

// SPEC §6: key files are written and removed only through the walk to
// key_dir. Below a folder its group may write, the key is read (SPEC §2 reads
// key files as they are) but neither replaced nor removed, and the answer
// says so instead of claiming a removal.
TEST_CASE("a key_dir below a group-writable folder: read, but no key stored or removed there") {
  fixture f;
  REQUIRE_FALSE(f.keys.put(f.cfg, "delta", platform::secure_buffer("key-d"), std::nullopt,
                           std::nullopt, true));
  REQUIRE(::chmod(f.dir.c_str(), 0775) == 0);
  f.keys.load(f.cfg, true);
  REQUIRE(f.service.find_org("delta")->key != nullptr);

  const auto removed = f.keys.remove(f.cfg, "delta");
  REQUIRE(removed.has_value());
  CHECK(removed->code == errc::internal_error);
  CHECK(removed->message == "organization delta: the key file could not be removed from " +
                                f.cfg.key_dir.string() + " (see the daemon's log)");
  CHECK(slurp(f.cfg.key_dir / "delta.key") == "key-d\n");
  const auto put = f.keys.put(f.cfg, "delta", platform::secure_buffer("key-e"), std::nullopt,
                              std::nullopt, true);
  REQUIRE(put.has_value());
  CHECK(put->code == errc::internal_error);
  CHECK(slurp(f.cfg.key_dir / "delta.key") == "key-d\n");
  CHECK(f.service.find_org("delta")->key->view() == "key-d");
}

TEST_CASE("removing what is not there") {
  fixture f;
  CHECK(f.keys.remove(f.cfg, "nosuch")->code == errc::unknown_org);
  CHECK(f.keys.remove(f.cfg, "acme")->code == errc::no_key);
}

namespace {

net::awaitable<void> wait_for(tokens::token_service& service, tokens::pending_exchange pending,
                              std::optional<tokens::token_outcome>& outcome) {
  outcome = co_await service.wait(std::move(pending));
}

}  // namespace

TEST_CASE("a key_command runs at load; a request waits for it, then goes on to the exchange") {
  fixture f;
  f.cfg.organizations["cmd"].key_command =
      std::vector<std::string>{"/bin/sh", "-c", "echo from-the-command"};
  f.keys.load(f.cfg, /*reload=*/true);
  const auto before = f.service.find_org("cmd");
  REQUIRE(before);
  CHECK(before->source == key_source::command);
  CHECK(before->key == nullptr);
  CHECK(before->key_problem == "its key_command is still running");

  auto first = f.service.lookup({"cmd", "", 60s, false});
  REQUIRE(std::holds_alternative<tokens::pending_exchange>(first));
  std::optional<tokens::token_outcome> outcome;
  spawn_detached(f.io.get_executor(),
                 wait_for(f.service, std::get<tokens::pending_exchange>(std::move(first)), outcome),
                 "a request");
  f.io.run();

  const auto after = f.service.find_org("cmd");
  REQUIRE(after->key);
  CHECK(after->key->view() == "from-the-command");
  CHECK(after->command == nullptr);
  // The exchange was tried with the command's key (this test's exchanger refuses them all).
  REQUIRE(outcome);
  const auto* failed = std::get_if<failure>(&*outcome);
  REQUIRE(failed != nullptr);
  CHECK(failed->code == errc::internal_error);
  CHECK(failed->message.find("no exchange in this test") != std::string::npos);

  // Managed by the config: a persisted key is refused; an ephemeral one comes
  // first (SPEC §2) and, removed, gives the command's key back.
  const auto refused = f.keys.put(f.cfg, "cmd", platform::secure_buffer("other"), std::nullopt,
                                  std::nullopt, /*persist=*/true);
  REQUIRE(refused);
  CHECK(refused->code == errc::key_managed_by_config);
  CHECK(refused->message.find("organization cmd's key comes from the config's key_command") == 0);
  REQUIRE(f.keys.remove(f.cfg, "cmd"));  // no ephemeral key to remove: 409 too
  CHECK(f.keys.remove(f.cfg, "cmd")->code == errc::key_managed_by_config);
  REQUIRE_FALSE(f.keys.put(f.cfg, "cmd", platform::secure_buffer("ephemeral-key"), std::nullopt,
                           std::nullopt, /*persist=*/false));
  CHECK(f.service.find_org("cmd")->key->view() == "ephemeral-key");
  CHECK(f.service.find_org("cmd")->source == key_source::runtime);
  REQUIRE_FALSE(f.keys.remove(f.cfg, "cmd"));
  // The command's last key is used again at once, and the command runs again.
  CHECK(f.service.find_org("cmd")->key->view() == "from-the-command");
  CHECK(f.service.find_org("cmd")->source == key_source::command);
  CHECK(f.service.find_org("cmd")->command != nullptr);
  f.io.restart();
  f.io.run();
  CHECK(f.service.find_org("cmd")->command == nullptr);
  CHECK(f.service.find_org("cmd")->key->view() == "from-the-command");
}

TEST_CASE("a key_command that fails leaves the organization without a key, with its reason") {
  fixture f;
  f.cfg.organizations["cmd"].key_command =
      std::vector<std::string>{"/bin/sh", "-c", "echo 'vault: permission denied' >&2; exit 2"};
  f.keys.load(f.cfg, /*reload=*/true);
  f.io.run();
  const auto org = f.service.find_org("cmd");
  CHECK(org->key == nullptr);
  CHECK(org->key_problem == "key_command /bin/sh failed (exit status 2): vault: permission denied");
  const auto answer = f.service.lookup({"cmd", "", 60s, false});
  REQUIRE(std::holds_alternative<failure>(answer));
  CHECK(std::get<failure>(answer).code == errc::no_key);
}
