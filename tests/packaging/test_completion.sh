#!/usr/bin/env bash
# The shell completions (completion/) against the built puddle: verbs and
# options come from its --help, values by the usage line's placeholder.
# bash always (with and without bash-completion loaded); fish and zsh when
# they are installed (otherwise their part is reported as skipped).
# env: PUDDLE_BIN (the built puddle), PUDDLE_SOURCE_ROOT.
set -uo pipefail
src=${PUDDLE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${PUDDLE_BIN:?PUDDLE_BIN must name the built puddle}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/files"
ln -s "$(realpath "$bin")" "$work/bin/puddle"
touch "$work/files/message.txt" "$work/files/other.bin"
export PATH=$work/bin:$PATH
fails=0 ran=()

# expect NAME "GOT" WORD... : every WORD is among GOT's lines (a word "!W": W is not).
expect() {
  local name=$1 got=$2 w; shift 2
  for w in "$@"; do
    if [[ $w == '#number' ]]; then
      if ! grep -qxE '[0-9]+' <<<"$got"; then echo "FAIL $name: no number offered; got:"; echo "$got" | sed 's/^/    /'; fails=$((fails + 1)); return; fi
    elif [[ $w == !* ]]; then
      if grep -qxF -- "${w#!}" <<<"$got"; then echo "FAIL $name: offered '${w#!}'"; echo "$got" | sed 's/^/    /'; fails=$((fails + 1)); return; fi
    elif ! grep -qxF -- "$w" <<<"$got"; then
      echo "FAIL $name: '$w' not offered; got:"; echo "$got" | sed 's/^/    /'; fails=$((fails + 1)); return
    fi
  done
  echo "ok $name"
}

# The cases: a command line (cursor at its end) and what must (not) be
# offered ('#number': some number); run in $work/files.
cases() {
  "$1" "verbs (not files)" "puddle " '!message.txt' init status pubkey unlock lock sign verify rotate-passphrase
  "$1" "verb prefix" "puddle ro" rotate-passphrase '!init'
  "$1" "global options" "puddle -" --help --version
  "$1" "unlock options" "puddle unlock --" --idle-mins --watch-pid --no-watch --passphrase-fd --help
  "$1" "given options not repeated" "puddle unlock --idle-mins 5 --" --no-watch '!--idle-mins'
  "$1" "verify options" "puddle verify --sig x --" --pub '!--sig' '!--hex'
  "$1" "sign options" "puddle sign --" --hex
  # The code on the command line is for every local user to read: not offered.
  "$1" "join takes the code from a descriptor" "puddle join --" --from --code-fd --passphrase-fd '!--code'
  "$1" "sign FILE" "puddle sign $work/files/mess" "$work/files/message.txt"
  "$1" "verify FILE after options" "puddle verify --sig x $work/files/oth" "$work/files/other.bin"
  "$1" "watch-pid takes a PID" "puddle unlock --watch-pid " '#number' '!message.txt'
  "$1" "no file for a numeric value" "puddle unlock --idle-mins $work/files/mess" "!$work/files/message.txt"
  # Options on a verb's second usage line, and sub-verbs that are not the verb.
  "$1" "members options of both usage lines" "puddle members --" --json --took
  "$1" "rekey options of both usage lines" "puddle rekey --" --new-passphrase --passphrase-fd --from --code-fd '!--code'
  "$1" "name sub-verbs, not the verb" "puddle name " set clear show resolve '!name'
  "$1" "setup sub-verbs, not the verb" "puddle setup " ssh git '!setup' '!message.txt'
  "$1" "setup ssh options (not git's)" "puddle setup ssh --" --undo '!--principal' '!--sign-all'
  "$1" "setup git options" "puddle setup git --" --undo --principal --sign-all
  "$1" "members --took takes a receipt file" "puddle members --took $work/files/mess" "$work/files/message.txt"
  # Every option in the parser's own table is offered, but a hidden one.
  local verb kind opt value mark offered hidden
  for verb in "${verbs[@]}"; do
    offered=() hidden=()
    while read -r kind opt value mark; do
      [[ $kind == option ]] || continue
      if [[ $mark == hidden ]]; then hidden+=("!$opt"); else offered+=("$opt"); fi
    done < <(puddle --list-options "$verb")
    "$1" "every option of $verb" "puddle $verb --" --help "${offered[@]}" "${hidden[@]}"
  done
}

# The parser's table is the source of truth: every verb has one, and every
# option in it is documented in the verb's --help.
verbs=($(puddle --help | awk '/^verbs:/ {v = 1; next} v && /^  [a-z]/ {print $1} v && /^$/ {exit}'))
((${#verbs[@]} >= 19)) || { echo "FAIL: 'puddle --help' lists ${#verbs[@]} verbs"; fails=$((fails + 1)); }
for verb in "${verbs[@]}"; do
  table=$(puddle --list-options "$verb" 2>&1) || { echo "FAIL $verb: no option table: $table"; fails=$((fails + 1)); continue; }
  help=$(puddle "$verb" --help)
  for opt in $(awk '$1 == "option" {print $2}' <<<"$table"); do
    grep -qE -- "$opt([^a-z-]|\$)" <<<"$help" || { echo "FAIL $verb: $opt is in the parser's table but not in 'puddle $verb --help'"; fails=$((fails + 1)); }
  done
done
echo "ok every verb has an option table, documented in its --help"

# --- bash -------------------------------------------------------------------
bash_case() {
  local name=$1 line=$2; shift 2
  local got
  got=$(cd "$work/files" && BC=$bc LINE=$line bash --norc --noprofile -c '
    [[ -n $BC ]] && source /usr/share/bash-completion/bash_completion
    source "$0"
    COMP_LINE=$LINE COMP_POINT=${#LINE}
    read -ra COMP_WORDS <<<"$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _puddle puddle "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' "$src/completion/puddle.bash" 2>&1)
  expect "bash${bc:+ (bash-completion)}: $name" "$got" "$@"
}
bc=""; cases bash_case; ran+=(bash)
if [[ -r /usr/share/bash-completion/bash_completion ]]; then
  bc=1; cases bash_case; ran+=("bash with bash-completion")
  # --opt=value form, split by bash-completion's _init_completion -s
  bash_case "--opt=PID" "puddle unlock --watch-pid=" '#number'
  # on-demand loading: bash-completion finds DATADIR/bash-completion/completions/puddle
  # (DATADIR from XDG_DATA_DIRS), the layout `meson install` and the package produce
  mkdir -p "$work/share/bash-completion/completions"
  cp "$src/completion/puddle.bash" "$work/share/bash-completion/completions/puddle"
  got=$(XDG_DATA_DIRS=$work/share bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion
    _completion_loader puddle; complete -p puddle' 2>&1)
  expect "bash-completion loads completions/puddle on demand" "$got" "complete -F _puddle puddle"
else
  echo "skip: bash-completion not installed (apt-get install bash-completion)"
fi

# --- fish -------------------------------------------------------------------
fish_case() {
  local name=$1 line=$2; shift 2
  local got
  got=$(cd "$work/files" && fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$src/completion/puddle.fish" "$line" 2>&1 | cut -f1)
  expect "fish: $name" "$got" "$@"
}
if command -v fish >/dev/null; then
  cases fish_case; ran+=(fish)
else
  echo "skip: fish not installed"
fi

# --- zsh --------------------------------------------------------------------
# A real interactive zsh on a pty (zsh/zpty) with compinit; compadd is wrapped
# to print every match, and a widget runs complete-word on the typed line.
cat >"$work/capture.zsh" <<'ZSH'
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "M='<''<' E='>''>'"
zpty -w z 'compadd () { local -a __hits; builtin compadd -O __hits "$@"; local h; for h in $__hits; do print -r -- "$M$h$E"; done; builtin compadd "$@" }'
zpty -w z 'comptest () { zle -I; zle complete-word; print -r -- "${M}END$E"; }; zle -N comptest; bindkey "^T" comptest'
zpty -n -w z "$2"$'\C-T'
local line out
integer n=0
while (( n++ < 5000 )) && zpty -r -t z line 2>/dev/null || { sleep 0.05; (( n < 5000 )) && zpty -r z line; }; do
  [[ $line == *'<<END>>'* ]] && break
  while [[ $line == *'<<'*'>>'* ]]; do
    line=${line#*<<}; out+="${line%%>>*}"$'\n'; line=${line#*>>}
  done
done
print -rn -- "$out"
zpty -d z
ZSH
zsh_case() {
  local name=$1 line=$2; shift 2
  local got
  got=$(cd "$work/files" && timeout 30 zsh -f "$work/capture.zsh" "$work/zfunc" "$line" 2>&1)
  # zsh's _files offers a path one component at a time: accept the basename
  local w not want=()
  for w in "$@"; do
    not=""; [[ $w == !* ]] && not="!" w=${w#!}
    [[ $w == */* && $w != */ ]] && w=${w##*/}
    want+=("$not$w")
  done
  expect "zsh: $name" "$got" "${want[@]}"
}
if command -v zsh >/dev/null; then
  mkdir -p "$work/zfunc"; cp "$src/completion/_puddle" "$work/zfunc/"
  cases zsh_case; ran+=(zsh)
else
  echo "skip: zsh not installed"
fi

echo "tested: ${ran[*]}"
if ((fails)); then echo "$fails completion checks failed"; exit 1; fi
exit 0
