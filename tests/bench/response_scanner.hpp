#pragma once

/// @file
/// Just enough of an HTTP/1.1 response parser for a load generator: finds the
/// end of the head, the status code, Content-Length and `Connection: close`.
/// Pure (bytes in, result out), so it is tested without sockets.

#include <cstddef>
#include <string_view>

namespace actoken::bench {

/// What scan_response() found at the start of a buffer.
struct scanned_response {
  /// Where the scan stands.
  enum class state {
    incomplete,  ///< more bytes are needed (head or body not all there)
    complete,    ///< one whole response: `head_size + content_length` bytes
    malformed,   ///< not an HTTP/1.x response with a Content-Length
  };
  state result = state::incomplete;
  unsigned status = 0;             ///< the status code (complete, or head read)
  std::size_t head_size = 0;       ///< bytes up to and including the blank line
  std::size_t content_length = 0;  ///< the body's size
  bool close = false;              ///< the server said `Connection: close`
  /// Bytes the whole response takes (head + body).
  std::size_t total() const noexcept { return head_size + content_length; }
};

/// Scans the first response in `bytes`. Heads over `max_head` bytes are malformed.
scanned_response scan_response(std::string_view bytes, std::size_t max_head = 16 * 1024) noexcept;

}  // namespace actoken::bench
