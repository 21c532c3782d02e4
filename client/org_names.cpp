#include "client/org_names.hpp"

#include <algorithm>

namespace actoken::client {

std::vector<std::string> org_names_of(const nlohmann::ordered_json& orgs_answer) {
  std::vector<std::string> names;
  if (!orgs_answer.is_object()) {
    return names;
  }
  const auto orgs = orgs_answer.find("orgs");
  if (orgs == orgs_answer.end() || !orgs->is_array()) {
    return names;
  }
  for (const auto& org : *orgs) {
    if (!org.is_object()) {
      continue;
    }
    if (const auto name = org.find("name"); name != org.end() && name->is_string()) {
      names.push_back(name->get<std::string>());
    }
  }
  return names;
}

std::string list_names(const std::vector<std::string>& names, std::size_t limit) {
  const std::size_t shown = std::min(names.size(), limit);
  std::string text;
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) {
      text += (i + 1 == shown && shown == names.size()) ? " and " : ", ";
    }
    text += names[i];
  }
  if (shown < names.size()) {
    text += " and " + std::to_string(names.size() - shown) + " more";
  }
  return text;
}

std::string without_org_prefix(std::string_view message, std::string_view org) {
  const std::string head = "organization " + std::string(org);
  if (org.empty() || !message.starts_with(head)) {
    return std::string(message);
  }
  const auto rest = message.substr(head.size());
  if (rest.starts_with(": ")) {
    return std::string(rest.substr(2));
  }
  constexpr std::string_view sub_org = " (sub-organization ";
  if (rest.starts_with(sub_org)) {
    const auto close = rest.find("): ");
    if (close != std::string_view::npos) {
      return "sub-organization " +
             std::string(rest.substr(sub_org.size(), close - sub_org.size())) + ": " +
             std::string(rest.substr(close + 3));
    }
  }
  return std::string(message);
}

}  // namespace actoken::client
