// What the interposed functions of tests/fault ask: whether a fault armed on
// this thread matches the call. For fault.cpp and fault_openssl.cpp only;
// tests use fault.hpp.
#pragma once

namespace actoken::testing {

/// What a matching armed fault says about one call.
struct verdict {
  bool fail = false;  ///< fail with `error`
  int error = 0;
  long short_count = -1;  ///< >= 0: cut the transfer to this many bytes
};

/// Counts the call against the faults armed on this thread and returns the
/// verdict of the first that matches (`path`: the call's path, if it takes one).
verdict planned_failure(const char* call, const char* path = nullptr);

/// The next definition of `name` after the test program's own: libc's,
/// libcrypto's or a sanitizer's interceptor; looked up once into `*cache`.
/// Out of line and free of inline library code: a sanitizer's runtime calls
/// some interposed functions before its shadow memory exists, and an inline
/// function's instrumented copy from another file could be the one linked.
void* next_definition(const char* name, void** cache);

}  // namespace actoken::testing
