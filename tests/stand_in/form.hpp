#pragma once

/// @file
/// `application/x-www-form-urlencoded` decoding as a strict server does it
/// (WHATWG URL §5.1, with malformed input refused rather than passed through).

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::stand_in {

/// Decoded form fields, by name.
using form_fields = std::map<std::string, std::string, std::less<>>;

/// Decodes a form body: fields split on `&`, name and value on the first `=`,
/// `+` is a space and `%XX` a byte. Returns nothing for a malformed `%`
/// escape or a field given twice, which a strict server answers with 400.
std::optional<form_fields> decode_form(std::string_view body);

/// True when `content_type` is `application/x-www-form-urlencoded`, in any
/// letter case and with or without parameters such as `; charset=UTF-8`.
bool is_form_content_type(std::string_view content_type);

}  // namespace actoken::stand_in
