// Fault injection for the error paths no test can provoke from outside: a
// system call that fails with EINTR, EIO or ENOSPC, a short write, fstat
// failing on a descriptor just opened. A test binary linked with
// actoken_fault defines the libc functions listed in fault.cpp itself; the
// dynamic linker binds every call in the process to them (the executable
// comes first in symbol lookup), and they pass through to libc unless a
// fault armed on the calling thread matches. Libc's internal calls (stdio's
// own writes) do not go through these symbols and are never touched.
//
// Faults are per thread: a helper thread in the test (a socket's other end)
// is never hit by a fault armed for the code under test.
#pragma once

#include <string>

namespace actoken::testing {

/// One planned failure: the `skip`+1-th to `skip`+`times`-th calls of `call`
/// on this thread (whose path, for a call that takes one, contains
/// `path_contains`) fail with `error`; or, with `short_count`, succeed with
/// at most that many bytes (read/write/send/recv only).
struct fault {
  std::string call;           // "write", "fstat", "open", ...
  int error = 0;              // errno of the failure
  int skip = 0;               // matching calls let through first
  int times = 1;              // matching calls failed; -1: every one after `skip`
  std::string path_contains;  // for calls that take a path; empty matches all
  long short_count = -1;      // >= 0: not a failure, a transfer cut to this many bytes
};

/// Arms a fault on this thread for the scope's life; faults of nested scopes
/// are all armed (each counts its own calls).
class fault_scope {
 public:
  explicit fault_scope(fault planned);
  ~fault_scope();
  fault_scope(const fault_scope&) = delete;
  fault_scope& operator=(const fault_scope&) = delete;

  /// How many calls this fault has failed (or cut short) so far.
  [[nodiscard]] int hits() const;

 private:
  int slot_;
};

}  // namespace actoken::testing
