#include "client/key_input.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

using actoken::client::build_key_body;
using actoken::client::key_settings;
using actoken::client::max_key_size;
using actoken::client::read_key;
using actoken::client::secret_buffer;
using actoken::testing::fault_scope;

namespace {

// A pipe holding `text`, write end closed: what `echo KEY | actoken key add` gives.
int pipe_with(const std::string& text) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(text.size() < 60000);  // fits in the pipe buffer, so no reader is needed yet
  REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  return fds[0];
}

struct read_outcome {
  std::optional<std::string> error;
  std::string key;
  std::string prompt;
};

read_outcome read_from(const std::string& input) {
  const int fd = pipe_with(input);
  secret_buffer key(max_key_size + 1);
  std::ostringstream prompt;
  read_outcome outcome;
  outcome.error = read_key(fd, prompt, "acme", key);
  outcome.key = std::string(key.view());
  outcome.prompt = prompt.str();
  ::close(fd);
  return outcome;
}

}  // namespace

TEST_CASE("secret_buffer appends within capacity, trims and wipes") {
  secret_buffer buffer(8);
  CHECK(buffer.empty());
  CHECK(buffer.append(" ab c\t"));
  CHECK(buffer.size() == 6);
  CHECK_FALSE(buffer.append("xyz"));  // 9 > 8: refused whole
  CHECK(buffer.view() == " ab c\t");
  buffer.trim();
  CHECK(buffer.view() == "ab c");
  CHECK(buffer.room() == 4);
  buffer.clear();
  CHECK(buffer.empty());
  CHECK(buffer.room() == 8);

  secret_buffer blanks(4);
  CHECK(blanks.append(" \n "));
  blanks.trim();
  CHECK(blanks.empty());
}

TEST_CASE("a piped key loses surrounding white space, and no prompt is shown") {
  const auto outcome = read_from("  \tc2VjcmV0+/abc==\r\n\n");
  CHECK_FALSE(outcome.error.has_value());
  CHECK(outcome.key == "c2VjcmV0+/abc==");
  CHECK(outcome.prompt.empty());
  CHECK(read_from("k").key == "k");
}

TEST_CASE("an empty key is refused") {
  for (const char* input : {"", "   ", "\n\n", " \t\r\n"}) {
    CAPTURE(input);
    const auto outcome = read_from(input);
    REQUIRE(outcome.error.has_value());
    CHECK(outcome.error->find("no key") != std::string::npos);
    CHECK(outcome.key.empty());
  }
}

TEST_CASE("a key with inner white space or control characters is refused without echo") {
  for (const char* input : {"abc def\n", "abc\ndef\n",
                            "abc\x01"
                            "def",
                            "ab\x7f"}) {
    CAPTURE(input);
    const auto outcome = read_from(input);
    REQUIRE(outcome.error.has_value());
    CHECK(outcome.error->find("abc") == std::string::npos);
    CHECK(outcome.key.empty());
  }
}

TEST_CASE("an oversized key is refused") {
  const auto outcome = read_from(std::string(max_key_size + 10, 'k'));
  REQUIRE(outcome.error.has_value());
  CHECK(outcome.error->find("longer than") != std::string::npos);
  CHECK(outcome.key.empty());
  CHECK_FALSE(read_from(std::string(max_key_size, 'k')).error.has_value());
}

TEST_CASE("the key body is JSON with only the settings given") {
  secret_buffer body(512);
  REQUIRE(build_key_body("k+/=", key_settings{}, body));
  CHECK(body.view() == R"({"key":"k+/=","verify":true})");  // verified unless --no-verify

  key_settings settings;
  settings.verify = false;
  settings.auth_url = "https://auth.example.com/\"x\"";
  settings.api_version = "v2";
  settings.persist = false;
  REQUIRE(build_key_body("a\"b\\c", settings, body));
  const auto parsed = nlohmann::json::parse(body.view());
  CHECK(parsed["key"] == "a\"b\\c");
  CHECK(parsed["auth_url"] == "https://auth.example.com/\"x\"");
  CHECK(parsed["api_version"] == "v2");
  CHECK(parsed["persist"] == false);
  CHECK(parsed.size() == 4);

  secret_buffer tiny(8);
  CHECK_FALSE(build_key_body("a-long-key", key_settings{}, tiny));
  CHECK(tiny.empty());
}

