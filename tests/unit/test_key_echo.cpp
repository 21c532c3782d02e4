// Finding the key in what an auth server sends back (SPEC §6 "Secrets"):
// every encoding a server might echo it in is found, alone, nested and glued
// to the text around it; text without the key is not mistaken for it; the
// decoders pass garbage through.
#include "common/base64.hpp"
#include "daemon/upstream/key_echo.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace actoken::upstream;

namespace {

// Has the characters a form body escapes, and starts with hex digits so that
// an open `%` or `&#` just before it can swallow some.
const std::string key = "AB12+cd/EFgh=ij+KLmn/op==";

bool found(const std::string& text) { return echoes_key(text, key); }

// `text` with `between` after each of its characters but the last.
std::string interleaved(const std::string& text, const std::string& between) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) out += (i == 0 ? "" : between) + text[i];
  return out;
}

std::string url_safe(std::string base64) {
  std::replace(base64.begin(), base64.end(), '+', '-');
  std::replace(base64.begin(), base64.end(), '/', '_');
  return base64;
}

std::string unpadded(std::string base64) {
  while (!base64.empty() && base64.back() == '=') base64.pop_back();
  return base64;
}

std::string hex(const std::string& bytes, const char* digits) {
  std::string out;
  for (const char c : bytes) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("the key as is, and with + and space confused") {
  CHECK(found(key));
  CHECK(found("invalid key '" + key + "' for organization"));
  CHECK(found("AB12 cd/EFgh=ij KLmn/op=="));    // a form decoder's view of the key
  CHECK(found("AB12\tcd/EFgh=ij\nKLmn/op=="));  // the detail shown turns these into spaces
}

TEST_CASE("percent-encoded in either case, partly or wholly") {
  CHECK(found("pat=AB12%2Bcd%2FEFgh%3Dij%2BKLmn%2Fop%3D%3D&scope=x"));
  CHECK(found("pat=AB12%2bcd%2fEFgh%3dij%2bKLmn%2fop%3d%3d"));
  CHECK(found("AB12%2bcd%2FEFgh%3dij%2BKLmn%2fop%3D%3d"));
  CHECK(found("%41%42%31%32%2B%63%64%2F%45%46%67%68%3D%69%6A%2B%4B%4C%6D%6E%2F%6F%70%3D%3D"));
  CHECK(found("AB12%2Bcd/EFgh=ij%2BKLmn/op=="));  // only the + escaped
}

TEST_CASE("JSON-escaped: \\/ and \\u in either case") {
  CHECK(found(R"({"error":"AB12+cd\/EFgh=ij+KLmn\/op=="})"));
  CHECK(found(R"(AB12\u002Bcd\u002FEFgh\u003Dij\u002BKLmn\u002Fop\u003D\u003D)"));
  CHECK(found(R"(AB12\u002bcd\u002fEFgh\u003dij\u002bKLmn\u002fop\u003d\u003d)"));
  CHECK(found(R"(\u0041\u0042\u0031\u0032\u002b\u0063\u0064\u002F\u0045\u0046\u0067\u0068)"
              R"(\u003d\u0069\u006a\u002B\u004b\u004c\u006d\u006e\u002f\u006f\u0070\u003D=)"));
}

TEST_CASE("HTML character references: decimal, hex in either case, named") {
  CHECK(found("AB12&#43;cd&#47;EFgh&#61;ij&#43;KLmn&#47;op&#61;&#61;"));
  CHECK(found("AB12&#x2b;cd&#x2f;EFgh&#x3d;ij&#x2b;KLmn&#x2f;op&#x3d;&#x3d;"));
  CHECK(found("AB12&#X2B;cd&#X2F;EFgh&#X3D;ij&#X2B;KLmn&#X2F;op&#X3D;&#X3D;"));
  CHECK(found("AB12&plus;cd&sol;EFgh&equals;ij&plus;KLmn&sol;op&equals;&equals;"));
  CHECK(found("AB12&PLUS;cd&Sol;EFgh&equals;ij&plus;KLmn&sol;op&equals;&equals;"));
  CHECK(found("AB12&#0043;cd&#47EFgh&#61;ij&#43;KLmn&#47;op&#61;&#61;"));  // zeros, no `;`
}

TEST_CASE("nested encodings: JSON around HTML or percent, percent twice") {
  CHECK(found(R"(AB12\u0026#43;cd\u0026sol;EFgh=ij\u0026#43;KLmn/op==)"));
  CHECK(found(R"(AB12%2Bcd%2FEFgh%3Dij%2BKLmn\/op==)"));
  CHECK(found("AB12%252Bcd%252FEFgh%253Dij%252BKLmn%252Fop%253D%253D"));
  CHECK(found("AB12&#37;2Bcd&#37;2FEFgh=ij&#37;2BKLmn/op=="));
  CHECK(found("AB12&amp;#43;cd/EFgh=ij&amp;#43;KLmn/op=="));
}

TEST_CASE("an escape left open just before the echo does not hide it") {
  CHECK(found("100%AB12%2Bcd%2FEFgh%3Dij%2BKLmn%2Fop%3D%3D"));   // `%AB` is a byte
  CHECK(found(R"(\u00AB12\u002Bcd\/EFgh=ij\u002BKLmn\/op==)"));  // `\u00` + "AB12"
  CHECK(found("&#AB12&#43;cd&#47;EFgh&#61;ij&#43;KLmn&#47;op&#61;&#61;"));
  CHECK(found("&#xAB12&#43;cd&#47;EFgh&#61;ij&#43;KLmn&#47;op&#61;&#61;"));
}

TEST_CASE("text without the key is not withheld") {
  CHECK_FALSE(found(""));
  CHECK_FALSE(found("invalid_grant: The personal access key is not valid."));
  CHECK_FALSE(found("AB12+cd/EFgh=ij+KLmn/op="));   // the key's last character missing
  CHECK_FALSE(found("AB12+cd/EFgh=ij-KLmn/op=="));  // one character different
  CHECK_FALSE(found("AB12%2Bcd%2FEFgh%3Dij%2DKLmn%2Fop%3D%3D"));
  CHECK_FALSE(found("ab12+CD/efGH=IJ+klMN/OP=="));  // letter case matters
  CHECK_FALSE(found("%%%%&&&&\\\\\\&#;&#x;&nosuch;\\u12"));
  // Short keys are never searched for: they would withhold ordinary words.
  CHECK_FALSE(echoes_key("the abc of it", "abc"));
  CHECK(echoes_key("the abcd of it", "abcd"));
}

TEST_CASE("a crafted near-match is searched in linear time and still decided right") {
  const std::string repetitive = std::string(40, 'a') + "b";
  const std::string text(1 << 20, 'a');
  CHECK_FALSE(echoes_key(text, repetitive));
  CHECK(echoes_key(text + "b", repetitive));
  const std::string escapes(1 << 20, '%');
  CHECK_FALSE(echoes_key(escapes, key));
}

TEST_CASE("unescape undoes one layer of the kind asked for") {
  CHECK(unescape("a%2Bb%2fc", escape_kind::percent) == "a+b/c");
  CHECK(unescape("a%2Bb&#43;\\/", escape_kind::percent) == "a+b&#43;\\/");
  CHECK(unescape(R"(a\/b\u002Bc\"\\\n)", escape_kind::json) == "a/b+c\"\\\n");
  CHECK(unescape("&#43;&#x2B;&#X2b;&plus;&amp;&lt;&ampx", escape_kind::html) == "++++&<&x");
  CHECK(unescape("%252B", escape_kind::all) == "%2B");
  CHECK(unescape("\\u0026#43;", escape_kind::all) == "&#43;");
  // Surrogate pairs become one UTF-8 sequence.
  CHECK(unescape(R"(\uD83D\uDE00)", escape_kind::json) == "\xF0\x9F\x98\x80");
}

TEST_CASE("unescape passes what is not a whole escape through") {
  CHECK_FALSE(unescape("plain text", escape_kind::all).has_value());
  CHECK_FALSE(unescape("%zz %4 % \\x \\u12 \\ &#; &#x; &nosuch; &#99999999; &", escape_kind::all)
                  .has_value());
  CHECK_FALSE(unescape("&#1114112;", escape_kind::html).has_value());  // past U+10FFFF
  CHECK(unescape("%4%41", escape_kind::percent) == "%4A");
  CHECK(unescape(R"(\uD800x)", escape_kind::json) == "\xED\xA0\x80x");  // a lone surrogate
  // Never longer than the input, whatever it holds.
  const std::string garbage = "&#1;&#x10FFFF;\\uFFFF%FF&lt;\\/&#65&";
  for (const auto kind :
       {escape_kind::percent, escape_kind::json, escape_kind::html, escape_kind::all}) {
    const auto out = unescape(garbage, kind);
    REQUIRE(out.has_value());
    CHECK(out->size() <= garbage.size());
  }
}

TEST_CASE("every JSON escape and the edges of surrogates and references") {
  CHECK(unescape(R"(\b\f\r\t)", escape_kind::json) == "\b\f\r\t");
  CHECK_FALSE(unescape("ends with \\", escape_kind::json).has_value());
  // A high surrogate followed by an escape that is not a low surrogate: kept apart.
  CHECK(unescape(R"(\uD83D\u0041)", escape_kind::json) ==
        "\xED\xA0\xBD"
        "A");
  CHECK(unescape(R"(\uD83D\uZZZZ)", escape_kind::json) == "\xED\xA0\xBD\\uZZZZ");
  CHECK(unescape(R"(\uD83D\n)", escape_kind::json) == "\xED\xA0\xBD\n");
  // References: no digits after "&#x", a name too long to be one, a name
  // without its ';' (a legacy one is still read), a number without ';'.
  CHECK(unescape("&#xZ;&#65", escape_kind::html) == "&#xZ;A");
  CHECK_FALSE(unescape("&abcdefghijklmnopqrstuvwxyzabcdefgh;", escape_kind::html).has_value());
  CHECK(unescape("&AMP;&amp", escape_kind::html) == "&&");
  // Leading zeros, any number of them; significant digits past a code point are not read.
  CHECK(unescape("&#0000000000065;&#x00000000041;", escape_kind::html) == "AA");
  CHECK_FALSE(unescape("&#00000099999999;", escape_kind::html).has_value());
  CHECK(found("\\u0041B12+cd/EFgh=ij+KLmn/op=="));              // upper-case A via \u
  CHECK(found("%2541B12%2Bcd%2FEFgh%3Dij%2BKLmn%2Fop%3D%3D"));  // percent twice (all, deep)
}

TEST_CASE("HTML numeric references with any number of leading zeros, for every character") {
  std::string decimal;
  std::string hexadecimal;
  for (const char c : key) {
    decimal += "&#0000000" + std::to_string(static_cast<int>(c)) + ";";
    hexadecimal += "&#x0000000000" + hex(std::string(1, c), "0123456789ABCDEF") + ";";
  }
  CHECK(found("<p>Invalid key: " + decimal + "</p>"));
  CHECK(found("<p>Invalid key: " + hexadecimal + "</p>"));
  CHECK(found("AB12&#0000000043;cd&#00000047EFgh=ij+KLmn/op=="));  // no `;` either
}

TEST_CASE("base64 of the key: standard and URL-safe, padded or not, at any alignment") {
  const auto alone = actoken::base64_encode(key);
  CHECK(found("bad key " + alone));
  CHECK(found("bad key " + unpadded(alone)));
  CHECK(found("bad key " + url_safe(unpadded(alone))));
  CHECK(found("bad key " + url_safe(alone)));
  // Inside a longer base64 text the key starts at byte 0, 1 or 2 of a group
  // of three: what the server encoded is the request it got, say.
  for (const std::string before :
       {"pat=", "personalAccessKey=", "{\"personalAccessKey\":\"", "x", "xy", "xyz"}) {
    CAPTURE(before);
    const auto encoded = actoken::base64_encode(before + key + "&scope=openid");
    CHECK(found("request was " + encoded));
    CHECK(found("request was " + url_safe(unpadded(encoded))));
    // And percent-encoded, as a form or a URL carries base64, or `+` as a space.
    std::string percent;
    for (const char c : encoded) {
      percent += c == '+' ? "%2B" : c == '/' ? "%2F" : c == '=' ? "%3D" : std::string(1, c);
    }
    CHECK(found("request was " + percent));
    std::string spaced = encoded;
    std::replace(spaced.begin(), spaced.end(), '+', ' ');
    CHECK(found("request was " + spaced));
  }
  // Another key's base64 is not this one's.
  CHECK_FALSE(found(actoken::base64_encode("AB12+cd/EFgh=ij+KLmn/oq==")));
}

TEST_CASE("hex of the key, in either case, alone or inside a longer hex text") {
  CHECK(found("key " + hex(key, "0123456789abcdef")));
  CHECK(found("key " + hex(key, "0123456789ABCDEF")));
  auto mixed = hex(key, "0123456789abcdef");
  for (std::size_t i = 0; i < mixed.size(); i += 3) {
    mixed[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[i])));
  }
  CHECK(found("key " + mixed));
  CHECK(found(hex("pat=" + key + "&scope=x", "0123456789abcdef")));
  CHECK_FALSE(found(hex("AB12+cd/EFgh=ij+KLmn/oq==", "0123456789abcdef")));
}

