#include "daemon/upstream/url.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using actoken::upstream::authority;
using actoken::upstream::host_header;
using actoken::upstream::is_ip_literal;
using actoken::upstream::parse_auth_url;
using actoken::upstream::parse_proxy_url;
using actoken::upstream::parse_url;
using actoken::upstream::redacted;

TEST_CASE("parse_url: the default auth_url") {
  auto u = parse_url("https://auth.appcircle.io");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "auth.appcircle.io");
  CHECK(u->port == 443);
  CHECK(u->path.empty());
  CHECK(u->userinfo.empty());
}

TEST_CASE("parse_url: explicit port, base path, trailing slashes") {
  auto u = parse_url("https://auth.example.com:8443/appcircle/");
  REQUIRE(u);
  CHECK(u->host == "auth.example.com");
  CHECK(u->port == 8443);
  CHECK(u->path == "/appcircle");

  auto v = parse_url("https://auth.example.com/");
  REQUIRE(v);
  CHECK(v->path.empty());

  auto w = parse_url("https://auth.example.com/a/b//");
  REQUIRE(w);
  CHECK(w->path == "/a/b");
}

TEST_CASE("parse_url: scheme and host are case-insensitive and lower-cased") {
  auto u = parse_url("HTTPS://Auth.Example.COM");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "auth.example.com");
}

TEST_CASE("parse_url: IP literals") {
  auto v4 = parse_url("https://127.0.0.1:9443");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 9443);

  auto v6 = parse_url("https://[::1]:9443/base");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9443);
  CHECK(v6->path == "/base");

  auto v6_default = parse_url("https://[2001:DB8::1]");
  REQUIRE(v6_default);
  CHECK(v6_default->host == "2001:db8::1");
  CHECK(v6_default->port == 443);
}

