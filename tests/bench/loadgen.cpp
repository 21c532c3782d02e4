// actoken-loadgen: a closed-loop HTTP/1.1 load generator for a Unix socket,
// written for SPEC §7's comparisons (actokend against nginx, same generator,
// same run). Three modes:
//   load (default)        N keep-alive connections, each sends a request, reads
//                         the whole answer (Content-Length), repeats; prints
//                         requests/s and latency percentiles;
//   --concurrent-once N   N connections send one request each at the same
//                         moment; prints how many 200s and distinct tokens;
//   --hold N              opens N idle connections and waits for a signal.
// With --groups N it first becomes a process with N supplementary groups (as
// root may: a user with 65,536 groups, SPEC §4 "No peer can slow the others
// down"), and with --close it opens a new connection for every request.
// Callbacks rather than coroutines: the generator must cost the shared CPU as
// little as possible, and its own cost is the same for every server measured.

#include "tests/bench/latency_histogram.hpp"
#include "tests/bench/response_scanner.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
using stream = net::local::stream_protocol;
using steady = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using json = nlohmann::json;
using actoken::bench::latency_histogram;
using actoken::bench::scan_response;
using actoken::bench::scanned_response;

struct options {
  std::string socket;
  std::string path = "/v1/token";
  unsigned connections = 1;
  unsigned threads = 1;
  double duration_s = 5;
  double warmup_s = 1;
  double timeout_s = 30;
  double hold_s = 120;
  unsigned concurrent_once = 0;
  unsigned hold = 0;
  unsigned groups = 0;  // > 0: setgroups() that many before connecting
  bool close = false;   // `Connection: close`: a new connection per request
  bool json_output = false;
};

std::string make_request(const std::string& path, bool close = false) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: actoken-loadgen\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

// Becomes a process with `count` supplementary groups (gids from 100000),
// which the kernel records for every connection made afterwards.
void take_groups(unsigned count) {
  std::vector<gid_t> groups(count);
  for (unsigned i = 0; i < count; ++i) groups[i] = 100000 + i;
  if (::setgroups(groups.size(), groups.data()) != 0) {
    throw std::runtime_error("setgroups with " + std::to_string(count) +
                             " groups failed (needs root): " + std::strerror(errno));
  }
}

// Holding 1,000 connections needs more descriptors than a default soft limit may give.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::uint64_t nanoseconds(steady::duration d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// User + system CPU time of this process so far, every thread included.
double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double microseconds(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

json latency_json(const latency_histogram& h) {
  return {{"p50", microseconds(h.percentile(0.50))},
          {"p90", microseconds(h.percentile(0.90))},
          {"p99", microseconds(h.percentile(0.99))},
          {"p999", microseconds(h.percentile(0.999))},
          {"max", microseconds(h.max())},
          {"min", microseconds(h.min())},
          {"mean", h.mean() / 1000.0}};
}

std::string milliseconds_text(std::uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(ns) / 1e6);
  return text;
}

// ---------------------------------------------------------------------------
// load mode

/// What one thread measured.
struct load_stats {
  latency_histogram latency;  // answers completed inside the window
  std::uint64_t completed = 0;
  std::uint64_t completed_all = 0;  // warm-up and window: what the generator's CPU time paid for
  std::uint64_t non_200 = 0;
  std::uint64_t errors = 0;
  std::uint64_t reconnects = 0;
};

class load_connection;

/// One thread: its io_context, its connections, its counters.
struct load_worker {
  explicit load_worker(const options& o)
      : request(make_request(o.path, o.close)), endpoint(o.socket) {}

  net::io_context io{1};
  std::string request;
  stream::endpoint endpoint;
  steady::time_point window_start;
  steady::time_point window_end;
  bool stopping = false;
  load_stats stats;
  std::vector<std::shared_ptr<load_connection>> connections;

  void record(steady::time_point sent, steady::time_point done, unsigned status) {
    ++stats.completed_all;
    // An answer counts when it completes inside the window (warm-up excluded).
    if (done < window_start || done >= window_end) return;
    ++stats.completed;
    stats.latency.record(nanoseconds(done - sent));
    if (status != 200) ++stats.non_200;
  }
};

/// A keep-alive connection that sends, reads the whole answer, and repeats.
class load_connection : public std::enable_shared_from_this<load_connection> {
 public:
  explicit load_connection(load_worker& worker)
      : worker_(worker), socket_(worker.io), pause_(worker.io), buffer_(8192) {}

