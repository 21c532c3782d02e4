// client/plain_token_args: the everyday `actoken token` read without CLI11
// (SPEC §7) must mean exactly what parse_command_line reads, and leave every
// doubtful spelling to it.

#include "client/cli_args.hpp"
#include "client/plain_token_args.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using actoken::client::command_kind;
using actoken::client::command_line;
using actoken::client::parse_command_line;
using actoken::client::parse_plain_token_command;

namespace {

using words = std::vector<std::string>;

// What the plain reader says must be what the full parser says.
void same_as_full_parser(const words& args) {
  CAPTURE(args);
  const auto plain = parse_plain_token_command(args);
  if (!plain) return;
  const auto full = parse_command_line(args);
  REQUIRE_MESSAGE(full.command.has_value(), full.err);
  const command_line& expected = *full.command;
  CHECK(plain->kind == expected.kind);
  CHECK(plain->socket == expected.socket);
  CHECK(plain->json == expected.json);
  CHECK(plain->token.org == expected.token.org);
  CHECK(plain->token.sub_org == expected.token.sub_org);
  CHECK(plain->token.min_ttl == expected.token.min_ttl);
  CHECK(plain->token.fresh == expected.token.fresh);
  CHECK(plain->env_names == expected.env_names);
  CHECK(plain->exec_argv == expected.exec_argv);
  CHECK(plain->org == expected.org);
}

}  // namespace

TEST_CASE("the plain spellings of `actoken token` are read without CLI11") {
  for (const words& args : std::vector<words>{
           {"token"},
           {"token", "acme"},
           {"token", "--org", "acme"},
           {"token", "acme", "--org", "acme"},
           {"--socket", "/run/actoken/actokend.sock", "token", "acme"},
           {"token", "acme", "--socket", "/tmp/s.sock", "--json"},
           {"--json", "token", "--sub-org", "mobile", "--min-ttl", "600", "--fresh", "acme"},
           {"token", "--min-ttl", "0"},
           {"token", "--min-ttl", "86400"},
       }) {
    CAPTURE(args);
    const auto plain = parse_plain_token_command(args);
    REQUIRE(plain.has_value());
    CHECK(plain->kind == command_kind::token);
    same_as_full_parser(args);
  }
}

TEST_CASE("anything doubtful is left to the full parser") {
  for (const words& args : std::vector<words>{
           {},
           {"header", "acme"},
           {"acme", "token"},
           {"token", "--help"},
           {"token", "-h"},
           {"--version"},
           {"token", "--org=acme"},
           {"token", "--socket"},
           {"token", "--org", "--fresh"},
           {"token", "--org", "key"},
           {"token", "status"},
           {"token", "acme", "beta"},
           {"token", "acme", "--org", "beta"},
           {"token", "--json", "--json"},
           {"token", "--fresh", "--fresh"},
           {"token", "--org", "a", "--org", "a"},
           {"token", "--min-ttl", "010"},
           {"token", "--min-ttl", "0x10"},
           {"token", "--min-ttl", "+5"},
           {"token", "--min-ttl", "86401"},
           {"token", "--min-ttl", "-1"},
           {"token", "--sub-org", ""},
           {"token", ""},
           {"token", "bad name!"},
           {"token", "--", "acme"},
           {"token", "token"},
       }) {
    CAPTURE(args);
    CHECK_FALSE(parse_plain_token_command(args).has_value());
  }
}

TEST_CASE("every arrangement of token's options means the same to both readers") {
  // Up to three pieces from this list, in every order, with `token` at every
  // place: whatever the plain reader accepts, CLI11 reads the same way.
  const std::vector<words> pieces{
      {"--socket", "/s.sock"},
      {"--json"},
      {"acme"},
      {"--org", "acme"},
      {"--org", "beta"},
      {"--sub-org", "mob"},
      {"--min-ttl", "7"},
      {"--min-ttl", "070"},
      {"--fresh"},
      {"ping"},
      {"--sub-org", "--fresh"},
  };
  std::size_t accepted = 0;
  std::size_t tried = 0;
  // Every ordered choice of up to three distinct pieces.
  std::vector<std::vector<std::size_t>> choices{{}};
  for (std::size_t length = 0; length < 3; ++length) {
    const auto shorter = choices;
    for (const auto& choice : shorter) {
      if (choice.size() != length) continue;
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (std::find(choice.begin(), choice.end(), i) != choice.end()) continue;
        auto longer = choice;
        longer.push_back(i);
        choices.push_back(std::move(longer));
      }
    }
  }
  for (const auto& chosen : choices) {
    for (std::size_t token_at = 0; token_at <= chosen.size(); ++token_at) {
      words args;
      for (std::size_t k = 0; k <= chosen.size(); ++k) {
        if (k == token_at) args.push_back("token");
        if (k < chosen.size()) {
          args.insert(args.end(), pieces[chosen[k]].begin(), pieces[chosen[k]].end());
        }
      }
      ++tried;
      if (parse_plain_token_command(args)) ++accepted;
      same_as_full_parser(args);
    }
  }
  MESSAGE(accepted << " of " << tried << " arrangements read without CLI11");
  CHECK(accepted > 100);
}
