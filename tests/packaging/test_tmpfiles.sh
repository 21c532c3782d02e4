#!/usr/bin/env bash
# The package's sysusers.d and tmpfiles.d entries, applied as its postinst
# applies them (systemd-sysusers, then systemd-tmpfiles --create) to a scratch
# root: the folders exist with their modes and owners, and a config whose
# audit_log is in /var/log/actoken passes `actokend --check-config` before the
# service has ever run (SPEC §8), checked as root and as the daemon's user.
# Without the /var/log/actoken line, the same check fails.
set -euo pipefail

source_dir=${1:?usage: test_tmpfiles.sh SOURCE_DIR ACTOKEND}
actokend=${2:?usage: test_tmpfiles.sh SOURCE_DIR ACTOKEND}
for tool in systemd-sysusers systemd-tmpfiles setpriv; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (scripts/bootstrap installs systemd)" >&2
    exit 1
  }
done
if [ "$(id -u)" -ne 0 ]; then
  echo "FAIL: test_tmpfiles must run as root (it makes users and owners in a scratch root)" >&2
  exit 1
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# A scratch root as the package leaves it: the snippets in usr/lib, applied.
# `without_log`: the tmpfiles entry without its /var/log/actoken line.
make_root() {
  local root=$1 without_log=${2:-}
  chmod 755 "$root"
  mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
  cp "$source_dir/systemd/sysusers.d/actoken.conf" "$root/usr/lib/sysusers.d/"
  if [ -n "$without_log" ]; then
    grep -v '/var/log/actoken' "$source_dir/systemd/tmpfiles.d/actoken.conf" \
      >"$root/usr/lib/tmpfiles.d/actoken.conf"
  else
    cp "$source_dir/systemd/tmpfiles.d/actoken.conf" "$root/usr/lib/tmpfiles.d/"
  fi
  systemd-sysusers --root="$root" actoken.conf >/dev/null
  systemd-tmpfiles --root="$root" --create actoken.conf
  # A system config whose paths are the scratch root's: audit_log in its /var/log/actoken.
  cat >"$root/etc/actoken/actokend.json" <<JSON
{
  "socket": "$root/run/actoken/actokend.sock",
  "key_dir": "$root/var/lib/actoken/keys",
  "audit_log": "$root/var/log/actoken/audit.log"
}
JSON
  chmod 640 "$root/etc/actoken/actokend.json"
  chgrp "$(id_of "$root" group)" "$root/etc/actoken/actokend.json"
}

# The uid or gid of actoken in the scratch root's own databases.
id_of() {
  local root=$1 which=$2
  if [ "$which" = group ]; then
    awk -F: '$1 == "actoken" {print $3}' "$root/etc/group"
  else
    awk -F: '$1 == "actoken" {print $3}' "$root/etc/passwd"
  fi
}

# --check-config as root (the admin's `sudo actokend --check-config`) and as
# the daemon's own user; prints what it said, returns 0 when both passed.
check_as_both() {
  local root=$1 config=$1/etc/actoken/actokend.json uid gid rc=0
  uid=$(id_of "$root" user)
  gid=$(id_of "$root" group)
  "$actokend" --system --check-config --config "$config" 2>&1 || rc=1
  setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    "$actokend" --system --check-config --config "$config" 2>&1 || rc=1
  return $rc
}

root=$(mktemp -d "${TMPDIR:-/tmp}/actoken-tmpfiles-XXXXXX")
bare=$(mktemp -d "${TMPDIR:-/tmp}/actoken-tmpfiles-XXXXXX")
trap 'rm -rf "$root" "$bare"' EXIT

make_root "$root"
uid=$(id_of "$root" user)
[ -n "$uid" ] || fail "systemd-sysusers made no user actoken"
log_dir=$root/var/log/actoken
if [ -d "$log_dir" ]; then
  [ "$(stat -c %a "$log_dir")" = 750 ] || fail "/var/log/actoken is $(stat -c %a "$log_dir"), not 0750"
  [ "$(stat -c %u:%g "$log_dir")" = "$uid:$(id_of "$root" group)" ] ||
    fail "/var/log/actoken belongs to $(stat -c %u:%g "$log_dir"), not to actoken"
else
  fail "systemd-tmpfiles made no /var/log/actoken"
fi
if ! said=$(check_as_both "$root"); then
  fail "--check-config with audit_log in /var/log/actoken failed: $said"
fi
[ ! -e "$log_dir/audit.log" ] || fail "--check-config created the audit log"

# The same without the entry: the folder is missing and the check says so.
make_root "$bare" without_log
if said=$(check_as_both "$bare"); then
  fail "--check-config passed with no /var/log/actoken (the check proves nothing)"
elif ! grep -q "audit_log" <<<"$said"; then
  fail "--check-config without /var/log/actoken failed for another reason: $said"
fi

if [ "$failures" -ne 0 ]; then
  echo "test_tmpfiles: $failures failure(s)" >&2
  exit 1
fi
echo "test_tmpfiles: OK"