  void connect_now() { socket_.connect(worker_.endpoint); }
  void start() { send(); }
  void stop() {
    error_code ignored;
    socket_.close(ignored);
    pause_.cancel();
  }

 private:
  void send() {
    if (worker_.stopping) return;
    sent_ = steady::now();
    net::async_write(socket_, net::buffer(worker_.request),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec) return self->fail();
                       self->read();
                     });
  }

  void read() {
    if (buffer_.size() - have_ < 2048) buffer_.resize(buffer_.size() * 2);
    socket_.async_read_some(
        net::buffer(buffer_.data() + have_, buffer_.size() - have_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, std::size_t n) {
    if (ec) return fail();
    have_ += n;
    const auto scan = scan_response({buffer_.data(), have_});
    if (scan.result == scanned_response::state::incomplete) return read();
    if (scan.result == scanned_response::state::malformed || have_ != scan.total()) {
      return fail();  // garbage, or bytes nobody asked for
    }
    const auto done = steady::now();
    worker_.record(sent_, done, scan.status);
    have_ = 0;
    if (scan.close) return reconnect();
    if (done >= worker_.window_end) return;
    send();
  }

  void fail() {
    if (worker_.stopping) return;
    ++worker_.stats.errors;
    reconnect();
  }

  void reconnect() {
    if (worker_.stopping) return;
    ++worker_.stats.reconnects;
    error_code ignored;
    socket_.close(ignored);
    have_ = 0;
    socket_.async_connect(worker_.endpoint, [self = shared_from_this()](error_code ec) {
      if (!ec) return self->send();
      if (self->worker_.stopping) return;
      ++self->worker_.stats.errors;
      // The server is gone or full: try again shortly rather than spin.
      self->pause_.expires_after(std::chrono::milliseconds{10});
      self->pause_.async_wait([self](error_code wait_ec) {
        if (!wait_ec) self->reconnect();
      });
    });
  }

  load_worker& worker_;
  stream::socket socket_;
  net::steady_timer pause_;
  std::vector<char> buffer_;
  std::size_t have_ = 0;
  steady::time_point sent_;
};

int run_load(const options& o) {
  const auto thread_count = std::max(1U, std::min(o.threads, o.connections));
  std::vector<std::unique_ptr<load_worker>> workers;
  for (unsigned t = 0; t < thread_count; ++t) workers.push_back(std::make_unique<load_worker>(o));
  try {
    for (unsigned c = 0; c < o.connections; ++c) {
      auto& worker = *workers[c % thread_count];
      auto connection = std::make_shared<load_connection>(worker);
      connection->connect_now();
      worker.connections.push_back(std::move(connection));
    }
  } catch (const std::exception& e) {
    std::cerr << "actoken-loadgen: cannot connect to " << o.socket << ": " << e.what() << '\n';
    return 1;
  }

  const auto start = steady::now();
  const auto window_start = start + std::chrono::duration_cast<steady::duration>(
                                        std::chrono::duration<double>(o.warmup_s));
  const auto window_end = window_start + std::chrono::duration_cast<steady::duration>(
                                             std::chrono::duration<double>(o.duration_s));
  std::vector<std::unique_ptr<net::steady_timer>> stop_timers;
  for (auto& worker : workers) {
    worker->window_start = window_start;
    worker->window_end = window_end;
    for (auto& connection : worker->connections) connection->start();
    // At the end of the window, close everything: pending operations finish
    // with an error that `stopping` turns into silence, and run() returns.
    auto timer = std::make_unique<net::steady_timer>(worker->io, window_end);
    timer->async_wait([w = worker.get()](error_code) {
      w->stopping = true;
      for (auto& connection : w->connections) connection->stop();
    });
    stop_timers.push_back(std::move(timer));
  }
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < workers.size(); ++t) {
    threads.emplace_back([w = workers[t].get()] { w->io.run(); });
  }
  workers[0]->io.run();
  for (auto& thread : threads) thread.join();

  load_stats total;
  for (const auto& worker : workers) {
    total.latency.merge(worker->stats.latency);
    total.completed += worker->stats.completed;
    total.completed_all += worker->stats.completed_all;
    total.non_200 += worker->stats.non_200;
    total.errors += worker->stats.errors;
    total.reconnects += worker->stats.reconnects;
  }
  const double rps = static_cast<double>(total.completed) / o.duration_s;
  // The generator's own CPU per answer: how close it came to being the bottleneck.
  const double cpu_s = process_cpu_seconds();
  const double cpu_us_per_request =
      total.completed_all == 0 ? 0.0 : cpu_s * 1e6 / static_cast<double>(total.completed_all);
  if (o.json_output) {
    json out{{"mode", "load"},
             {"socket", o.socket},
             {"path", o.path},
             {"connections", o.connections},
             {"threads", thread_count},
             {"duration_s", o.duration_s},
             {"warmup_s", o.warmup_s},
             {"requests", total.completed},
             {"rps", rps},
             {"latency_us", latency_json(total.latency)},
             {"errors", total.errors},
             {"non_200", total.non_200},
             {"reconnects", total.reconnects},
             {"cpu_s", cpu_s},
             {"cpu_us_per_request", cpu_us_per_request}};
    std::cout << out.dump() << '\n';
  } else {
    std::printf("%u connections, %u threads, %.1f s (+%.1f s warm-up), GET %s on %s\n",
                o.connections, thread_count, o.duration_s, o.warmup_s, o.path.c_str(),
                o.socket.c_str());
    std::printf("  requests  %llu   %.1f req/s\n", static_cast<unsigned long long>(total.completed),
                rps);
    std::printf("  latency   p50 %s   p99 %s   p99.9 %s   max %s\n",
                milliseconds_text(total.latency.percentile(0.5)).c_str(),
                milliseconds_text(total.latency.percentile(0.99)).c_str(),
                milliseconds_text(total.latency.percentile(0.999)).c_str(),
                milliseconds_text(total.latency.max()).c_str());
    std::printf("  errors %llu   non-200 %llu   reconnects %llu   generator CPU %.1f us/request\n",
                static_cast<unsigned long long>(total.errors),
                static_cast<unsigned long long>(total.non_200),
                static_cast<unsigned long long>(total.reconnects), cpu_us_per_request);
  }
  return total.completed > 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------
// --concurrent-once mode

/// One connection of the crowd: one request, one answer.
struct once_call {
  explicit once_call(net::io_context& io) : socket(io) {}
  stream::socket socket;
  std::vector<char> buffer = std::vector<char>(4096);
  std::size_t have = 0;
  bool connected = false;
  bool done = false;
  bool failed = false;
  scanned_response scan;
  steady::time_point finished;
};

void once_read(once_call& call) {
  if (call.buffer.size() - call.have < 1024) call.buffer.resize(call.buffer.size() * 2);
  call.socket.async_read_some(
      net::buffer(call.buffer.data() + call.have, call.buffer.size() - call.have),
      [&call](error_code ec, std::size_t n) {
        if (ec) {
          call.failed = true;
          return;
        }
        call.have += n;
        call.scan = scan_response({call.buffer.data(), call.have});
        if (call.scan.result == scanned_response::state::incomplete) {
          return once_read(call);
        }
        call.finished = steady::now();
        call.done = call.scan.result == scanned_response::state::complete;
        call.failed = !call.done;
        error_code ignored;
        call.socket.close(ignored);
      });
}

int run_concurrent_once(const options& o) {
  net::io_context io{1};
  const stream::endpoint endpoint(o.socket);
  const auto request = make_request(o.path);
  std::vector<std::unique_ptr<once_call>> calls;
  std::uint64_t connect_errors = 0;
  for (unsigned i = 0; i < o.concurrent_once; ++i) {
    auto call = std::make_unique<once_call>(io);
    error_code ec;
    call->socket.connect(endpoint, ec);
    call->connected = !ec;
    if (ec) ++connect_errors;
    calls.push_back(std::move(call));
  }

  // Every connection is open: now the requests go out back to back, each a
  // single small write that a Unix socket takes at once.
  const auto sent = steady::now();
  for (auto& call : calls) {
    if (!call->connected) continue;
    error_code ec;
    net::write(call->socket, net::buffer(request), ec);
    if (ec) {
      call->failed = true;
      continue;
    }
    once_read(*call);
  }
  net::steady_timer deadline(
      io, std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.timeout_s)));
  deadline.async_wait([&calls](error_code ec) {
    if (ec) return;
    for (auto& call : calls) {
      error_code ignored;
      call->socket.close(ignored);
    }
  });
  // Run until every call is done, then drop the deadline.
  while (io.run_one() > 0) {
    const bool all = std::all_of(calls.begin(), calls.end(), [](const auto& c) {
      return !c->connected || c->done || c->failed;
    });
    if (all) break;
  }
  deadline.cancel();

  std::map<unsigned, std::uint64_t> statuses;
  std::set<std::string> tokens;
  std::map<std::string, std::uint64_t> sources;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  latency_histogram latency;
  for (const auto& call : calls) {
    if (!call->done) {
      failed += call->connected ? 1U : 0U;
      continue;
    }
    latency.record(nanoseconds(call->finished - sent));
    ++statuses[call->scan.status];
    if (call->scan.status != 200) continue;
    ++ok;
    const auto body =
        std::string_view(call->buffer.data(), call->have).substr(call->scan.head_size);
    const auto parsed = json::parse(body, nullptr, false);
    if (parsed.is_object() && parsed.contains("access_token") &&
        parsed["access_token"].is_string()) {
      tokens.insert(parsed["access_token"].get<std::string>());
    }
    if (parsed.is_object() && parsed.contains("source") && parsed["source"].is_string()) {
      ++sources[parsed["source"].get<std::string>()];
    }
  }
  json status_counts = json::object();
  for (const auto& [status, n] : statuses) status_counts[std::to_string(status)] = n;
  json out{{"mode", "concurrent_once"},
           {"requests", o.concurrent_once},
           {"ok", ok},
           {"distinct_tokens", tokens.size()},
           {"sources", sources},
           {"statuses", status_counts},
           {"connect_errors", connect_errors},
           {"failed", failed},
           {"latency_us", latency_json(latency)}};
  if (o.json_output) {
    std::cout << out.dump() << '\n';
  } else {
    std::printf("%u concurrent requests: %llu answered 200, %zu distinct access_token values\n",
                o.concurrent_once, static_cast<unsigned long long>(ok), tokens.size());
    std::printf("  connect errors %llu   failed %llu   slowest %s   fastest %s\n",
                static_cast<unsigned long long>(connect_errors),
                static_cast<unsigned long long>(failed), milliseconds_text(latency.max()).c_str(),
                milliseconds_text(latency.min()).c_str());
  }
  return ok == o.concurrent_once && tokens.size() == 1 ? 0 : 1;
}

