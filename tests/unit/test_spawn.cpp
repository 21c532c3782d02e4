// A detached coroutine's exception is logged, never silently dropped (STYLE 21).
#include "daemon/runtime/spawn.hpp"

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <stdexcept>

namespace net = boost::asio;

namespace {

net::awaitable<void> throws_runtime_error() {
  throw std::runtime_error("boom");
  co_return;
}

struct not_a_std_exception {};

net::awaitable<void> throws_something_else() {
  throw not_a_std_exception{};
  co_return;
}

// Captures what spdlog's default logger writes while it lives.
class captured_log {
 public:
  captured_log() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_st>(text_)));
  }
  ~captured_log() { spdlog::set_default_logger(previous_); }
  captured_log(const captured_log&) = delete;
  captured_log& operator=(const captured_log&) = delete;
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace

TEST_CASE("an exception a detached coroutine lets out is logged with what it was") {
  const captured_log log;
  net::io_context io;
  actoken::spawn_detached(io.get_executor(), throws_runtime_error(), "the first task");
  actoken::spawn_detached(io.get_executor(), throws_something_else(), "the second task");
  io.run();
  CHECK(log.text().find("the first task failed: boom") != std::string::npos);
  CHECK(log.text().find("the second task failed: an exception of unknown type") !=
        std::string::npos);
}
