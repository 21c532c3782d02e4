#!/usr/bin/env bash
# `cmake --install BUILD --prefix P` writes exactly the expected files, all
# under P, and nothing anywhere else, and the installed documentation's links
# all work (SPEC §8).
#
# Run as root, the install runs as nobody into a folder only nobody may write,
# so that any write outside P fails the install. (CMake always writes
# BUILD/install_manifest.txt; that one file is handed to nobody for the run.)
# Where nobody cannot read the build, the install runs as root and every path
# in the manifest must be under P.
set -euo pipefail

build=$(cd "${1:?usage: test_install.sh BUILD_DIR}" && pwd)
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/actoken-install-XXXXXX")
manifest=$build/install_manifest.txt
manifest_owner=""
cleanup() {
  [ -z "$manifest_owner" ] || chown "$manifest_owner" "$manifest"
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"
prefix=$tmp/prefix
mkdir -p "$prefix" "$tmp/tmp"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
runner=()
if [ "$(id -u)" -ne 0 ]; then
  echo "test_install: installing as $(id -un), not root"
elif "${as_nobody[@]}" test -r "$build/cmake_install.cmake" -a -r "$source_dir/README.md" \
  -a -r "$build/client/actoken" 2>/dev/null; then
  echo "test_install: installing as nobody"
  chown 65534:65534 "$prefix" "$tmp/tmp"
  [ -e "$manifest" ] || : >"$manifest"
  manifest_owner=$(stat -c %u:%g "$manifest")
  chown 65534:65534 "$manifest"
  runner=("${as_nobody[@]}")
else
  echo "test_install: nobody cannot read $build; installing as root"
fi

if ! "${runner[@]}" env -u DESTDIR HOME="$tmp" TMPDIR="$tmp/tmp" \
  cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install --prefix $prefix failed" >&2
  exit 1
fi

# Every path CMake says it installed is under the prefix.
while IFS= read -r path; do
  case $path in
    "$prefix"/*) ;;
    *) fail "installed outside the prefix: $path" ;;
  esac
done <"$manifest"
# The temporary folder the units were configured in is gone.
[ -z "$(ls -A "$tmp/tmp")" ] || fail "install left files in TMPDIR: $(ls -A "$tmp/tmp")"

# Exactly these files, no more, no fewer.
expected=(
  bin/actoken
  bin/actokend
  lib/systemd/system/actokend.service
  lib/systemd/system/actokend.socket
  lib/systemd/user/actokend.service
  lib/systemd/user/actokend.socket
  lib/sysusers.d/actoken.conf
  lib/tmpfiles.d/actoken.conf
  share/bash-completion/completions/actoken
  share/zsh/vendor-completions/_actoken
  share/fish/vendor_completions.d/actoken.fish
  share/man/man1/actoken.1.gz
  share/man/man8/actokend.8.gz
  share/man/man5/actokend.json.5.gz
  share/doc/actoken/README.md
  share/doc/actoken/changelog.gz
  share/doc/actoken/copyright
  share/doc/actoken/examples/actokend.example.json
  share/doc/actoken/monitoring/actoken.rules.yml
)
for doc in "$source_dir"/docs/*.md; do
  expected+=("share/doc/actoken/docs/$(basename "$doc")")
done
actual=$(cd "$prefix" && find . ! -type d | sed 's|^\./||' | sort)
wanted=$(printf '%s\n' "${expected[@]}" | sort)
if [ "$actual" != "$wanted" ]; then
  fail "installed files differ from the expected ones (< expected, > installed):"
  diff <(echo "$wanted") <(echo "$actual") >&2 || true
fi
echo "test_install: installed under $prefix:"
sed 's/^/  /' <<<"$actual"

# Modes, and the units naming the installed binary and docs.
for path in bin/actoken bin/actokend; do
  [ "$(stat -c %a "$prefix/$path")" = 755 ] || fail "$path is not 0755"
done
for path in lib/systemd/system/actokend.service share/man/man1/actoken.1.gz; do
  [ "$(stat -c %a "$prefix/$path")" = 644 ] || fail "$path is not 0644"
done
grep -qx "ExecStart=$prefix/bin/actokend --system" "$prefix/lib/systemd/system/actokend.service" ||
  fail "system unit: ExecStart is not $prefix/bin/actokend --system"
grep -qx "ExecStart=$prefix/bin/actokend --user" "$prefix/lib/systemd/user/actokend.service" ||
  fail "user unit: ExecStart is not $prefix/bin/actokend --user"
grep -q "file:$prefix/share/doc/actoken/README.md" "$prefix/lib/systemd/user/actokend.service" ||
  fail "user unit: Documentation= does not name $prefix/share/doc/actoken/README.md"
# The README's and the docs' links lead to installed files and headings.
python3 "$source_dir/tests/packaging/check_doc_links.py" "$prefix/share/doc/actoken" ||
  fail "the installed documentation has broken links"
"$prefix/bin/actoken" --version | grep -q '^actoken ' || fail "the installed actoken does not run"
"$prefix/bin/actokend" --version | grep -q '^actokend ' || fail "the installed actokend does not run"

if [ "$failures" -ne 0 ]; then
  cat "$tmp/install.log" >&2
  echo "test_install: $failures failure(s)" >&2
  exit 1
fi
echo "test_install: OK"