TEST_CASE("on a terminal: prompt on the prompt stream, echo off while reading, then restored") {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    actoken::testing::skip_case("no pseudo-terminal available");
    if (master >= 0) {
      ::close(master);
    }
    return;
  }
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(slave >= 0);
  termios before{};
  REQUIRE(::tcgetattr(slave, &before) == 0);
  REQUIRE((before.c_lflag & ECHO) != 0);

  // Type the key only once echo is off (tcsetattr with TCSAFLUSH drops earlier input).
  std::atomic<bool> typed{false};
  std::thread typist([&] {
    for (int i = 0; i < 10000; ++i) {
      termios now{};
      if (::tcgetattr(slave, &now) == 0 && (now.c_lflag & ECHO) == 0) {
        const std::string line = "  typed-secret-key \n";
        typed = ::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  secret_buffer key(max_key_size + 1);
  std::ostringstream prompt;
  const auto error = read_key(slave, prompt, "acme", key);
  typist.join();
  REQUIRE(typed);
  CHECK_FALSE(error.has_value());
  CHECK(key.view() == "typed-secret-key");
  CHECK(prompt.str().find("acme") != std::string::npos);

  termios after{};
  REQUIRE(::tcgetattr(slave, &after) == 0);
  CHECK((after.c_lflag & ECHO) != 0);

  // Whatever the terminal showed, the key was not among it.
  std::string shown;
  char chunk[256];
  pollfd entry{master, POLLIN, 0};
  while (::poll(&entry, 1, 0) > 0 && (entry.revents & POLLIN) != 0) {
    const auto got = ::read(master, chunk, sizeof(chunk));
    if (got <= 0) {
      break;
    }
    shown.append(chunk, static_cast<std::size_t>(got));
  }
  CHECK(shown.find("typed-secret-key") == std::string::npos);
  ::close(slave);
  ::close(master);
}

// The terminal and stdin failing (tests/fault): echo that cannot be turned
// off still reads the key (and says nothing of it), a read error is an error
// without the key, an empty line on a terminal is "no key entered".
TEST_CASE("on a terminal whose settings cannot be read or changed, and stdin that fails") {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    actoken::testing::skip_case("no pseudo-terminal available");
    if (master >= 0) ::close(master);
    return;
  }
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(slave >= 0);
  const auto type = [&](const std::string& line) {
    REQUIRE(::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  };
  secret_buffer key(max_key_size + 1);
  std::ostringstream prompt;

  SUBCASE("tcgetattr fails: read as it comes, a new line after it") {
    const fault_scope f({.call = "tcgetattr", .error = EIO});
    type("key-one\n");
    CHECK_FALSE(read_key(slave, prompt, "acme", key).has_value());
    CHECK(key.view() == "key-one");
    CHECK(prompt.str() == "Access key for acme (input hidden): \n");
  }
  SUBCASE("tcsetattr fails: echo stayed on, so a new line is printed") {
    const fault_scope f({.call = "tcsetattr", .error = EIO});
    type("key-two\n");
    CHECK_FALSE(read_key(slave, prompt, "acme", key).has_value());
    CHECK(key.view() == "key-two");
    CHECK(prompt.str().ends_with("\n"));
  }
  // tcsetattr(TCSAFLUSH) drops what was typed before it: the cases below
  // that type first fail that one call (the restore after still runs).
  SUBCASE("an empty line: no key entered") {
    const fault_scope no_flush({.call = "tcsetattr", .error = EIO});
    type("\n");
    CHECK(read_key(slave, prompt, "acme", key) == std::optional<std::string>("no key entered"));
  }
  SUBCASE("a read that fails is an error; an interrupted one is retried") {
    {
      const fault_scope no_flush({.call = "tcsetattr", .error = EIO});
      const fault_scope interrupted({.call = "read", .error = EINTR});
      type("key-three\n");
      CHECK_FALSE(read_key(slave, prompt, "acme", key).has_value());
      CHECK(interrupted.hits() == 1);
      CHECK(key.view() == "key-three");
    }
    const fault_scope f({.call = "read", .error = EIO});
    CHECK(read_key(slave, prompt, "acme", key) ==
          std::optional<std::string>("cannot read the key from stdin: Input/output error"));
    CHECK(key.empty());
  }
  ::close(slave);
  ::close(master);
}

TEST_CASE("a body that does not fit is refused whole, whichever field overflows") {
  key_settings settings;
  settings.auth_url = "https://auth.example.com";
  settings.api_version = "v2";
  settings.persist = false;
  settings.verify = true;
  secret_buffer full(512);
  REQUIRE(build_key_body("k\x01\"", settings, full));
  const auto whole = std::string(full.view());
  CHECK(whole == R"({"key":"k\u0001\"","auth_url":"https://auth.example.com",)"
                 R"("api_version":"v2","persist":false,"verify":true})");
  // Every capacity short of the whole: refused, nothing kept.
  for (std::size_t capacity = 1; capacity < whole.size(); ++capacity) {
    CAPTURE(capacity);
    secret_buffer small(capacity);
    CHECK_FALSE(build_key_body("k\x01\"", settings, small));
    CHECK(small.empty());
  }
}
