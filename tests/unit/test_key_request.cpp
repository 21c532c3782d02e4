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
