#pragma once

/// @file
/// Finding the key in text from an auth server (SPEC §6 "Secrets"). A server
/// that echoes what it was sent may give the key back as is, percent-encoded
/// (either letter case), with `+` and space confused, JSON-escaped (`\/`,
/// `\u002B`), as HTML character references (`&#43;`, `&#0000043;`, `&#x2b;`,
/// `&plus;`), in base64 (standard or URL-safe, padded or not, alone or inside
/// a longer base64 text) or in hex (either case), with characters nothing
/// shows (U+200B, bidi marks, controls) between its characters. Such text is
/// withheld whole, so this only has to answer yes or no; it decodes the
/// escapes before it compares, and encodes the key for the rest. Pure, linear
/// in the text, and safe on any bytes.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

/// Text that may hold the key (from upstream, or a command's standard
/// error): wiped when done with, like the key.
class scrubbed_text {
 public:
  explicit scrubbed_text(std::string text) noexcept : text_(std::move(text)) {}
  ~scrubbed_text();
  scrubbed_text(scrubbed_text&& other) noexcept = default;
  scrubbed_text& operator=(scrubbed_text&&) = delete;
  scrubbed_text(const scrubbed_text&) = delete;
  scrubbed_text& operator=(const scrubbed_text&) = delete;
  std::string_view view() const noexcept { return text_; }

 private:
  std::string text_;
};

/// `text` without the characters nothing shows: C0 and C1 controls, DEL,
/// Unicode's format characters (U+200B..U+200F, U+202A..U+202E,
/// U+2060..U+206F, U+FEFF, U+00AD, tags, ...), the other default-ignorable
/// code points (variation selectors, fillers), and bytes that start no whole
/// UTF-8 sequence. Nothing when there is none. Never longer than `text`.
std::optional<std::string> without_invisible(std::string_view text);

/// Searches texts for one key in every form above, up to two layers of
/// escapes deep (three when all kinds are undone at once), before and after
/// removing what `without_invisible` removes. Letter case of the key matters
/// (of its hex form, not); `+`, space and any control or non-ASCII byte all
/// compare equal. An escape left open just before an echo can swallow its
/// first few characters (`%` then a key starting `AB...`), so each form of a
/// long key is also found without its first 8 characters. Keys shorter than 4
/// characters are never searched for (they would withhold everything), nor
/// encoded forms shorter than 12. The forms of the key are made once, here,
/// and wiped when this goes.
class key_finder {
 public:
  explicit key_finder(std::string_view key);
  ~key_finder();
  key_finder(const key_finder&) = delete;
  key_finder& operator=(const key_finder&) = delete;

  /// True when `text` holds the key in any of the forms above.
  bool found_in(std::string_view text) const;

 private:
  struct forms;
  bool in_layers(std::string_view text) const;
  bool any_form_in(std::string_view text) const;

  std::unique_ptr<const forms> forms_;
};

/// True when `text` holds `key` in any form (`key_finder(key).found_in(text)`).
bool echoes_key(std::string_view text, std::string_view key);

}  // namespace actoken::upstream
