// A CONNECT proxy that does not simply say 200 (SPEC §2 `proxy`, §3
// `upstream_unavailable`): a refusal other than 407, bytes sent right after
// its 200, a reply that is not HTTP, a head over the daemon's limit, and proxy
// URLs that are not http://. Each time the exchange fails clearly, nothing
// reaches the auth server, and the daemon serves on.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/connect_proxy.hpp"
#include "tests/test_env.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

TEST_CASE("a proxy that refuses or answers oddly: upstream_unavailable, nothing sent upstream") {
  const auto env = without_proxy_variables();
  stand_in::connect_proxy proxy;
  proxy.start();
  std::string answer;
  std::string expected;  // in the error message
  SUBCASE("403 Forbidden") {
    answer = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    expected = "refused CONNECT to 127.0.0.1:";
  }
  SUBCASE("502 with an HTML page (the body is not waited for)") {
    const std::string page = "<html><body>no route to host</body></html>";
    answer = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: " +
             std::to_string(page.size()) + "\r\n\r\n" + page;
    expected = " with 502";
  }
  SUBCASE("200, then bytes before our ClientHello") {
    answer = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 not the server's";
    expected = "sent unexpected data after its CONNECT reply";
  }
  SUBCASE("a reply that is not HTTP") {
    answer = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    expected = "reading the CONNECT reply from proxy 127.0.0.1:";
  }
  SUBCASE("a reply head over 16 KiB") {
    answer = "HTTP/1.1 200 Connection established\r\nX-Padding: " + std::string(32 * 1024, 'a') +
             "\r\n\r\n";
    expected = "reading the CONNECT reply from proxy 127.0.0.1:";
  }
  proxy.answer_with(answer);
  daemon_world w({.config = {{"proxy", proxy.url()}}});
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 503);
  CHECK(reply.json()["error"] == "upstream_unavailable");
  const auto message = reply.json()["message"].get<std::string>();
  CHECK_MESSAGE(message.find(expected) != std::string::npos, message);
  CHECK(message.find("acme") != std::string::npos);
  CHECK(message.find(w.key) == std::string::npos);
  CHECK(proxy.targets() ==
        std::vector<std::string>{"127.0.0.1:" + std::to_string(w.upstream.port())});
  CHECK(proxy.tunnels() == 0);
  CHECK(w.upstream.exchanges() == 0);
  CHECK(w.org_view("acme")["last_error"]["code"] == "upstream_unavailable");
  CHECK(w.daemon->log().find(w.key) == std::string::npos);
  CHECK(w.daemon->get("/v1/health").status == 200);
}

TEST_CASE("a proxy setting that is not http:// is a config error naming the key, not the URL") {
  const auto env = without_proxy_variables();
  daemon_world w({.start_daemon = false});
  for (const std::string url :
       {"socks5://builder:s3cret@127.0.0.1:1080", "https://builder:s3cret@proxy.example.test:3128",
        "http://builder:s3cret@proxy.example.test:3128/path"}) {
    CAPTURE(url);
    auto config = w.config;
    config["proxy"] = url;
    const auto path = w.dir.write("proxied.json", config.dump());
    const auto checked =
        run_process({actokend_path(), "--check-config", "--config", path.string()});
    CHECK(checked.exit_code == 1);
    CHECK_MESSAGE(checked.err.find("proxy: must be an http://[user:pass@]host[:port] URL") !=
                      std::string::npos,
                  checked.err);
    CHECK(checked.err.find("s3cret") == std::string::npos);
    CHECK(checked.out.find("s3cret") == std::string::npos);
  }
}

TEST_CASE(
    "$HTTPS_PROXY that is not http://: the exchanges it would carry fail, without echoing it") {
  daemon_world w({.start_daemon = false});
  for (const std::string url :
       {"socks5://builder:s3cret@127.0.0.1:1080", "https://builder:s3cret@127.0.0.1:3128"}) {
    CAPTURE(url);
    {
      const auto env = without_proxy_variables();
      const scoped_env proxy_variable("HTTPS_PROXY", url.c_str());
      w.restart();  // the daemon reads its environment at start
    }
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 503);
    CHECK(reply.json()["error"] == "upstream_unavailable");
    CHECK_MESSAGE(reply.json()["message"].get<std::string>().find(
                      "invalid proxy URL in $HTTPS_PROXY") != std::string::npos,
                  reply.body);
    CHECK(reply.body.find("s3cret") == std::string::npos);
    CHECK(w.daemon->log().find("s3cret") == std::string::npos);
    CHECK(w.upstream.exchanges() == 0);
  }
}
