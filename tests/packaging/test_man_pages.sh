#!/usr/bin/env bash
# The man pages: lint-clean (mandoc -T lint, groff -ww, and man --warnings as
# lintian runs it), and complete: every command and option of SPEC §5 and of
# the built actoken's --help in actoken(1), every flag of SPEC §2 and of
# actokend --help in actokend(8), every config key of SPEC §2/§6 and of
# daemon/settings/config.cpp in actokend.json(5).
#   test_man_pages.sh MAN_DIR ACTOKEN ACTOKEND SOURCE_DIR
set -euo pipefail

man_dir=${1:?usage: test_man_pages.sh MAN_DIR ACTOKEN ACTOKEND SOURCE_DIR}
actoken=${2:?}
actokend=${3:?}
source_dir=${4:?}
# shellcheck source=spec.sh
. "$(dirname "$0")/spec.sh"

for tool in mandoc groff man; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (scripts/bootstrap installs it)" >&2
    exit 1
  }
done

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

pages=(actoken.1 actokend.8 actokend.json.5)
for page in "${pages[@]}"; do
  file=$man_dir/man${page##*.}/$page
  [ -f "$file" ] && [ -f "$file.gz" ] || {
    fail "$page or $page.gz was not built in $man_dir"
    continue
  }
  cmp -s "$file" <(gzip -dc "$file.gz") || fail "$page.gz is not $page"
  out=$(mandoc -T lint -W warning "$file" 2>&1) || true
  [ -z "$out" ] || fail "mandoc -T lint $page:"$'\n'"$out"
  out=$(groff -t -ww -z -man "$file" 2>&1) || true
  [ -z "$out" ] || fail "groff -ww $page:"$'\n'"$out"
  # What lintian's manpages check runs.
  out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$file" 2>&1 \
    >/dev/null) || true
  [ -z "$out" ] || fail "man --warnings $page:"$'\n'"$out"
done

# The entries of a page: "SECTION<TAB>term" for every term of a definition list
# (scdoc puts an entry's term on the line before its `.RS 4`), with fonts
# and escapes dropped.
entries() {
  awk '
    /^\.SH / { section = substr($0, 5); gsub(/"/, "", section) }
    $0 == ".RS 4" && previous !~ /^\./ { print section "\t" previous }
    { previous = $0 }
  ' "$1" | sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\(aq/'"'"'/g' -e 's/\\-/-/g'
}
# The term of SECTION's entry for COMMAND: the one that starts with it.
command_entry() {
  local section=$1 command=$2 file=$3
  entries "$file" | awk -F '\t' -v s="$section" -v c="$command" \
    '$1 == s && (index($2, c " ") == 1 || $2 == c) { print $2; exit }'
}
# The names in SECTION's terms (every section when SECTION is empty): "a, b
# (type)" names a and b, "--socket PATH" names --socket.
entry_names() {
  local section=$1 file=$2
  entries "$file" | awk -F '\t' -v s="$section" 's == "" || $1 == s { print $2 }' |
    tr ',' '\n' | awk '{ print $1 }'
}
has_word() { grep -qE -- "(^|[][ |=])$2([][ |=]|$)" <<<"$1"; }

# actoken(1): SPEC's commands with their options, and the built CLI's.
page=$man_dir/man1/actoken.1
for command in "${spec_commands[@]}"; do
  entry=$(command_entry COMMANDS "$command" "$page")
  if [ -z "$entry" ]; then
    fail "actoken(1) has no entry for the command '$command' (COMMANDS)"
    continue
  fi
  for option in ${spec_command_options[$command]}; do
    has_word "$entry" "$option" || fail "actoken(1): '$command' lacks $option: $entry"
  done
done
options_names=$(entry_names OPTIONS "$page")
for option in "${spec_global_options[@]}"; do
  grep -qx -- "$option" <<<"$options_names" || fail "actoken(1) has no entry for $option (OPTIONS)"
done

# Subcommands and options as the built actoken's --help lists them (CLI11).
help_subcommands() { "$@" --help | awk '/^Subcommands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }'; }
help_options() { "$@" --help | grep -oE '^  (-[a-z],)?--[a-z][a-z-]*' | sed 's/.*--/--/' | grep -vx -- --help; }
cli_commands=()
for command in $(help_subcommands "$actoken"); do
  subcommands=$(help_subcommands "$actoken" "$command")
  if [ -n "$subcommands" ]; then
    for sub in $subcommands; do cli_commands+=("$command $sub"); done
  else
    cli_commands+=("$command")
  fi
done
[ ${#cli_commands[@]} -ge 8 ] || fail "could not read the commands from actoken --help"
for command in "${cli_commands[@]}"; do
  entry=$(command_entry COMMANDS "$command" "$page")
  if [ -z "$entry" ]; then
    fail "actoken(1) has no entry for '$command', which actoken --help lists"
    continue
  fi
  # shellcheck disable=SC2086 # "key add" is two words
  for option in $(help_options "$actoken" $command); do
    has_word "$entry" "$option" || fail "actoken(1): '$command' lacks $option (from its --help)"
  done
done
for option in $(help_options "$actoken"); do
  grep -qx -- "$option" <<<"$options_names" ||
    fail "actoken(1) has no entry for $option, which actoken --help lists"
done

# actokend(8): SPEC's flags and the built daemon's.
page=$man_dir/man8/actokend.8
daemon_options=$(entry_names OPTIONS "$page")
daemon_help_flags=$("$actokend" --help | grep -oE '^  (-[a-z], )?--[a-z][a-z-]*' | sed 's/.*--/--/')
for flag in $(printf "%s\n" "${spec_daemon_flags[@]}" $daemon_help_flags | sort -u); do
  grep -qx -- "$flag" <<<"$daemon_options" || fail "actokend(8) has no entry for $flag (OPTIONS)"
done

# actokend.json(5): SPEC's keys, section by section, and every key the daemon's
# config reader accepts (its only_keys lists in daemon/settings/config.cpp).
page=$man_dir/man5/actokend.json.5
check_keys() {
  local section=$1
  shift
  local names
  names=$(entry_names "$section" "$page")
  for key in "$@"; do
    grep -qx -- "$key" <<<"$names" || fail "actokend.json(5) has no entry for $key ($section)"
  done
}
check_keys "TOP-LEVEL KEYS" "${spec_config_keys[@]}"
check_keys ORGANIZATIONS "${spec_org_keys[@]}"
check_keys SUB-ORGANIZATIONS "${spec_sub_org_keys[@]}"
check_keys SINKS "${spec_sink_keys[@]}"
check_keys PRINCIPALS "${spec_principal_keys[@]}"
all_names=$(entry_names "" "$page")
code_keys=$(awk '/only_keys\(/ { on = 1 } on { print } on && /\);/ { on = 0 }' \
  "$source_dir/daemon/settings/config.cpp" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ -n "$code_keys" ] || fail "could not read the config keys from daemon/settings/config.cpp"
for key in $code_keys; do
  grep -qx -- "$key" <<<"$all_names" ||
    fail "actokend.json(5) has no entry for $key, which daemon/settings/config.cpp accepts"
done

if [ "$failures" -ne 0 ]; then
  echo "test_man_pages: $failures failure(s)" >&2
  exit 1
fi
echo "test_man_pages: OK (${#pages[@]} pages, ${#spec_commands[@]} commands," \
  "${#spec_config_keys[@]} top-level keys)"
