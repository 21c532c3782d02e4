#pragma once

/// @file
/// What the fuzz targets share: a property check that stops the fuzzer (so
/// libFuzzer saves the input) and a splitter for inputs made of fields.

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace actoken::fuzz {

/// Reports a failed property (with an optional detail, e.g. an exception's
/// message) and aborts; libFuzzer then writes the input out.
[[noreturn]] inline void fail(const char* file, int line, const char* what,
                              const char* detail = nullptr) {
  std::fprintf(stderr, "\n%s:%d: property failed: %s%s%s\n", file, line, what,
               detail != nullptr ? ": " : "", detail != nullptr ? detail : "");
  std::abort();
}

/// Splits `data` at the first `N - 1` newlines: the last field keeps the rest
/// (newlines included). Missing fields are empty. Seeds stay readable text.
template <std::size_t N>
std::array<std::string_view, N> split_fields(std::string_view data) {
  std::array<std::string_view, N> fields{};
  for (std::size_t i = 0; i + 1 < N; ++i) {
    const auto newline = data.find('\n');
    fields[i] = data.substr(0, newline);
    data = newline == std::string_view::npos ? std::string_view() : data.substr(newline + 1);
  }
  fields[N - 1] = data;
  return fields;
}

}  // namespace actoken::fuzz

/// Checks a property of the code under test; a failure is a finding.
#define ACTOKEN_FUZZ_CHECK(condition, what)                            \
  do {                                                                 \
    if (!(condition)) ::actoken::fuzz::fail(__FILE__, __LINE__, what); \
  } while (false)
