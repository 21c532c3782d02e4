// Organization names in the CLI's messages: did-you-mean, lists, prefixes (SPEC §5).
#include "client/org_names.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using actoken::client::list_names;
using actoken::client::name_distance;
using actoken::client::nearest_name;
using actoken::client::org_names_of;
using actoken::client::without_org_prefix;

TEST_CASE("name_distance counts insertions, deletions, substitutions and swaps") {
  CHECK(name_distance("acme", "acme") == 0);
  CHECK(name_distance("acmee", "acme") == 1);
  CHECK(name_distance("acm", "acme") == 1);
  CHECK(name_distance("acne", "acme") == 1);
  CHECK(name_distance("amce", "acme") == 1);  // two neighbours swapped
  CHECK(name_distance("ACME", "acme") == 0);  // case does not count
  CHECK(name_distance("", "acme") == 4);
  CHECK(name_distance("beta", "acme") == 4);
}

TEST_CASE("nearest_name suggests only a close name, and never the name itself") {
  const std::vector<std::string> known{"acme", "acme-mobile", "beta"};
  CHECK(nearest_name("acmee", known) == "acme");
  CHECK(nearest_name("Acme", known) == "acme");
  CHECK(nearest_name("bta", known) == "beta");
  CHECK(nearest_name("acme-mobil", known) == "acme-mobile");
  CHECK(nearest_name("acme-mobeel", known) == "acme-mobile");  // 2 edits in 11 characters
  CHECK_FALSE(nearest_name("acme", known).has_value());
  CHECK_FALSE(nearest_name("zulu", known).has_value());
  CHECK_FALSE(nearest_name("bxtx", known).has_value());  // 2 edits in 4 characters: too far
  CHECK_FALSE(nearest_name("xy", known).has_value());
  CHECK_FALSE(nearest_name("acmee", {}).has_value());
  // Ties go to the first listed.
  CHECK(nearest_name("ab", {"aa", "bb", "ac"}) == "aa");
}

TEST_CASE("the names of a /v1/orgs answer, and how they are listed") {
  const auto answer = nlohmann::ordered_json::parse(
      R"({"orgs":[{"name":"beta"},{"state":"ok"},"junk",{"name":7},{"name":"acme"}],"hidden":2})");
  CHECK(org_names_of(answer) == std::vector<std::string>{"beta", "acme"});
  CHECK(org_names_of(nlohmann::ordered_json::parse(R"({"orgs":{}})")).empty());
  CHECK(org_names_of(nlohmann::ordered_json::parse("[]")).empty());

  CHECK(list_names({"acme"}) == "acme");
  CHECK(list_names({"acme", "beta"}) == "acme and beta");
  CHECK(list_names({"a", "b", "c"}) == "a, b and c");
  CHECK(list_names({"a", "b", "c", "d"}, 2) == "a, b and 2 more");
}

TEST_CASE("the daemon's 'organization ORG: ' is dropped where the row names ORG") {
  CHECK(without_org_prefix("organization acme: the auth server timed out", "acme") ==
        "the auth server timed out");
  CHECK(without_org_prefix("organization acme (sub-organization mobile): rejected", "acme") ==
        "sub-organization mobile: rejected");
  // Only that exact prefix, for that organization.
  CHECK(without_org_prefix("organization acme-2: x", "acme") == "organization acme-2: x");
  CHECK(without_org_prefix("organization acme has no key", "acme") ==
        "organization acme has no key");
  CHECK(without_org_prefix("key file /k/acme.key has mode 0644", "acme") ==
        "key file /k/acme.key has mode 0644");
  CHECK(without_org_prefix("organization acme: ", "acme") == "");
  CHECK(without_org_prefix("organization : x", "") == "organization : x");
}
