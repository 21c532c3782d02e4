// The helpers the daemon and the CLI share, one of each (STYLE 20): names,
// percent-decoding, base64, trimming.
#include "common/base64.hpp"
#include "common/names.hpp"
#include "common/percent_encoding.hpp"
#include "common/text.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace actoken;

TEST_CASE("organization names and GUIDs") {
  CHECK(is_valid_org_name("acme"));
  CHECK(is_valid_org_name("A"));
  CHECK(is_valid_org_name("0rg.name_with-dash"));
  CHECK(is_valid_org_name(std::string(64, 'a')));
  CHECK_FALSE(is_valid_org_name(std::string(65, 'a')));
  CHECK_FALSE(is_valid_org_name(""));
  CHECK_FALSE(is_valid_org_name(".hidden"));
  CHECK_FALSE(is_valid_org_name("_x"));
  CHECK_FALSE(is_valid_org_name("a/b"));
  CHECK_FALSE(is_valid_org_name("a b"));
  CHECK_FALSE(is_valid_org_name("../etc"));

  CHECK(is_guid("9b2f6d1e-0000-4000-8000-000000000001"));
  CHECK(is_guid("9B2F6D1E-ABCD-4000-8000-00000000000F"));
  CHECK_FALSE(is_guid("9b2f6d1e-0000-4000-8000-0000000000011"));
  CHECK_FALSE(is_guid("9b2f6d1e_0000-4000-8000-000000000001"));
  CHECK_FALSE(is_guid("mobile"));
}

TEST_CASE("percent-decoding: `+` is a space in a query, itself in a path (RFC 3986)") {
  CHECK(form_decode("a+b%20c%2Bd") == "a b c+d");
  CHECK(percent_decode("a+b%20c%2Bd") == "a+b c+d");
  CHECK(percent_decode("%61cme") == "acme");
  CHECK(percent_decode("%e2%82%AC") == "\xE2\x82\xAC");  // either case
  CHECK(percent_decode("") == "");
  for (const auto* malformed : {"%", "%4", "a%4", "%g0", "%0g", "%%41"}) {
    CAPTURE(malformed);
    CHECK_FALSE(percent_decode(malformed).has_value());
    CHECK_FALSE(form_decode(malformed).has_value());
  }
  std::string out;
  CHECK(percent_decode_into("user%3Apass", out, plus_sign::literal));
  CHECK(out == "user:pass");
}

TEST_CASE("base64: padded standard, strict; base64url as JWTs carry it, lenient") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("\xFB\xFF") == "+/8=");
  for (const std::string& bytes :
       {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
        std::string("\0\xFF\x10", 3)}) {
    CHECK(base64_decode(base64_encode(bytes)) == bytes);
  }
  for (const auto* malformed : {"Zg", "Zg=", "Z===", "Zm9v!A==", "-_8="}) {
    CAPTURE(malformed);
    CHECK_FALSE(base64_decode(malformed).has_value());
  }
  CHECK(base64url_decode("eyJleHAiOjF9") == R"({"exp":1})");
  CHECK(base64url_decode("-_8") == "\xFB\xFF");
  CHECK(base64url_decode("+/8=") == "\xFB\xFF");  // the standard alphabet, padded
  CHECK_FALSE(base64url_decode("a.b").has_value());
  std::string header = "Basic ";
  append_base64("user:pass", header);
  CHECK(header == "Basic dXNlcjpwYXNz");
}

TEST_CASE("trim") {
  CHECK(trim("  key\t\r\n") == "key");
  CHECK(trim(" \f\v ") == "");
  CHECK(trim("a b") == "a b");
  CHECK(trim("  x  ", " \t") == "x");
  CHECK(trim("\nx", " ") == "\nx");
}
