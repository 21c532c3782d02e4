#pragma once

/// @file
/// Finding the key in text from an auth server (SPEC §6 "Secrets"). A server
/// that echoes what it was sent may give the key back as is, percent-encoded
/// (either letter case), with `+` and space confused, JSON-escaped (`\/`,
/// `\u002B`) or as HTML character references (`&#43;`, `&#x2b;`, `&plus;`).
/// Such text is withheld whole, so this only has to answer yes or no; it
/// decodes before it compares rather than trying to enumerate encodings.
/// Pure, linear in the text, and safe on any bytes.

#include <optional>
#include <string>
#include <string_view>

namespace actoken::upstream {

/// What replaces upstream text that held the key.
inline constexpr std::string_view withheld_detail = "upstream text withheld: it contained the key";

/// The escapes one decoding pass undoes.
enum class escape_kind {
  percent,  ///< `%XX`, hex digits in either case
  json,     ///< `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` `\uXXXX` (and surrogate pairs)
  html,     ///< `&#DDD;` `&#xHH;` (`;` optional) and the named references of ASCII marks
  all,      ///< all three in the same pass
};

/// Undoes one layer of `kind` escapes in one left-to-right pass: each escape
/// becomes its character (UTF-8 beyond ASCII), anything that is not a whole
/// escape is copied as it is. Nothing when `text` has no such escape. The
/// result is never longer than `text`.
std::optional<std::string> unescape(std::string_view text, escape_kind kind);

/// True when `text` holds `key` in any of the forms above, up to two layers
/// deep. Letter case of the key matters; `+`, space and any control or
/// non-ASCII byte all compare equal. An escape left open just before an echo
/// can swallow its first few characters (`%` then a key starting `AB...`), so
/// a long key is also found without its first 8 characters. Keys shorter than
/// 4 characters are never searched for (they would withhold everything).
bool echoes_key(std::string_view text, std::string_view key);

}  // namespace actoken::upstream
