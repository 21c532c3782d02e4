#!/usr/bin/env bash
# The bash, zsh and fish completions (client/completion): commands, options,
# option values, and organization names asked of a running daemon. Starts
# actokend (user mode, two key files, an auth server it never needs: listing
# organizations makes no exchange) and completes as each shell would on Tab.
#   test_completion.sh COMPLETION_DIR ACTOKEN ACTOKEND
set -euo pipefail

completion_dir=$(cd "${1:?usage: test_completion.sh COMPLETION_DIR ACTOKEN ACTOKEND}" && pwd)
actoken=${2:?}
actokend=${3:?}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=spec.sh
. "$here/spec.sh"

for tool in zsh fish; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (scripts/bootstrap installs it)" >&2
    exit 1
  }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/actoken-completion-XXXXXX")
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The completions run `actoken` from PATH, as an installed one would be.
mkdir -p "$tmp/bin"
ln -s "$(cd "$(dirname "$actoken")" && pwd)/$(basename "$actoken")" "$tmp/bin/actoken"
export PATH="$tmp/bin:$PATH"

mkdir -m 700 "$tmp/keys"
for org in acme globex; do
  (umask 077 && echo "not-a-real-key-for-$org" >"$tmp/keys/$org.key")
done
printf '{"key_dir": "%s", "auth_url": "https://127.0.0.1:9"}\n' "$tmp/keys" >"$tmp/actokend.json"
socket=$tmp/run/actokend.sock
"$actokend" --user --config "$tmp/actokend.json" --socket "$socket" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
# Ready means listening: wait for it (bounded), as a user would before pressing Tab.
for _ in $(seq 100); do
  actoken --socket "$socket" ping >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
actoken --socket "$socket" ping >/dev/null || {
  cat "$tmp/daemon.log" >&2
  echo "FAIL: actokend did not start" >&2
  exit 1
}

# Each shell's candidates for a command line, one a line, sorted.
complete_bash() {
  bash --norc --noprofile -c '
    . "$1"
    line=$2
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    _actoken actoken "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"
  ' bash "$completion_dir/actoken.bash" "$1" | sed '/^$/d' | sort -u
}
complete_zsh() {
  ZSH_COMPLETE_DUMP=$tmp/zcompdump timeout 30 zsh -f "$here/zsh_complete.zsh" "$completion_dir" "$1" |
    sort -u
}
complete_fish() {
  fish --no-config -c 'set -p fish_complete_path $argv[1]; complete -C $argv[2]' \
    "$completion_dir" "$1" | cut -f1 | sort -u
}

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
words() { printf '%s\n' "$@" | sort -u; }

# expect SHELL LINE exact|includes WORD...: the candidates (options aside, unless
# LINE ends in -) are exactly, or include, WORDs.
expect() {
  local shell=$1 line=$2 how=$3
  shift 3
  local got wanted
  got=$("complete_$shell" "$line")
  [[ $line == *- ]] || got=$(grep -v '^-' <<<"$got" || true)
  wanted=$(words "$@")
  case $how in
    exact) [ "$got" = "$wanted" ] ;;
    includes) [ -z "$(comm -23 <(echo "$wanted") <(echo "$got"))" ] ;;
  esac || fail "$shell: '$line' offers [$(echo $got)], expected $how [$(echo $wanted)]"
}

# The top-level commands, "key add" and "key remove" as "key".
commands=$(printf '%s\n' "${spec_commands[@]}" | sed 's/ .*//' | sort -u)
# shellcheck disable=SC2086
for shell in bash zsh fish; do
  (
    failures=0
    export ACTOKEN_SOCKET=$socket
    expect "$shell" 'actoken to' exact token
    expect "$shell" 'actoken ' exact $commands
    expect "$shell" 'actoken key ' exact add remove
    expect "$shell" 'actoken help ' exact $commands
    expect "$shell" 'actoken help to' exact token
    expect "$shell" 'actoken help key ' exact add remove
    expect "$shell" 'actoken token ' exact acme globex
    expect "$shell" 'actoken header gl' exact globex
    expect "$shell" 'actoken exec --org ' exact acme globex
    expect "$shell" 'actoken flush ' exact acme globex
    expect "$shell" 'actoken appcircle-config ' exact acme globex
    expect "$shell" 'actoken key add ' exact acme globex
    expect "$shell" 'actoken key remove a' exact acme
    expect "$shell" 'actoken token acme --' includes ${spec_command_options[token]}
    expect "$shell" 'actoken exec acme --' includes ${spec_command_options[exec]}
    expect "$shell" 'actoken key add acme --' includes ${spec_command_options[key add]}
    expect "$shell" 'actoken appcircle-config acme --' includes ${spec_command_options[appcircle-config]}
    expect "$shell" 'actoken env --' includes ${spec_command_options[env]}
    expect "$shell" 'actoken key add acme --api-version ' exact v3 v2 v1 auto
    expect "$shell" 'actoken env --shell ' exact sh csh fish
    # After exec's --, the command to run (whoami is in coreutils).
    expect "$shell" 'actoken exec acme -- whoam' includes whoami
    exit "$failures"
  ) || failures=$((failures + $?))
  # --socket on the line is the daemon asked.
  (
    failures=0
    unset ACTOKEN_SOCKET
    expect "$shell" "actoken --socket $socket token " exact acme globex
    exit "$failures"
  ) || failures=$((failures + $?))
done

if [ "$failures" -ne 0 ]; then
  echo "test_completion: $failures failure(s)" >&2
  exit 1
fi
echo "test_completion: OK (bash, zsh, fish)"
