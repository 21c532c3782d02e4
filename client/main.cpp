// actoken: the command-line client of actokend (SPEC §5). Parses the command
// line, picks the socket, runs one command; everything else lives in client/.

#include "client/cli_args.hpp"
#include "client/commands.hpp"
#include "client/output.hpp"
#include "client/plain_token_args.hpp"
#include "client/socket_path.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace actoken::client;

  const std::vector<std::string> args(argv + 1, argv + argc);
  // The everyday `actoken token` skips building CLI11's parser (SPEC §7).
  parse_outcome parsed;
  parsed.command = parse_plain_token_command(args);
  if (!parsed.command) {
    parsed = parse_command_line(args);
  }
  if (!parsed.command) {
    std::cout << parsed.out;
    if (parsed.json && parsed.exit_code != actoken::exit_code::ok) {
      // SPEC §5: with --json a usage error is also an object on stdout.
      std::cout << nlohmann::ordered_json{{"error", "usage"}, {"message", parsed.message}}.dump()
                << '\n';
    }
    std::cout << std::flush;
    std::cerr << parsed.err << std::flush;
    return parsed.exit_code;
  }
  const auto& command = *parsed.command;

  const auto env = actoken::process_env();
  context ctx(std::cout, std::cerr);
  ctx.socket = discover_socket(command.socket, env, ::getuid());
  if (command.kind == command_kind::env) {
    ctx.socket_candidates = env_socket_candidates(command.socket, env, ::getuid());
  }
  ctx.stderr_is_terminal = [] { return ::isatty(STDERR_FILENO) == 1; };
  ctx.json = command.json;
  ctx.pretty_json = ::isatty(STDOUT_FILENO) == 1;
  ctx.colour = colour_enabled(STDOUT_FILENO, env);
  ctx.input_fd = STDIN_FILENO;
  ctx.environment = environ;
  ctx.env = env;
  ctx.uid = ::getuid();

  int code = run_command(command, ctx);
  // A token that never reached its reader (full disk, closed pipe) is a failure.
  if (!(std::cout << std::flush)) {
    std::cerr << "actoken: cannot write to stdout\n";
    if (code == actoken::exit_code::ok) {
      code = actoken::exit_code::failure;
    }
  }
  return code;
}
