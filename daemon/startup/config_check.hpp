#pragma once

/// @file
/// `actokend --check-config` (SPEC §2): beyond what parsing finds, what would
/// fail once the daemon runs with this config — folders and files it would
/// refuse or could not use, names that match nobody — each as a
/// `file: key: reason` problem.

#include "daemon/settings/config.hpp"

#include <sys/types.h>

#include <vector>

namespace actoken {

/// Every problem of a parsed config, judged for a daemon running as
/// `daemon_uid` (`platform::any_owner` when root checks a system config whose
/// daemon runs as another user: ownership is then not judged, only modes).
/// Reads key files (into locked memory, dropped at once) and the CA file;
/// runs each organization's `key_command` once, as a start would (in
/// parallel, 10 s each, with this process's environment), its key dropped
/// at once and its failure a problem with `key_command_hint`; writes nothing.
std::vector<config_problem> check_config(const config& cfg, const std::filesystem::path& file,
                                         uid_t daemon_uid);

}  // namespace actoken
