#include "client/org_names.hpp"

#include <algorithm>
#include <cctype>

namespace actoken::client {
namespace {

char folded(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

std::size_t name_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment over three rows: names are at most 64 characters.
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    previous[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = folded(a[i - 1]) == folded(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && folded(a[i - 1]) == folded(b[j - 2]) &&
          folded(a[i - 2]) == folded(b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string> nearest_name(std::string_view wanted,
                                        const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), wanted) != known.end()) {
    return std::nullopt;
  }
  const std::size_t allowed = std::max<std::size_t>(1, wanted.size() / 3);
  const std::string* best = nullptr;
  std::size_t best_distance = allowed + 1;
  for (const auto& name : known) {
    const auto distance = name_distance(wanted, name);
    if (distance < best_distance) {
      best = &name;
      best_distance = distance;
    }
  }
  return best == nullptr ? std::nullopt : std::optional<std::string>(*best);
}

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
