#!/usr/bin/env bash
# The Prometheus alerting rules shipped with the package (SPEC §8):
# `promtool check rules` accepts monitoring/actoken.rules.yml, and
# `promtool test rules` proves each alert against its unit tests
# (actoken.rules.test.yml). That the rules name metrics the daemon really
# exports is shown by tests/integration/test_alert_metrics.cpp.
set -euo pipefail

source_dir=${1:?usage: test_alert_rules.sh SOURCE_DIR}
command -v promtool >/dev/null || {
  echo "FAIL: promtool is not installed (scripts/bootstrap installs Debian's prometheus)" >&2
  exit 1
}
promtool check rules "$source_dir/monitoring/actoken.rules.yml"
# promtool reads rule_files relative to the test file's folder.
cd "$source_dir/tests/packaging"
promtool test rules actoken.rules.test.yml
echo "test_alert_rules: OK"
