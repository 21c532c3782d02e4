#!/usr/bin/env bash
# The Debian package: builds it with `cpack -G DEB` from the build folder given
# as $1 into a temporary folder, checks what dpkg-deb says is inside, and runs
# lintian on it: any E: or W: line fails (SPEC §8). Never installs it
# (scripts/package-check does, in a fresh Debian 12 root).
set -euo pipefail

build=${1:?usage: test_package.sh BUILD_DIR}
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
for tool in cpack dpkg-deb dpkg-shlibdeps lintian; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (scripts/bootstrap installs it)" >&2
    exit 1
  }
done

out=$(mktemp -d "${TMPDIR:-/tmp}/actoken-package-XXXXXX")
trap 'rm -rf "$out"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# cpack -B puts its staging folder (_CPack_Packages) there too, not in the build folder.
if ! (cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1); then
  cat "$out/cpack.log" >&2
  echo "FAIL: cpack -G DEB failed" >&2
  exit 1
fi
shopt -s nullglob
debs=("$out"/actoken_*.deb)
if [ ${#debs[@]} -ne 1 ]; then
  cat "$out/cpack.log" >&2
  echo "FAIL: expected one actoken_*.deb in $out, found ${#debs[@]}" >&2
  exit 1
fi
deb=${debs[0]}
echo "test_package: built $(basename "$deb")"

# Contents: one path per line, without the leading "./".
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||')
has() {
  grep -qx -- "$1" <<<"$contents" || fail "not in the package: $1"
}
has usr/bin/actokend
has usr/bin/actoken
has usr/share/bash-completion/completions/actoken
has usr/share/zsh/vendor-completions/_actoken
has usr/share/fish/vendor_completions.d/actoken.fish
has usr/share/man/man1/actoken.1.gz
has usr/share/man/man8/actokend.8.gz
has usr/share/man/man5/actokend.json.5.gz
has usr/share/doc/actoken/copyright
has usr/share/doc/actoken/changelog.gz
has usr/lib/sysusers.d/actoken.conf
has usr/lib/tmpfiles.d/actoken.conf
has usr/lib/systemd/user/actokend.service
has usr/lib/systemd/user/actokend.socket
has usr/share/doc/actoken/examples/actokend.example.json
has usr/share/doc/actoken/monitoring/actoken.rules.yml
has usr/share/doc/actoken/README.md
has usr/share/doc/actoken/docs/operations.md
# The system units: /lib/systemd/system on Debian 12, /usr/lib/... elsewhere.
for unit in actokend.service actokend.socket; do
  grep -qxE -- "(usr/)?lib/systemd/system/$unit" <<<"$contents" ||
    fail "not in the package: lib/systemd/system/$unit"
done
# Nothing under /usr/local or sbin, nothing from the build tree or the tests.
if grep -E '^usr/local/|sbin/|actoken-stand-in|/test_' <<<"$contents"; then
  fail "unexpected files in the package"
fi

# Binaries executable, the units pointing at the installed binary.
mode_of() { dpkg-deb -c "$deb" | awk -v p="./$1" '$6 == p {print $1}'; }
[ "$(mode_of usr/bin/actokend)" = "-rwxr-xr-x" ] || fail "usr/bin/actokend is not 0755"
[ "$(mode_of usr/bin/actoken)" = "-rwxr-xr-x" ] || fail "usr/bin/actoken is not 0755"
dpkg-deb -x "$deb" "$out/root"
service="$out/root/lib/systemd/system/actokend.service"
[ -f "$service" ] || service="$out/root/usr/lib/systemd/system/actokend.service"
grep -qx 'ExecStart=/usr/bin/actokend --system' "$service" ||
  fail "system unit: ExecStart is not /usr/bin/actokend --system"
grep -qx 'ExecStart=/usr/bin/actokend --user' "$out/root/usr/lib/systemd/user/actokend.service" ||
  fail "user unit: ExecStart is not /usr/bin/actokend --user"

# Control: the fields, and the maintainer scripts.
info=$(dpkg-deb -I "$deb")
for field in Package Version Architecture Maintainer Section Depends Description; do
  grep -qE "^ $field: " <<<"$info" || fail "control field missing: $field"
done
[ "$(dpkg-deb -f "$deb" Package)" = actoken ] || fail "Package is not actoken"
[ "$(dpkg-deb -f "$deb" Section)" = admin ] || fail "Section is not admin"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libssl3; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
# The daemon maps libc and OpenSSL only: the C++ runtime is linked in, spdlog
# and fmt are header-only, systemd's protocols are spoken directly
# (docs/performance.md, resident memory). A new shared library shows up here.
if command -v readelf >/dev/null; then
  needed=$(readelf -d "$out/root/usr/bin/actokend" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    sort | tr '\n' ' ')
  case "$needed" in
    *libasan* | *libubsan* | *libtsan*) ;; # sanitizer builds keep the shared C++ runtime
    *)
      [ "$needed" = "ld-linux-x86-64.so.2 libc.so.6 libcrypto.so.3 libssl.so.3 " ] ||
        fail "actokend needs more than libc and OpenSSL: $needed"
      ;;
  esac
