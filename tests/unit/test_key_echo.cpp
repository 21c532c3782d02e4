// Finding the key in what an auth server sends back (SPEC §6 "Secrets"):
// every encoding a server might echo it in is found, alone, nested and glued
// to the text around it; text without the key is not mistaken for it; the
// decoders pass garbage through.
#include "daemon/upstream/key_echo.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace actoken::upstream;

namespace {

// Has the characters a form body escapes, and starts with hex digits so that
// an open `%` or `&#` just before it can swallow some.
const std::string key = "AB12+cd/EFgh=ij+KLmn/op==";

bool found(const std::string& text) { return echoes_key(text, key); }

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
  CHECK(unescape("&#0000000000065;", escape_kind::html) == std::nullopt);  // too many digits
  CHECK(found("\\u0041B12+cd/EFgh=ij+KLmn/op=="));                         // upper-case A via \u
  CHECK(found("%2541B12%2Bcd%2FEFgh%3Dij%2BKLmn%2Fop%3D%3D"));  // percent twice (all, deep)
}
