#pragma once

/// @file
/// The stand-in's request handling without sockets: Appcircle's token
/// endpoints as SPEC §1 describes them, the behaviour knobs, the counters and
/// the optional control API. The transport (server.cpp) only moves bytes and
/// acts out the delay and the transport faults this decides.

#include "tests/stand_in/behaviour.hpp"
#include "tests/stand_in/form.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actoken::stand_in {

/// What the handler reads of one HTTP request.
struct incoming_request {
  std::string method;        ///< e.g. "POST"
  std::string target;        ///< path and query, e.g. "/auth/v3/token"
  std::string content_type;  ///< the Content-Type header, "" if absent
  std::string accept;        ///< the Accept header, "" if absent
  std::string body;          ///< the raw body
  /// TLS records of application data the request came in: 1 when the client
  /// wrote it whole, in one write; more when it wrote it in pieces.
  std::size_t tls_records = 0;
};

/// What to answer. The transport adds Date (from `date`), Content-Length and
/// Server, waits `delay` first and acts out `fault_mode`.
struct outgoing_response {
  unsigned status = 200;                                     ///< the HTTP status
  std::string content_type = "application/json";             ///< Content-Type
  std::string body;                                          ///< the body
  std::vector<std::pair<std::string, std::string>> headers;  ///< extras: Allow, Retry-After
  std::chrono::system_clock::time_point date;                ///< the stand-in's clock
  std::chrono::milliseconds delay{0};                        ///< wait before answering
  fault fault_mode = fault::none;                            ///< how to break the answer
  /// Sent as the Date header instead of `date` when not empty.
  std::string date_header;
};

/// A request to a token path, as the stand-in saw it on the wire.
struct recorded_request {
  std::string method;                       ///< e.g. "POST"
  std::string path;                         ///< without the query
  std::string content_type;                 ///< the Content-Type header
  std::string accept;                       ///< the Accept header
  std::map<std::string, std::string> form;  ///< decoded fields; empty when malformed
  std::string raw_body;                     ///< the body as sent
  std::size_t tls_records = 0;              ///< see `incoming_request::tls_records`
};

/// Formats an IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::chrono::system_clock::time_point time);

/// Answers requests and counts them. Every member is thread-safe: the server
/// calls `handle` on its own thread while a test reads counters on another.
class auth_handler {
 public:
  /// `control_api` enables `/_stand_in/stats` and `/_stand_in/behaviour`.
  explicit auth_handler(bool control_api = false);

  /// Decides the answer to one request.
  outgoing_response handle(const incoming_request& request);

  /// Registers a key for `org_id`; it may also get tokens for `sub_org_ids`.
  void add_account(std::string key, std::string org_id, std::vector<std::string> sub_org_ids);

  /// Replaces the behaviour; applies to requests read from now on.
  void set_behaviour(const behaviour& value);

  /// The current behaviour.
  behaviour get_behaviour() const;

  /// Requests to a token path (/auth/v{1,2,3}/token), whatever their method or outcome.
  std::size_t exchanges() const;

  /// Requests to a token path whose key field decoded to exactly `key`.
  std::size_t exchanges_for(std::string_view key) const;

  /// Tokens issued and sent whole (without a fault, or in pieces).
  std::size_t successful_exchanges() const;

  /// The requests to token paths, oldest first (the latest 10,000).
  std::vector<recorded_request> requests() const;

  /// Zeroes the counters and forgets the recorded requests.
  void reset_counters();

 private:
  /// What the stand-in knows about one key.
  struct account {
    std::string org_id;                    ///< the key's own organization
    std::vector<std::string> sub_org_ids;  ///< organizations it may also act for
  };

  outgoing_response handle_control(const incoming_request& request, std::string_view path);
  outgoing_response handle_token(const incoming_request& request, std::string_view path,
                                 std::string_view version,
                                 std::chrono::system_clock::time_point server_now);
  outgoing_response issue_token(const account& owner, const std::string& org_id,
                                std::chrono::system_clock::time_point server_now);
  void record(const incoming_request& request, std::string_view path,
              const std::optional<form_fields>& form);

  mutable std::mutex mutex_;
  const bool control_api_;
  const std::string secret_;  ///< HS256 key, random per handler
  std::map<std::string, account, std::less<>> accounts_;
  behaviour behaviour_;
  std::size_t exchanges_ = 0;
  std::size_t successful_exchanges_ = 0;
  std::map<std::string, std::size_t, std::less<>> exchanges_by_key_;
  std::deque<recorded_request> requests_;
};

}  // namespace actoken::stand_in
