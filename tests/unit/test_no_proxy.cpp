#include "daemon/upstream/no_proxy.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::upstream::no_proxy_matches;

TEST_CASE("no_proxy: an empty list matches nothing") {
  CHECK_FALSE(no_proxy_matches("", "auth.appcircle.io", 443));
  CHECK_FALSE(no_proxy_matches(" , ,", "auth.appcircle.io", 443));
}

TEST_CASE("no_proxy: '*' matches everything") {
  CHECK(no_proxy_matches("*", "auth.appcircle.io", 443));
  CHECK(no_proxy_matches("foo.com, *", "127.0.0.1", 8443));
}

TEST_CASE("no_proxy: domain suffixes, with or without a leading dot") {
  for (const char* list : {"example.com", ".example.com", "*.example.com"}) {
    CAPTURE(list);
    CHECK(no_proxy_matches(list, "example.com", 443));
    CHECK(no_proxy_matches(list, "auth.example.com", 443));
    CHECK(no_proxy_matches(list, "a.b.example.com", 443));
    CHECK_FALSE(no_proxy_matches(list, "badexample.com", 443));
    CHECK_FALSE(no_proxy_matches(list, "example.com.evil.net", 443));
    CHECK_FALSE(no_proxy_matches(list, "example.org", 443));
  }
}

TEST_CASE("no_proxy: case-insensitive, trailing dots ignored") {
  CHECK(no_proxy_matches("Example.COM", "auth.example.com", 443));
  CHECK(no_proxy_matches("example.com", "AUTH.EXAMPLE.COM", 443));
  CHECK(no_proxy_matches("example.com.", "auth.example.com.", 443));
}

TEST_CASE("no_proxy: separators are commas and spaces") {
  const char* list = "localhost,  internal.corp\t10.0.0.1 ,other.net";
  CHECK(no_proxy_matches(list, "localhost", 443));
  CHECK(no_proxy_matches(list, "auth.internal.corp", 443));
  CHECK(no_proxy_matches(list, "10.0.0.1", 443));
  CHECK(no_proxy_matches(list, "other.net", 443));
  CHECK_FALSE(no_proxy_matches(list, "auth.appcircle.io", 443));
}

TEST_CASE("no_proxy: IP addresses match exactly, never as suffixes") {
  CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1", 443));
  CHECK_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2", 443));
  CHECK_FALSE(no_proxy_matches("0.0.1", "127.0.0.1", 443));
  CHECK_FALSE(no_proxy_matches("127.0.0.1", "localhost", 443));
  CHECK(no_proxy_matches("::1", "::1", 443));
  CHECK(no_proxy_matches("[::1]", "::1", 443));
  CHECK(no_proxy_matches("0:0::1", "::1", 443));
  CHECK_FALSE(no_proxy_matches("::2", "::1", 443));
  // A name entry does not match an address, nor the reverse (no DNS here).
  CHECK_FALSE(no_proxy_matches("localhost", "127.0.0.1", 443));
}

TEST_CASE("no_proxy: an entry's port restricts it") {
  CHECK(no_proxy_matches("example.com:8443", "auth.example.com", 8443));
  CHECK_FALSE(no_proxy_matches("example.com:8443", "auth.example.com", 443));
  CHECK(no_proxy_matches("127.0.0.1:9443", "127.0.0.1", 9443));
  CHECK_FALSE(no_proxy_matches("127.0.0.1:9443", "127.0.0.1", 443));
  CHECK(no_proxy_matches("[::1]:9443", "::1", 9443));
  CHECK_FALSE(no_proxy_matches("[::1]:9443", "::1", 443));
  // A malformed port makes the entry match nothing rather than everything.
  CHECK_FALSE(no_proxy_matches("example.com:", "example.com", 443));
  CHECK_FALSE(no_proxy_matches("example.com:http", "example.com", 80));
}

TEST_CASE("no_proxy: CIDR ranges") {
  CHECK(no_proxy_matches("10.0.0.0/8", "10.1.2.3", 443));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "11.1.2.3", 443));
  CHECK(no_proxy_matches("192.168.1.0/24", "192.168.1.200", 443));
  CHECK_FALSE(no_proxy_matches("192.168.1.0/24", "192.168.2.1", 443));
  CHECK(no_proxy_matches("172.16.0.0/12", "172.31.255.255", 443));
  CHECK_FALSE(no_proxy_matches("172.16.0.0/12", "172.32.0.0", 443));
  CHECK(no_proxy_matches("0.0.0.0/0", "8.8.8.8", 443));
  CHECK(no_proxy_matches("fd00::/8", "fd12::1", 443));
  CHECK(no_proxy_matches("[fd00::]/8", "fd12::1", 443));
  CHECK_FALSE(no_proxy_matches("fd00::/8", "fe80::1", 443));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/33", "10.0.0.1", 443));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "::ffff:10.0.0.1", 443));
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "ten.example.com", 443));
}

TEST_CASE("no_proxy: malformed entries match nothing, and spoil nothing after them") {
  // Each malformed entry is skipped; the good one after it still matches.
  for (const char* bad : {"[::1", "[::1]x", "[::1]:0", "[::1]:99999", "[::1]:", "host:0",
                          "host:abc", "host:123456", ".", "..", "*.", ":443", "10.0.0.0/33",
                          "10.0.0.0/x", "300.1.1.1/8", "::1/129", "10.0.0.1:0"}) {
    CAPTURE(bad);
    const std::string list = std::string(bad) + ",good.example";
    CHECK_FALSE(no_proxy_matches(bad, "10.0.0.1", 443));
    CHECK_FALSE(no_proxy_matches(bad, "host", 443));
    CHECK(no_proxy_matches(list, "good.example", 443));
  }
}

TEST_CASE("no_proxy: a bracketed IPv6 host, an IPv4 host against IPv6 entries, long names") {
  CHECK(no_proxy_matches("::1", "[::1]", 443));
  CHECK(no_proxy_matches("[::1]:443", "[::1]", 443));
  CHECK_FALSE(no_proxy_matches("[::1]:8443", "[::1]", 443));
  CHECK(no_proxy_matches("[fd00::]/8", "fd12::1", 443));
  CHECK_FALSE(no_proxy_matches("::1", "127.0.0.1", 443));      // other family
  CHECK_FALSE(no_proxy_matches("fd00::/8", "10.0.0.1", 443));  // other family
  CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "[::ffff:a00:1", 443));
  const std::string long_name(80, 'a');
  CHECK_FALSE(no_proxy_matches("10.0.0.1", long_name, 443));
  CHECK_FALSE(no_proxy_matches(long_name, "10.0.0.1", 443));
  CHECK_FALSE(no_proxy_matches("example.com", "com", 443));  // shorter than the domain
  CHECK(no_proxy_matches("auth.example.com:443", "auth.example.com", 443));
  CHECK_FALSE(no_proxy_matches("auth.example.com:443", "auth.example.com", 8443));
}
