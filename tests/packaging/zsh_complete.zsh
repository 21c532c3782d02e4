#!/usr/bin/env zsh
# Prints, one a line, the candidates zsh's completion system offers for a
# command line, as a user pressing Tab at its end would get them: an
# interactive zsh runs in a pseudo-terminal (zsh/zpty) with compinit and the
# completion functions of FPATH_DIR; compadd is wrapped to print what each
# completion function adds.
#   zsh -f zsh_complete.zsh FPATH_DIR 'actoken to'
# $ZSH_COMPLETE_DUMP, if set, is compinit's dump file: made by the first run,
# read by the next ones (compinit is slow).
emulate -L zsh
setopt err_return

fpath_dir=${1:?usage: zsh_complete.zsh FPATH_DIR LINE}
line=${2:?}
zmodload zsh/zpty
dump_option=-D
[[ -z ${ZSH_COMPLETE_DUMP-} ]] || dump_option="-d ${(q)ZSH_COMPLETE_DUMP}"

zpty actoken_complete zsh -f -i
# `zpty -w` sends one line; each setup line ends with a newline.
# The terminal does not echo what is typed; the markers are quoted apart so that
# even an echo would not contain them.
setup=(
  'stty -echo'
  'PROMPT= RPROMPT= PS2='
  'unset zle_bracketed_paste'
  "fpath=(${(q)fpath_dir} \$fpath)"
  "autoload -U compinit && compinit -u $dump_option"
  "zstyle ':completion:*' list-prompt ''"
  "zstyle ':completion:*' menu no"
  # Print each candidate added (not those a function gathers with -O/-A/-D to
  # filter), then a marker once the completion widget is done.
  'compadd() {
     if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi
     local -a _hits
     builtin compadd -A _hits "$@"
     local _hit
     for _hit in $_hits; do print -rn -- "<<candi""date:${_hit}:candi""date>>"; done
     builtin compadd "$@"
   }'
  'comppostfuncs=(_actoken_test_done)'
  '_actoken_test_done() { print -rn -- "<<do""ne>>" }'
)
for command in $setup; do
  zpty -w actoken_complete "$command"
done
zpty -w -n actoken_complete "$line"$'\t'

# Read until the marker, for at most 15 s.
zmodload zsh/datetime zsh/zselect
output=''
deadline=$(( EPOCHREALTIME + 15 ))
while [[ $output != *'<<done>>'* ]] && (( EPOCHREALTIME < deadline )); do
  if zpty -r -t actoken_complete chunk; then
    output+=$chunk
  else
    zselect -t 5 || true  # 50 ms: nothing to read yet
  fi
done
zpty -d actoken_complete
[[ -z ${ZSH_COMPLETE_DEBUG-} ]] || print -r -- "$output" | cat -v >&2
output=${output%%'<<done>>'*}
while [[ $output == *'<<candidate:'*':candidate>>'* ]]; do
  output=${output#*'<<candidate:'}
  print -r -- ${output%%':candidate>>'*}
  output=${output#*':candidate>>'}
done