// ---------------------------------------------------------------------------
// --hold mode

int run_hold(const options& o) {
  // Block the stop signals first so sigtimedwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  net::io_context io{1};
  const stream::endpoint endpoint(o.socket);
  std::vector<stream::socket> sockets;
  sockets.reserve(o.hold);
  std::uint64_t connect_errors = 0;
  for (unsigned i = 0; i < o.hold; ++i) {
    stream::socket socket(io);
    error_code ec;
    socket.connect(endpoint, ec);
    if (ec) {
      ++connect_errors;
      continue;
    }
    sockets.push_back(std::move(socket));
  }
  json out{{"mode", "hold"}, {"held", sockets.size()}, {"connect_errors", connect_errors}};
  std::cout << out.dump() << std::endl;  // the script waits for this line

  timespec limit{};
  limit.tv_sec = static_cast<time_t>(o.hold_s);
  sigtimedwait(&stop_signals, nullptr, &limit);
  return connect_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Closed-loop HTTP/1.1 load generator for a Unix socket (actoken benchmarks)."};
  options o;
  app.add_option("--socket", o.socket, "Unix socket to connect to")->required();
  app.add_option("--path", o.path, "request target")->capture_default_str();
  app.add_option("--connections,-c", o.connections, "keep-alive connections (load mode)")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  app.add_option("--threads,-t", o.threads, "threads, each with its own share of connections")
      ->check(CLI::Range(1U, 64U))
      ->capture_default_str();
  app.add_option("--duration,-d", o.duration_s, "seconds measured (load mode)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds run first and not measured")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--concurrent-once", o.concurrent_once,
                 "open N connections, send one request on each at once, report the answers")
      ->check(CLI::Range(1U, 100000U));
  app.add_option("--timeout", o.timeout_s, "seconds to wait for --concurrent-once answers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--hold", o.hold, "open N idle connections, print a line, wait for SIGTERM")
      ->check(CLI::Range(1U, 100000U));
  app.add_option("--hold-time", o.hold_s, "seconds --hold waits at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--groups", o.groups,
                 "first become a process with N supplementary groups (root only)")
      ->check(CLI::Range(1U, 65536U));
  app.add_flag("--close", o.close, "a new connection for every request (Connection: close)");
  app.add_flag("--json", o.json_output, "one JSON object on stdout");
  CLI11_PARSE(app, argc, argv);

  ::signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit();
  try {
    if (o.groups > 0) take_groups(o.groups);
    if (o.concurrent_once > 0) return run_concurrent_once(o);
    if (o.hold > 0) return run_hold(o);
    return run_load(o);
  } catch (const std::exception& e) {
    std::cerr << "actoken-loadgen: " << e.what() << '\n';
    return 1;
  }
}
