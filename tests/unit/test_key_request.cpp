// The body of PUT /v1/orgs/{org}/key (SPEC §4): the fields, their types, JSON
// escapes decoded into the key, and a key with white space or a control
// character inside refused without the reason quoting it.
#include "daemon/api/key_request.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace actoken;
using api::key_request;
using api::parse_key_request;

namespace {

key_request parse_ok(std::string_view body) {
  auto parsed = parse_key_request(body);
  if (const auto* problem = std::get_if<std::string>(&parsed)) {
    FAIL("expected a request: " << body << ": " << *problem);
  }
  return std::get<key_request>(std::move(parsed));
}

std::string parse_bad(std::string_view body) {
  auto parsed = parse_key_request(body);
  REQUIRE_MESSAGE(std::holds_alternative<std::string>(parsed), "expected a problem: " << body);
  return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("every field, in any order, with white space between") {
  const auto put = parse_ok(
      R"( { "persist" : false, "api_version": "v1", "auth_url": "https://auth.example.com//",
          "verify": true, "key": "ac+/k==" } )");
  CHECK(put.key.view() == "ac+/k==");
  CHECK_FALSE(put.persist);
  CHECK(put.verify);
  CHECK(put.api_version == upstream::api_version::v1);
  CHECK(put.auth_url == "https://auth.example.com");

  const auto minimal = parse_ok(R"({"key":"k"})");
  CHECK(minimal.key.view() == "k");
  CHECK(minimal.persist);
  CHECK_FALSE(minimal.verify);
  CHECK_FALSE(minimal.auth_url);
  CHECK_FALSE(minimal.api_version);
}

TEST_CASE("JSON escapes in the key are decoded, surrounding white space trimmed") {
  CHECK(parse_ok(R"({"key": "a\/b\\c\"d"})").key.view() == R"(a/b\c"d)");
  CHECK(parse_ok(R"({"key": "\u0041\u00e9\ud83d\ude00"})").key.view() ==
        "A\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(parse_ok(R"({"key": "\n\t  abc  \r\n"})").key.view() == "abc");
  CHECK(parse_ok(R"({"key": " \u0020abc\u000a"})").key.view() == "abc");
}

TEST_CASE("a key with white space or a control character inside is refused, never quoted") {
  for (const auto* body :
       {R"({"key": "abc\ndef"})", R"({"key": "abc def"})", R"({"key": "abc\tdef"})",
        R"({"key": "abc\u0000def"})", R"({"key": "abc\u007fdef"})", R"({"key": "abc\u0085def"})",
        R"({"key": "abc\rdef"})", R"({"key": "abc\u001bdef"})"}) {
    CAPTURE(body);
    const auto problem = parse_bad(body);
    CHECK(problem.find("white space or a control character") != std::string::npos);
    CHECK(problem.find("abc") == std::string::npos);
    CHECK(problem.find("def") == std::string::npos);
  }
  CHECK(parse_bad(R"({"key": "  \n "})") == "the key is empty");
  CHECK(parse_bad(R"({"key": ""})") == "the key is empty");
}

TEST_CASE("what is not the object of a key PUT is refused with a reason") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "the body must be a JSON object with a key"},
      {"[]", "the body must be a JSON object with a key"},
      {R"("key")", "the body must be a JSON object with a key"},
      {"{}", "the body has no key"},
      {R"({"persist": true})", "the body has no key"},
      {R"({"key": 42})", "key must be a string"},
      {R"({"key": null})", "key must be a string"},
      {R"({"key": "a", "key": "b"})", "key is given twice"},
      {R"({"key": "a", "verified": true})", "unexpected field: verified"},
      {R"({"key": "a", "verify": "yes"})", "verify must be true or false"},
      {R"({"key": "a", "verify": true, "verify": false})", "verify is given twice"},
      {R"({"key": "a", "persist": "yes"})", "persist must be true or false"},
      {R"({"key": "a", "auth_url": "http://x"})", "auth_url must be an https:// URL"},
      {R"({"key": "a", "auth_url": 1})", "auth_url must be a string"},
      {R"({"key": "a", "api_version": "v4"})", R"(api_version must be "v1", "v2", "v3" or "auto")"},
      {R"({"key": "a"} x)", "the body is not valid JSON"},
      {R"({"key": "a",})", "the body is not valid JSON"},
      {R"({"key": "a")", "the body is not valid JSON"},
      {R"({"key": "a\x"})", "the body is not valid JSON"},
      {R"({"key": "a\ud800"})", "the body is not valid JSON"},
      {R"({"key": "a\udc00"})", "the body is not valid JSON"},
      {"{\"key\": \"a\nb\"}", "the body is not valid JSON"},   // a raw control character
      {"{\"key\": \"a\xff\"}", "the body is not valid JSON"},  // not UTF-8
      {R"({key: "a"})", "the body is not valid JSON"},
  };
  for (const auto& item : cases) {
    // Named, not bound: clang 14 cannot capture a structured binding (CAPTURE is a lambda).
    const auto& body = item.first;
    const auto& reason = item.second;
    CAPTURE(body);
    CHECK(parse_bad(body) == reason);
  }
}

