#pragma once

/// @file
/// What integration tests need to run the real daemon and CLI: temporary
/// folders, a child process with its output captured, and a small blocking
/// HTTP client for the Unix socket.

#include "tests/test_files.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace actoken::testing {

/// A folder removed with everything in it when this goes.
class temp_dir : public scratch_dir {
 public:
  /// Mode 0755: the tests may act as other users inside it.
  temp_dir();
};

/// An HTTP answer from the daemon.
struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  /// The body as JSON (a discarded value when it is not JSON).
  nlohmann::json json() const;
};

/// Sends one request on a new connection to `socket` and reads the answer,
/// waiting at most `wait` for each part of it. Throws std::runtime_error when
/// the daemon cannot be reached or has not answered in time.
http_reply unix_request(const std::filesystem::path& socket, const std::string& method,
                        const std::string& target, const std::string& body = "",
                        std::chrono::milliseconds wait = std::chrono::milliseconds{60000});

/// Sends raw bytes on a new connection and returns whatever comes back until
/// the daemon closes it (or `wait` passes).
std::string unix_raw(const std::filesystem::path& socket, const std::string& bytes,
                     std::chrono::milliseconds wait = std::chrono::milliseconds{3000});

/// What a finished child process did.
struct process_result {
  int exit_code = -1;  ///< or 128 + signal
  std::string out;
  std::string err;
};

/// Runs `argv` to completion with `extra_env` added and `input` on stdin.
process_result run_process(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& extra_env = {},
                           const std::string& input = "");

/// What a pseudo-terminal showed while a program ran on it (its stdin, stdout and stderr), and
/// how the program exited.
struct terminal_run {
  std::string seen;
  int exit_code = -1;  ///< or 128 + signal
};

/// Runs `argv` on a new pseudo-terminal, with TERM=xterm and `env` set (a nullopt value unsets
/// the variable), until it exits.
terminal_run run_on_terminal(
    const std::vector<std::string>& argv,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& env = {});

/// The daemon under test: `actokend --config DIR/actokend.json`, stderr to DIR/actokend.log.
class daemon_process {
 public:
  /// Writes `config` (socket and key_dir default to inside `dir`) and starts
  /// the daemon; waits until its socket answers /v1/health. `open_files`:
  /// RLIMIT_NOFILE, soft and hard, set in the child before it runs actokend.
  daemon_process(const temp_dir& dir, nlohmann::json config,
                 std::vector<std::string> extra_args = {},
                 std::optional<unsigned> open_files = std::nullopt);
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  const std::filesystem::path& socket() const noexcept { return socket_; }
  const std::filesystem::path& config_path() const noexcept { return config_path_; }
  pid_t pid() const noexcept { return pid_; }
  /// Everything the daemon wrote to stderr so far.
  std::string log() const;
  /// GET `target` on the daemon's socket.
  http_reply get(const std::string& target) const { return unix_request(socket_, "GET", target); }
  /// Sends `signal` (SIGTERM by default) and waits; returns the exit code.
  int stop(int signal = 15);
  /// Sends SIGHUP and waits until `/v1/status` reports a reload after `since`.
  void reload();

 private:
  std::filesystem::path socket_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
};

/// Paths of the binaries under test: those this test was built with, unless
/// `$ACTOKEN_TEST_ACTOKEND` / `$ACTOKEN_TEST_ACTOKEN` name others (scripts/test
/// runs the integration tests of its first build against its sanitizer build's
/// binaries, so that the tests themselves are compiled once).
std::string actokend_path();
std::string actoken_path();
/// The daemon this test was built with, whatever `$ACTOKEN_TEST_ACTOKEND`
/// says: the one the build's own unit files name.
std::string built_actokend_path();

/// Whether the daemon under test is built with AddressSanitizer (it then maps
/// terabytes of shadow memory, and its `mlock` always succeeds): asked of the
/// binary itself, as it need not be built like the test.
bool daemon_under_asan();

/// A folder a private stage replaces with an empty tmpfs (see `enter_private_stage`).
struct fresh_folder {
  std::filesystem::path path;  ///< e.g. "/tmp"
  const char* mode;            ///< the tmpfs's mode option, e.g. "mode=1777"
};

/// Moves the calling process (a forked child) into a mount namespace of its own in which each
/// of `fresh` is an empty tmpfs, so a test can play with /tmp or /run without touching the
/// host's. What the stage runs stays reachable at its own path even when it lies under one of
/// those folders (a checkout cloned into /tmp): the folders of `actokend_path()` and
/// `actoken_path()`, and every path of `keep`, are bound back from the old folder. A `fresh`
/// folder that does not exist is left alone. False when no such namespace can be made here.
bool enter_private_stage(const std::vector<fresh_folder>& fresh,
                         const std::vector<std::filesystem::path>& keep = {});

/// A random-looking key with the characters a form body must escape.
std::string awkward_key();

/// `argv` as execv(2) takes it (argv[0] a path, a null at the end), pointing into `argv`,
/// which must outlive it. Made before fork(), so that the child only calls execv.
std::vector<char*> exec_args(const std::vector<std::string>& argv);

/// `length` random letters and digits (a secret no test text holds by chance).
std::string random_text(std::size_t length);

/// A new connection to the Unix socket `socket` (a descriptor the caller closes), or -1 with
/// `errno` when nothing accepts there.
int open_connection(const std::filesystem::path& socket);

}  // namespace actoken::testing
