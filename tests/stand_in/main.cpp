// actoken-stand-in: the stand-in Appcircle auth server as a process, for the
// demo script and the benchmarks. Keys come from --account-file, never from
// argv (process arguments are world-readable). Runs until SIGTERM or SIGINT.

#include "tests/stand_in/behaviour.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/stand_in/server.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace actoken::stand_in;

// Lines of `KEY ORG_ID [SUBORG_ID...]`; blank lines and `#` comments are skipped.
void load_accounts(server& stand_in, const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string key;
    std::string org_id;
    if (!(words >> key) || key.front() == '#') {
      continue;
    }
    if (!(words >> org_id)) {
      // The message names the line, never its content: that is a key.
      throw std::runtime_error(path.string() + ":" + std::to_string(number) +
                               ": expected KEY ORG_ID [SUBORG_ID...]");
    }
    std::vector<std::string> sub_org_ids{std::istream_iterator<std::string>(words),
                                         std::istream_iterator<std::string>()};
    stand_in.add_account(std::move(key), std::move(org_id), std::move(sub_org_ids));
  }
}

// Temporary file and rename: a script polling for the file never reads half of it.
void write_port_file(const std::filesystem::path& path, std::uint16_t port) {
  const std::filesystem::path temporary = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) {
      throw std::runtime_error("cannot write " + temporary.string());
    }
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Stand-in Appcircle auth server for actoken's tests, demo and benchmarks."};
  std::string listen = "127.0.0.1";
  std::uint16_t port = 0;
  std::filesystem::path pki_dir;
  std::filesystem::path account_file;
  std::filesystem::path port_file;
  std::int64_t lifetime_s = 3600;
  std::int64_t delay_ms = 0;
  app.add_option("--listen", listen, "Address to listen on")->capture_default_str();
  app.add_option("--port", port, "Port to listen on (0: any free port)")->capture_default_str();
  app.add_option("--pki-dir", pki_dir, "Writes a fresh ca.pem, server.pem and server.key here")
      ->required();
  app.add_option("--account-file", account_file, "Lines of KEY ORG_ID [SUBORG_ID...]")
      ->check(CLI::ExistingFile);
  app.add_option("--lifetime", lifetime_s, "Token lifetime in seconds")->capture_default_str();
  app.add_option("--delay-ms", delay_ms, "Delay before each token answer")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--port-file", port_file, "Writes the bound port here once listening");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread starts: every thread inherits the
  // mask, so sigwait below is the one place that receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    server_options options;
    options.address = listen;
    options.port = port;
    options.control_api = true;
    std::vector<std::string> hosts{"127.0.0.1", "localhost"};
    if (std::find(hosts.begin(), hosts.end(), listen) == hosts.end()) {
      hosts.push_back(listen);
    }
    options.pki = generate_pki(hosts);
    write_pki(options.pki, pki_dir);

    server stand_in(std::move(options));
    if (!account_file.empty()) {
      load_accounts(stand_in, account_file);
    }
    behaviour initial;
    initial.token_lifetime = std::chrono::seconds(lifetime_s);
    initial.delay = std::chrono::milliseconds(delay_ms);
    stand_in.set_behaviour(initial);
    stand_in.start();
    if (!port_file.empty()) {
      write_port_file(port_file, stand_in.port());
    }
    std::cerr << "actoken-stand-in: listening on " << stand_in.url() << '\n';

    int received = 0;
    sigwait(&stop_signals, &received);
    stand_in.stop();
  } catch (const std::exception& error) {
    std::cerr << "actoken-stand-in: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