TEST_CASE("an unexpected field's name is quoted only when it is a plain short word") {
  CHECK(parse_bad(R"({"key": "a", "auth_URL_2": "x"})") == "unexpected field: auth_URL_2");
  CHECK(parse_bad(R"({"ac+/k==secretsecret": "x"})") ==
        "unexpected field: (a field name not shown)");
  CHECK(parse_bad(R"({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "x"})") ==
        "unexpected field: (a field name not shown)");
}

TEST_CASE("every JSON escape and white space, and each way a string or escape can be malformed") {
  // \b and \f decode to control characters, which are not white space to
  // trim: the key is refused.
  CHECK(parse_bad(R"({"key": "a\bc"})").find("white space or a control character") !=
        std::string::npos);
  CHECK(parse_bad(R"({"key": "a\fc"})").find("white space or a control character") !=
        std::string::npos);
  // Upper-case hex, a three-byte code point, a name (not the key) with escapes.
  CHECK(parse_ok(R"({"key": "\u00C9\u20AC"})").key.view() == "\xC3\x89\xE2\x82\xAC");
  CHECK(parse_ok("{\r\n\t\"key\"\r\n:\t\"k\"\n}\r\n").key.view() == "k");
  // C1 controls (U+0080..U+009F) are refused; U+00A0 and above are not controls.
  CHECK(parse_bad(R"({"key": "a\u0085b"})").find("control character") != std::string::npos);
  CHECK(parse_ok(R"({"key": "a\u00a0b"})").key.view() ==
        "a\xC2\xA0"
        "b");
  for (const auto* malformed :
       {R"({"key": "\u12"})", R"({"key": "\u12G4"})", R"({"key": "\udc00"})",
        R"({"key": "\ud83d"})", R"({"key": "\ud83d\u0041"})", R"({"key": "\ud83dx"})",
        R"({"key": "\ud83d\uDBFF"})", R"({"key": "\q"})", R"({"key": "abc)", R"({"key": "\)",
        "{\"key\": \"a\xFF\"}", R"({"key" "k"})", R"({"key": "k" "x"})", R"({"key": "k"} x)",
        R"({5: "k"})"}) {
    CAPTURE(malformed);
    CHECK(parse_bad(malformed) == "the body is not valid JSON");
  }
  CHECK(parse_bad(R"({"auth_url": "https://a\u12"})") == "the body is not valid JSON");
  CHECK(parse_bad(R"({"auth_url": 5})") == "auth_url must be a string");
  CHECK(parse_bad(R"({"api_version": "v\u0034"})") ==
        R"(api_version must be "v1", "v2", "v3" or "auto")");
  CHECK(parse_bad(R"({"a_very_long_field_name_that_goes_on_and_on": 1})") ==
        "unexpected field: (a field name not shown)");
  CHECK(parse_bad(R"({"": 1})") == "unexpected field: (a field name not shown)");
  CHECK(parse_bad(R"({})") == "the body has no key");
  CHECK(parse_bad(R"( [ ] )") == "the body must be a JSON object with a key");
}
