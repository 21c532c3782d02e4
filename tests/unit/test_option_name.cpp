// What a usage error may repeat of an unknown option or command (SPEC §5).
#include "common/option_name.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::printable_option_name;

TEST_CASE("an option-like name is printable, without its value") {
  CHECK(printable_option_name("--bogus") == "--bogus");
  CHECK(printable_option_name("--min-tll=600") == "--min-tll");
  CHECK(printable_option_name("--log-level2") == "--log-level2");
  CHECK(printable_option_name("-x") == "-x");
  CHECK(printable_option_name("-X=1") == "-X");
  CHECK(printable_option_name("--" + std::string(24, 'a')).has_value());
}

TEST_CASE("anything that could be a key is not") {
  CHECK_FALSE(printable_option_name("SeCrEtKeY").has_value());
  CHECK_FALSE(printable_option_name("-SeCrEtKeY").has_value());
  CHECK_FALSE(printable_option_name("-ab").has_value());
  CHECK_FALSE(printable_option_name("--SeCrEtKeY").has_value());
  CHECK_FALSE(printable_option_name("--" + std::string(25, 'a')).has_value());
  CHECK_FALSE(printable_option_name("--abc_def").has_value());
  CHECK_FALSE(printable_option_name("--abc+def/ghi").has_value());
  CHECK_FALSE(printable_option_name("--1abc").has_value());
  CHECK_FALSE(printable_option_name("--").has_value());
  CHECK_FALSE(printable_option_name("-").has_value());
  CHECK_FALSE(printable_option_name("").has_value());
  CHECK_FALSE(printable_option_name("--=secret").has_value());
}

TEST_CASE("a command-like word is printable; anything that could be a key is not") {
  using actoken::printable_command_name;
  CHECK(printable_command_name("tokn") == "tokn");
  CHECK(printable_command_name("appcircle-confg") == "appcircle-confg");
  CHECK(printable_command_name(std::string(24, 'a')).has_value());
  CHECK_FALSE(printable_command_name(std::string(25, 'a')).has_value());
  CHECK_FALSE(printable_command_name("Tokn").has_value());
  CHECK_FALSE(printable_command_name("ac_pak_PastedByMistake0123456789abcdef").has_value());
  CHECK_FALSE(printable_command_name("abc+def/ghi=").has_value());
  CHECK_FALSE(printable_command_name("1abc").has_value());
  CHECK_FALSE(printable_command_name("-x").has_value());
  CHECK_FALSE(printable_command_name("").has_value());
}
