#!/usr/bin/env bash
# The include-level check fails when it should: an include that points up, a folder missing
# from the map, a cycle in the map; and passes on the tree as it is.
set -euo pipefail
check=$1 source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$check" "$source_dir" || fail "the tree itself does not pass"

tree() {  # a copy of the map and one folder of each level used below
  rm -rf "$work/t"
  mkdir -p "$work/t/docs" "$work/t/daemon/platform" "$work/t/daemon/settings" "$work/t/common"
  cp "$source_dir/docs/architecture.md" "$work/t/docs/"
  echo '#include "common/x.hpp"' >"$work/t/daemon/settings/config.hpp"
  : >"$work/t/common/x.hpp"
}

tree
"$check" "$work/t" || fail "a downward include was refused"

tree
echo '#include "daemon/settings/config.hpp"' >"$work/t/daemon/platform/files.hpp"
out=$("$check" "$work/t" 2>&1) && fail "an upward include passed"
grep -q 'daemon/platform/files.hpp:1: includes daemon/settings/config.hpp' <<<"$out" ||
  fail "the upward include was not named: $out"

tree
mkdir -p "$work/t/daemon/misc"
: >"$work/t/daemon/misc/loose.hpp"
out=$("$check" "$work/t" 2>&1) && fail "a folder missing from the map passed"
grep -q 'daemon/misc/loose.hpp: its folder is not in the folder map' <<<"$out" ||
  fail "the unmapped folder was not named: $out"

tree
sed -i 's#^| `common/` \(.*\)| — |$#| `common/` \1| `daemon/platform/` |#' "$work/t/docs/architecture.md"
out=$("$check" "$work/t" 2>&1) && fail "a cycle in the map passed"
grep -q 'the folder map has a cycle' <<<"$out" || fail "the cycle was not named: $out"
echo "ok"
