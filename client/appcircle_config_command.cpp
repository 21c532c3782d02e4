// `actoken appcircle-config`: a token into the official Appcircle CLI's config
// store (SPEC §1, §5). The file's rules are in appcircle_config; this reads the
// file, gets the token, and replaces the file.

#include "client/appcircle_config.hpp"
#include "client/commands.hpp"
#include "client/daemon_calls.hpp"
#include "client/daemon_reply.hpp"
#include "client/output.hpp"
#include "client/platform/files.hpp"
#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <variant>

namespace actoken::client {
namespace {

using json = nlohmann::ordered_json;

// Why the file cannot be read, for "cannot read PATH: ...".
std::string read_problem(int error) {
  if (error == EINVAL) {
    return "it is not a regular file";
  }
  if (error == EFBIG) {
    return "it is larger than " + std::to_string(appcircle_config_max_size / 1024) + " KiB";
  }
  return std::strerror(error);
}

// Why the file at `path` may not be changed, for an exit 4 that says so.
int refuse(const context& ctx, const std::filesystem::path& path, const std::string& why) {
  report_error(ctx, "refusing to change " + path.string() + ": " + why +
                        "; another user could take the token or choose where it goes; "
                        "nothing was changed");
  return exit_code::permission;
}

// Opens and checks the folder, then reads and checks the file, before
// anything is asked of the daemon: a file that will be refused costs no
// exchange. Reports and returns the exit code when refused.
std::variant<appcircle_config, int> checked_config(const context& ctx,
                                                   const std::filesystem::path& path,
                                                   const platform::checked_folder& folder,
                                                   bool& was_link) {
  if (!folder.refused.empty()) return refuse(ctx, path, folder.refused);
  if (!folder.problem.empty()) {
    report_error(ctx, folder.problem + "; " + path.string() + " was left unchanged");
    return exit_code::failure;
  }
  auto read =
      platform::read_file_in(folder, path.filename().string(), appcircle_config_max_size, ctx.uid);
  if (!read.refused.empty()) return refuse(ctx, path, read.refused);
  if (read.error != 0) {
    report_error(ctx, "cannot read " + path.string() + ": " + read_problem(read.error) +
                          "; it was left unchanged");
    return exit_code::failure;
  }
  was_link = read.is_link;
  auto checked = check_appcircle_config(read.missing ? std::nullopt
                                                     : std::optional<std::string_view>(read.text));
  wipe(read.text);  // it may hold an older token
  if (!checked.config) {
    report_error(ctx, "refusing to change " + path.string() + ": it " + one_line(checked.problem) +
                          "; it was left unchanged");
    return exit_code::failure;
  }
  return std::move(*checked.config);
}

// The auth server of `org` as the daemon knows it, when the caller may see it.
std::string auth_url_of(const context& ctx, std::string_view org) {
  const auto orgs = fetch_orgs_quietly(ctx);
  if (!orgs || !orgs->contains("orgs") || !(*orgs)["orgs"].is_array()) {
    return {};
  }
  for (const auto& entry : (*orgs)["orgs"]) {
    if (text_field(entry, "name", "") == org) {
      return text_field(entry, "auth_url", "");
    }
  }
  return {};
}

void report_written(const context& ctx, const std::filesystem::path& path,
                    const appcircle_config& config, const json& token_answer, bool was_link) {
  const auto org = text_field(token_answer, "org", "");
  std::string line = "token for " + one_line(org, 64);
  if (const auto sub_org = text_field(token_answer, "sub_org", ""); !sub_org.empty()) {
    line += " (sub-organization " + one_line(sub_org, 64) + ")";
  }
  line += " written to " + path.string() + " (environment " + one_line(config.environment, 64);
  if (const auto left = integer_field(token_answer, "expires_in")) {
    line += ", expires " + format_expires_in(*left);
  }
  line += config.created_file ? "; a new file)" : ")";
  if (was_link) {
    line += "; the symbolic link that was there is now a file, its target unchanged";
  }
  ctx.err << "actoken: " << line << '\n' << std::flush;
  if (ctx.json) {
    const json summary{{"path", path.string()},
                       {"environment", config.environment},
                       {"created", config.created_file},
                       {"org", org},
                       {"sub_org", token_answer.value("sub_org", json(nullptr))},
                       {"expires_at", token_answer.value("expires_at", json(nullptr))}};
    ctx.out << summary.dump(ctx.pretty_json ? 2 : -1, ' ', false, json::error_handler_t::replace)
            << '\n';
  }
}

}  // namespace

int run_appcircle_config(const command_line& command, context& ctx) {
  const auto path =
      command.file ? std::filesystem::path(*command.file) : appcircle_config_path(ctx.env, ctx.uid);
  const auto folder_path = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const auto folder = platform::open_checked_folder(folder_path, ctx.uid);
  bool was_link = false;
  auto checked = checked_config(ctx, path, folder, was_link);
  if (const auto* refused = std::get_if<int>(&checked)) {
    return *refused;
  }
  auto* config = &std::get<appcircle_config>(checked);
  std::string token;
  const auto got = fetch_token(ctx, command.token, token);
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  const auto org = text_field(got.body, "org", command.token.org.value_or(""));
  if (auto warning = host_warning(*config, path, org, auth_url_of(ctx, org))) {
    ctx.err << "actoken: warning: " << one_line(*warning, 600) << '\n' << std::flush;
  }
  auto text = render_with_token(*config, token);
  wipe(token);
  const auto problem = platform::replace_file_in(folder, path.filename().string(), path, text);
  wipe(text);
  if (problem) {
    report_error(ctx, *problem);
    return exit_code::failure;
  }
  report_written(ctx, path, *config, got.body, was_link);
  if (const auto mode = platform::folder_mode(folder_path)) {
    if (auto warning = folder_warning(folder_path, *mode)) {
      ctx.err << "actoken: warning: " << one_line(*warning, 600) << '\n' << std::flush;
    }
  }
  return exit_code::ok;
}

}  // namespace actoken::client