TEST_CASE("parse_url: rejects what is not an https base URL") {
  CHECK_FALSE(parse_url(""));
  CHECK_FALSE(parse_url("auth.appcircle.io"));
  CHECK_FALSE(parse_url("http://auth.appcircle.io"));
  CHECK_FALSE(parse_url("ftp://auth.appcircle.io"));
  CHECK_FALSE(parse_url("https://"));
  CHECK_FALSE(parse_url("https:///path"));
  CHECK_FALSE(parse_url("https://user:pass@auth.appcircle.io"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io:"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io:0"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io:65536"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io:44x"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io?x=1"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io/a#frag"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io/a b"));
  CHECK_FALSE(parse_url("https://auth.appcircle.io/a\r\nX-Injected: 1"));
  CHECK_FALSE(parse_url("https://auth..appcircle.io"));
  CHECK_FALSE(parse_url("https://auth appcircle.io"));
  CHECK_FALSE(parse_url("https://[::1"));
  CHECK_FALSE(parse_url("https://[not-an-ip]"));
  CHECK_FALSE(parse_url("https://[::1]x"));
  CHECK_FALSE(parse_url("https://::1"));
  CHECK_FALSE(parse_url("https://127.1"));
  CHECK_FALSE(parse_url("https://10.0.0.256"));
}

TEST_CASE("parse_proxy_url: http with and without user info") {
  auto p = parse_proxy_url("http://proxy.corp:3128");
  REQUIRE(p);
  CHECK(p->scheme == "http");
  CHECK(p->host == "proxy.corp");
  CHECK(p->port == 3128);
  CHECK(p->userinfo.empty());

  auto q = parse_proxy_url("http://al%40ice:s3cr%3At@127.0.0.1:8080/");
  REQUIRE(q);
  CHECK(q->host == "127.0.0.1");
  CHECK(q->port == 8080);
  CHECK(q->userinfo.view() == "al%40ice:s3cr%3At");
  CHECK(q->path.empty());

  auto bare = parse_proxy_url("proxy.corp:3128");
  REQUIRE(bare);
  CHECK(bare->scheme == "http");
  CHECK(bare->port == 3128);

  auto default_port = parse_proxy_url("http://proxy.corp");
  REQUIRE(default_port);
  CHECK(default_port->port == 80);

  auto v6 = parse_proxy_url("http://[::1]:3128");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
}

TEST_CASE("parse_proxy_url: rejects https proxies, paths and bad user info") {
  CHECK_FALSE(parse_proxy_url(""));
  CHECK_FALSE(parse_proxy_url("https://proxy.corp:3128"));
  CHECK_FALSE(parse_proxy_url("socks5://proxy.corp:1080"));
  CHECK_FALSE(parse_proxy_url("http://proxy.corp:3128/some/path"));
  CHECK_FALSE(parse_proxy_url("http://@proxy.corp:3128"));
  CHECK_FALSE(parse_proxy_url("http://user:%zz@proxy.corp:3128"));
}

TEST_CASE("is_ip_literal") {
  CHECK(is_ip_literal("127.0.0.1"));
  CHECK(is_ip_literal("::1"));
  CHECK(is_ip_literal("2001:db8::1"));
  CHECK_FALSE(is_ip_literal("[::1]"));
  CHECK_FALSE(is_ip_literal("localhost"));
  CHECK_FALSE(is_ip_literal("auth.appcircle.io"));
  CHECK_FALSE(is_ip_literal("127.1"));
  CHECK_FALSE(is_ip_literal(""));
}

TEST_CASE("authority, Host header and redaction") {
  auto u = parse_url("https://auth.appcircle.io");
  REQUIRE(u);
  CHECK(authority(*u) == "auth.appcircle.io:443");
  CHECK(host_header(*u) == "auth.appcircle.io");

  auto v6 = parse_url("https://[::1]:9443/x");
  REQUIRE(v6);
  CHECK(authority(*v6) == "[::1]:9443");
  CHECK(host_header(*v6) == "[::1]:9443");
  CHECK(redacted(*v6) == "https://[::1]:9443/x");

  auto p = parse_proxy_url("http://user:hunter2@proxy.corp:3128");
  REQUIRE(p);
  CHECK(redacted(*p) == "http://proxy.corp:3128");
}

TEST_CASE("parse_auth_url: the parse, and the text without white space or trailing slashes") {
  const auto server = parse_auth_url(" https://Auth.Example.com:8443/base// ");
  REQUIRE(server);
  CHECK(server->text == "https://Auth.Example.com:8443/base");
  CHECK(server->parsed.host == "auth.example.com");
  CHECK(server->parsed.path == "/base");
  CHECK(parse_auth_url("https://auth.example.com/")->text == "https://auth.example.com");
  CHECK_FALSE(parse_auth_url("http://auth.example.com"));
  CHECK_FALSE(parse_auth_url("https://user@auth.example.com"));
  CHECK_FALSE(parse_auth_url("https://auth.example.com/?q"));
}

TEST_CASE("host names and addresses at their edges") {
  CHECK(is_ip_literal("10.0.0.1"));
  CHECK(is_ip_literal("fd00::1"));
  CHECK_FALSE(is_ip_literal(std::string("1.2.3.4\0junk", 12)));
  CHECK_FALSE(is_ip_literal(std::string("::1\0", 4)));
  CHECK_FALSE(is_ip_literal("255.255.255.255.255.255"));
  CHECK_FALSE(is_ip_literal(std::string(50, ':')));
  CHECK(parse_url("https://Auth.Example.COM")->host == "auth.example.com");  // lower-cased
  CHECK(parse_url("https://a_b-c.example")->host == "a_b-c.example");
  const std::vector<std::string> bads{"https://.example.com",
                                      "https://-example.com",
                                      "https://" + std::string(254, 'a'),
                                      "https://ex ample.com",
                                      "https://exa*mple.com",
                                      "https://a..b",
                                      "https://127.1",
                                      "https://example.com:",
                                      "https://example.com:+1",
                                      "https://example.com:65536",
                                      "https://example.com/a b",
                                      "https://example.com/\x01"};
  for (const auto& bad : bads) {
    CAPTURE(bad);
    CHECK_FALSE(parse_url(bad).has_value());
  }
  // The Host header leaves out the scheme's own default port only.
  const auto proxy = parse_proxy_url("http://proxy.example:80");
  REQUIRE(proxy);
  CHECK(host_header(*proxy) == "proxy.example");
  const auto other = parse_proxy_url("http://proxy.example:443");
  REQUIRE(other);
  CHECK(host_header(*other) == "proxy.example:443");
}
