# bash completion for puddle(1)                              -*- shell-script -*-
#
# Installed as /usr/share/bash-completion/completions/puddle (loaded on demand
# by bash-completion). Verbs and options come from the installed binary's own
# help ('puddle --help') and the parser's table of each verb's options
# ('puddle --list-options VERB'), so new verbs and options complete without
# touching this file.

# The verbs, one per line. SPEC's list when the binary cannot tell us.
_puddle_verbs()
{
    local out
    out=$("$1" --help 2>/dev/null | awk '/^verbs:/ {v = 1; next} v && /^  [a-z]/ {print $1} v && /^$/ {exit}')
    if [[ -n $out ]]; then
        printf '%s\n' "$out"
    else
        printf '%s\n' init status pubkey unlock lock sign verify pair join members \
            rotate-passphrase rekey rekey-pair name log export import evict accept setup
    fi
}

# "OPTION PLACEHOLDER" per option of VERB (placeholder "-" when the option
# takes no value), "@ PLACEHOLDER" for its positionals and "+ NAME" per
# sub-verb, from the parser's own table ('puddle --list-options VERB WORD',
# hidden; WORD, the first word after the verb, narrows the options to that
# sub-verb's). Options marked hidden (--code: a code on the command line is
# for every local user to read) are left out.
_puddle_verb_spec()
{
    "$1" --list-options "$2" "$3" 2>/dev/null | awk '
        $1 == "option" && $4 != "hidden" {print $2, $3}
        $1 == "positional" {print "@", $2}
        $1 == "subverb" {print "+", $2}'
}

_puddle_complete_value()
{
    # $1 = placeholder, $cur = word being completed
    case $1 in
        FILE | PATH | RECEIPT)
            if declare -F _filedir >/dev/null; then _filedir; else
                local IFS=$'\n'; COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null
            fi ;;
        DIR)
            if declare -F _filedir >/dev/null; then _filedir -d; else
                local IFS=$'\n'; COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null
            fi ;;
        PID)
            COMPREPLY=($(compgen -W "$(ps -o pid= -u "$(id -u)" 2>/dev/null)" -- "$cur")) ;;
        HOST)
            if declare -F _known_hosts_real >/dev/null; then _known_hosts_real -- "$cur"
            else COMPREPLY=($(compgen -A hostname -- "$cur")); fi ;;
        *)
            COMPREPLY=() ;;   # N, M, SIG, KEY, CODE, NAME: nothing sensible to offer
    esac
}

_puddle()
{
    local cur prev words cword split=false
    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    local prog=${words[0]}
    command -v "$prog" >/dev/null 2>&1 || prog=puddle

    # The verb is the first word after "puddle" that is not an option.
    local i verb="" verb_at=0
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then verb=${words[i]} verb_at=$i; break; fi
    done

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_puddle_verbs "$prog")" -- "$cur"))
        fi
        return
    fi

    local spec word=""
    for ((i = verb_at + 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then word=${words[i]}; break; fi
    done
    spec=$(_puddle_verb_spec "$prog" "$verb" "$word")
    local -A takes=()
    local opts="--help" positional="" subverbs="" o p
    while read -r o p; do
        case $o in
            --*) takes[$o]=$p; opts+=" $o" ;;
            @) positional=$p ;;
            +) subverbs+=" $p" ;;
        esac
    done <<<"$spec"

    # A value for the option before the cursor (--opt VALUE or --opt=VALUE).
    if [[ -n ${takes[$prev]-} && ${takes[$prev]} != - ]]; then
        _puddle_complete_value "${takes[$prev]}"
        return
    fi
    $split && return

    # Sub-verbs (puddle name set|clear|show|resolve): complete the first one.
    if [[ -n $subverbs ]]; then
        local have_sub=false
        for ((i = verb_at + 1; i < cword; i++)); do
            [[ ${words[i]} != -* ]] && have_sub=true
        done
        if ! $have_sub && [[ $cur != -* ]]; then
            COMPREPLY=($(compgen -W "$subverbs" -- "$cur"))
            return
        fi
    fi

    if [[ $cur == -* ]]; then
        # Offer only the options not given yet (puddle refuses repeated options).
        local left="" w
        for o in $opts; do
            for w in "${words[@]:verb_at+1:cword-verb_at-1}"; do
                [[ $w == "$o" || $w == "$o="* ]] && continue 2
            done
            left+=" $o"
        done
        COMPREPLY=($(compgen -W "$left" -- "$cur"))
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi

    if [[ -n $positional ]]; then
        _puddle_complete_value "$positional"
    fi
}
complete -F _puddle puddle

# ex: filetype=sh
