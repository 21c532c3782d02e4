#include "tests/stand_in/behaviour.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <stdexcept>
#include <utility>

namespace actoken::stand_in {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<fault, std::string_view>, 9> fault_names{{
    {fault::none, "none"},
    {fault::endless_body, "endless_body"},
    {fault::huge_body, "huge_body"},
    {fault::truncated_tls, "truncated_tls"},
    {fault::reset, "reset"},
    {fault::hang, "hang"},
    {fault::huge_header, "huge_header"},
    {fault::not_http, "not_http"},
    {fault::in_pieces, "in_pieces"},
}};

[[noreturn]] void bad_field(const std::string& name, const char* reason) {
  throw std::invalid_argument("behaviour: " + name + ": " + reason);
}

template <class T>
T field_as(const std::string& name, const json& value) {
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    bad_field(name, "wrong type");
  }
}

// Applies one field of the control API's object to `out`.
void apply_field(const std::string& name, const json& value, behaviour& out) {
  if (name == "token_lifetime") {
    out.token_lifetime = std::chrono::seconds(field_as<std::int64_t>(name, value));
  } else if (name == "delay_ms") {
    const auto delay = field_as<std::int64_t>(name, value);
    if (delay < 0) {
      bad_field(name, "must not be negative");
    }
    out.delay = std::chrono::milliseconds(delay);
  } else if (name == "forced_status") {
    out.forced_status = field_as<unsigned>(name, value);
    if (out.forced_status != 0 && (out.forced_status < 100 || out.forced_status > 599)) {
      bad_field(name, "must be 0 or 100..599");
    }
  } else if (name == "retry_after") {
    out.retry_after = field_as<std::string>(name, value);
  } else if (name == "html_body") {
    out.html_body = field_as<bool>(name, value);
  } else if (name == "clock_offset") {
    out.clock_offset = std::chrono::seconds(field_as<std::int64_t>(name, value));
  } else if (name == "send_expires_in") {
    out.send_expires_in = field_as<bool>(name, value);
  } else if (name == "disabled_versions") {
    out.disabled_versions = field_as<std::set<std::string>>(name, value);
  } else if (name == "fault") {
    const auto parsed = parse_fault(field_as<std::string>(name, value));
    if (!parsed) {
      bad_field(name, "unknown fault");
    }
    out.fault_mode = *parsed;
  } else if (name == "echo_key") {
    if (value.is_null()) {
      out.echo_key.reset();
      return;
    }
    out.echo_key = parse_echo_encoding(field_as<std::string>(name, value));
    if (!out.echo_key) {
      bad_field(name, "unknown encoding");
    }
  } else if (name == "token_suffix") {
    out.token_suffix = field_as<std::string>(name, value);
  } else if (name == "date_header") {
    out.date_header = field_as<std::string>(name, value);
  } else {
    bad_field(name, "unknown field");
  }
}

}  // namespace

std::string_view to_string(fault value) noexcept {
  for (const auto& [candidate, name] : fault_names) {
    if (candidate == value) {
      return name;
    }
  }
  return "none";
}

std::optional<fault> parse_fault(std::string_view name) noexcept {
  for (const auto& [value, candidate] : fault_names) {
    if (candidate == name) {
      return value;
    }
  }
  return std::nullopt;
}

behaviour behaviour_from_json(std::string_view json_text) {
  const json document = json::parse(json_text, nullptr, false);
  if (!document.is_object()) {
    throw std::invalid_argument("behaviour: expected a JSON object");
  }
  behaviour out;
  for (const auto& [name, value] : document.items()) {
    apply_field(name, value, out);
  }
  return out;
}

std::string behaviour_to_json(const behaviour& value) {
  return json{
      {"token_lifetime", value.token_lifetime.count()},
      {"delay_ms", value.delay.count()},
      {"forced_status", value.forced_status},
      {"retry_after", value.retry_after},
      {"html_body", value.html_body},
      {"clock_offset", value.clock_offset.count()},
      {"send_expires_in", value.send_expires_in},
      {"disabled_versions", value.disabled_versions},
      {"fault", to_string(value.fault_mode)},
      {"echo_key", value.echo_key ? json(to_string(*value.echo_key)) : json(nullptr)},
      {"token_suffix", value.token_suffix},
      {"date_header", value.date_header},
  }
      .dump();
}

}  // namespace actoken::stand_in