fi
for script in postinst prerm postrm; do
  grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " <<<"$info" ||
    fail "maintainer script missing or not executable: $script"
done
dpkg-deb -e "$deb" "$out/control"
grep -qE '^\s*systemd-sysusers .*actoken\.conf$' "$out/control/postinst" || fail "postinst: no sysusers"
grep -qE '^\s*systemd-tmpfiles .*--create actoken\.conf' "$out/control/postinst" ||
  fail "postinst: no tmpfiles"
grep -qE '^\s*deb-systemd-helper enable actokend\.socket' "$out/control/postinst" ||
  fail "postinst: socket not enabled"
grep -qE '^\s*rm -rf /etc/actoken /var/lib/actoken /var/cache/actoken /var/log/actoken$' \
  "$out/control/postrm" ||
  fail "postrm: purge does not remove /etc/actoken, /var/lib/actoken, /var/cache/actoken and /var/log/actoken"
for script in postinst prerm postrm; do
  sh -n "$out/control/$script" || fail "$script: syntax error"
done

# The maintainer is the build's ACTOKEN_PACKAGE_MAINTAINER; the user comes from
# systemd-sysusers, which Depends names (as dh_installsysusers would).
maintainer=$(sed -n 's/^ACTOKEN_PACKAGE_MAINTAINER:STRING=//p' "$build/CMakeCache.txt")
[ "$(dpkg-deb -f "$deb" Maintainer)" = "$maintainer" ] ||
  fail "Maintainer is not ACTOKEN_PACKAGE_MAINTAINER ($maintainer): $(dpkg-deb -f "$deb" Maintainer)"
grep -q 'systemd | systemd-standalone-sysusers | systemd-sysusers' <<<"$depends" ||
  fail "Depends lacks systemd-sysusers: $depends"
# The changelog's newest entry is this version.
changelog_version=$(gzip -dc "$out/root/usr/share/doc/actoken/changelog.gz" |
  sed -n '1s/^actoken (\([^)]*\)).*/\1/p')
[ "$changelog_version" = "$(dpkg-deb -f "$deb" Version)" ] ||
  fail "the changelog's newest entry is $changelog_version, the package $(dpkg-deb -f "$deb" Version)" \
    "(add an entry to systemd/debian/changelog)"
cmp -s "$out/root/usr/share/doc/actoken/copyright" "$source_dir/systemd/debian/copyright" ||
  fail "copyright is not systemd/debian/copyright"

# lintian: no error, no warning (informational notes are shown, not counted).
lintian_out=$(lintian --display-info "$deb" 2>&1) || true
echo "lintian:"
sed 's/^/  /' <<<"${lintian_out:-(nothing)}"
if grep -qE '^[EW]: ' <<<"$lintian_out"; then
  fail "lintian reports errors or warnings"
fi

if [ "$failures" -ne 0 ]; then
  echo "test_package: $failures failure(s)" >&2
  dpkg-deb -c "$deb" >&2
  exit 1
fi
echo "test_package: OK"
