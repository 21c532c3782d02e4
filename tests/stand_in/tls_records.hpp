#pragma once

/// @file
/// Counts the TLS records of application data a connection receives, through
/// OpenSSL's message callback: how the stand-in tells a request written whole,
/// in one write (one record, up to 16 KiB), from one written in pieces (as
/// many records as writes), and how a test client tells the same of an answer.

#include <cstddef>

// OpenSSL's connection type, from <openssl/ssl.h>.
struct ssl_st;

namespace actoken::stand_in {

/// Application-data records received on one connection so far.
struct record_counter {
  std::size_t application_records = 0;
};

/// From now on, counts into `counter` every application-data record
/// `connection` receives (TLS 1.2 and 1.3). `counter` must outlive the
/// connection's use; replaces any message callback set before.
void count_received_records(ssl_st* connection, record_counter& counter);

}  // namespace actoken::stand_in
