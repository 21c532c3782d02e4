#pragma once

/// @file
/// The nearest known name for a mistyped one ("did you mean acme?"), one way for
/// the CLI (commands, organizations) and the daemon (sub-organization aliases):
/// an edit distance and the threshold that makes a typo. Pure functions.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken {

/// The edit distance between `a` and `b`, letters compared without case: insertions,
/// deletions, substitutions and swaps of two neighbours each count 1.
std::size_t name_distance(std::string_view a, std::string_view b);

/// The name of `known` closest to `wanted`, when it is close enough to be a typo:
/// at most one edit for names up to 5 characters, at most a third of the length
/// for longer ones. Ties go to the first in `known`. Nullopt when none is close, or
/// when `wanted` itself is in `known`. A name whose length alone puts it too far
/// is skipped without computing its distance, so the cost grows with `wanted`'s
/// length only while it is close to some known name's (the daemon runs this on a
/// peer's query).
std::optional<std::string> nearest_name(std::string_view wanted,
                                        const std::vector<std::string>& known);

}  // namespace actoken