TEST_CASE("characters nothing shows between the key's are removed before the search") {
  for (const std::string invisible :
       {"json", "\xE2\x80\x8B", "\xE2\x81\xA0" /* U+2060 */, "\xEF\xBB\xBF" /* U+FEFF */,
        "\xE2\x80\x8F" /* RLM */, "\xE2\x80\xAE" /* RLO */, "\xE2\x81\xA6" /* LRI */,
        "\xC2\xAD" /* soft hyphen */, "\xC2\x85" /* C1 NEL */, "\x01", "\x7F", "\x1B",
        "\xF3\xA0\x80\x81" /* a tag */, "\xEF\xB8\x8F" /* VS16 */, "\xFF" /* no UTF-8 */}) {
    CAPTURE(invisible);
    const auto spread = interleaved(key, invisible);
    if (invisible == "json") {
      // As a JSON escape: the escape undone, then the character removed.
      CHECK(found(R"({"error_description":")" + interleaved(key, R"(\u200b)") + R"("})"));
    } else {
      CHECK(found("invalid key " + spread));
    }
  }
  // As HTML references and percent-encoded, too.
  CHECK(found(interleaved(key, "&#8203;")));
  CHECK(found(interleaved(key, "%E2%80%8B")));
  // In a base64 echo, or breaking an escape up.
  CHECK(found(interleaved(actoken::base64_encode(key), "\xE2\x80\x8B")));
  CHECK(
      found("AB12%\xE2\x80\x8B"
            "2Bcd/EFgh=ij+KLmn/op=="));
  // Visible characters between the key's are not removed: that is not the key.
  CHECK_FALSE(found(interleaved(key, "\xC3\xA9")));
  CHECK_FALSE(found(interleaved(key, "-")));
}

TEST_CASE("without_invisible removes what nothing shows, and only that") {
  CHECK_FALSE(without_invisible("plain text, caf\xC3\xA9 \xE2\x82\xAC").has_value());
  CHECK(without_invisible("a\xE2\x80\x8B"
                          "b\tc\nd\x7F\xC2\x9F"
                          "e") == "abcde");
  CHECK(without_invisible("\xEF\xBB\xBF"
                          "BOM first") == "BOM first");
  CHECK(without_invisible("cut \xE2\x80") == "cut ");        // a sequence cut short
  CHECK(without_invisible("\xC0\xAFx\xED\xA0\x80") == "x");  // overlong, a surrogate
  CHECK(without_invisible("\xE2\x80\xAE"
                          "evil\xE2\x80\xAC") == "evil");
}

TEST_CASE("one key_finder searches many texts; a short key finds nothing") {
  const key_finder finder(key);
  CHECK(finder.found_in(key));
  CHECK_FALSE(finder.found_in("nothing here"));
  CHECK(finder.found_in(actoken::base64_encode(key)));
  const key_finder short_key("abc");
  CHECK_FALSE(short_key.found_in("abc"));
}
