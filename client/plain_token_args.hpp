#pragma once

/// @file
/// The everyday `actoken token` command line read without CLI11. Building
/// CLI11's parser for every command and option is most of what the CLI does
/// before it asks the daemon; the cached token path must cost at most 1.25x
/// `cat` of a 400-byte file (SPEC §7). This reads only the plain spellings of
/// `token`'s own options and the global ones and hands everything else (other
/// commands, help, `--opt=value`, repeated options, any doubtful value) to
/// `parse_command_line`, which gives the same answer or the usage error.

#include "client/cli_args.hpp"

#include <optional>
#include <string>
#include <vector>

namespace actoken::client {

/// `args` (argv without the program name) as `parse_command_line` would read
/// them, when they are `[--socket PATH] [--json] token [ORG] [--org ORG]
/// [--sub-org ID] [--min-ttl SECONDS] [--fresh]` in any order (options after
/// `token` too), each at most once, every value one that command accepts;
/// otherwise nullopt, and the caller asks `parse_command_line`.
std::optional<command_line> parse_plain_token_command(const std::vector<std::string>& args);

}  // namespace actoken::client
