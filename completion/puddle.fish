# fish completion for puddle(1)
#
# Installed as /usr/share/fish/vendor_completions.d/puddle.fish. Verbs come
# from the binary's own help ('puddle --help'), each verb's options from the
# parser's table ('puddle --list-options VERB'), so new verbs and options
# complete without touching this file.

function __puddle_prog
    set -l prog (commandline -opc)[1]
    command -q -- $prog; or set prog puddle
    echo $prog
end

# "verb<TAB>summary" per verb.
function __puddle_verbs
    set -l prog (__puddle_prog)
    set -l in_verbs 0
    for line in ($prog --help 2>/dev/null)
        if test "$line" = "verbs:"
            set in_verbs 1
        else if test $in_verbs = 1
            string match -q -r '^  [a-z]' -- $line; or break
            string replace -r '^  ([a-z][a-z-]*) +' '$1\t' -- $line
        end
    end
end

# "KIND<TAB>NAME<TAB>PLACEHOLDER<TAB>DESCRIPTION" lines for VERB: KIND is
# "opt" (PLACEHOLDER "-" when it takes no value), "pos" or "sub", from the
# parser's own table ('puddle --list-options VERB WORD', hidden; WORD, the
# first word after the verb, narrows the options to that sub-verb's);
# descriptions from the verb's --help. Options marked hidden (--code: a code
# on the command line is for every local user to read) are not offered.
function __puddle_spec -a verb word
    set -l prog (__puddle_prog)
    set -l help ($prog $verb --help 2>/dev/null)
    for line in ($prog --list-options $verb "$word" 2>/dev/null)
        set -l f (string split ' ' -- $line)
        switch $f[1]
            case option
                test "$f[4]" = hidden; and continue
                set -l desc (string match -r -g '^  '$f[2]'(?: [A-Z]+)? +(.*)$' -- $help)[1]
                printf 'opt\t%s\t%s\t%s\n' $f[2] $f[3] "$desc"
            case positional
                printf 'pos\t-\t%s\t\n' $f[2]
            case subverb
                printf 'sub\t%s\t-\t\n' $f[2]
        end
    end
end

function __puddle_value -a placeholder
    set -l cur (commandline -ct)
    switch $placeholder
        case FILE PATH RECEIPT
            __fish_complete_path $cur
        case DIR
            __fish_complete_directories $cur
        case PID
            __fish_complete_pids
        case HOST
            __fish_print_hostnames
    end
end

function __puddle_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l verb
    set -l verb_at 0
    for i in (seq 2 (count $words))
        if not string match -q -- '-*' $words[$i]
            set verb $words[$i]
            set verb_at $i
            break
        end
    end
    if test -z "$verb"
        if string match -q -- '-*' $cur
            printf '%s\n' --help --version
        else
            __puddle_verbs
        end
        return
    end

    set -l word
    if test (count $words) -gt $verb_at
        for w in $words[(math $verb_at + 1)..-1]
            if not string match -q -- '-*' $w
                set word $w
                break
            end
        end
    end
    set -l spec (__puddle_spec $verb "$word")
    set -l prev $words[-1]
    if test (count $words) -gt $verb_at
        for s in $spec
            set -l f (string split \t -- $s)
            if test $f[1] = opt; and test $f[2] = $prev; and test $f[3] != -
                __puddle_value $f[3]
                return
            end
        end
    end

    set -l given
    test (count $words) -gt $verb_at; and set given $words[(math $verb_at + 1)..-1]
    set -l subs
    set -l positional
    for s in $spec
        set -l f (string split \t -- $s)
        switch $f[1]
            case sub
                set -a subs $f[2]
            case pos
                set positional $f[3]
        end
    end
    if set -q subs[1]; and not string match -q -- '-*' $cur
        set -l have_sub 0
        for w in $given
            string match -q -- '-*' $w; or set have_sub 1
        end
        if test $have_sub = 0
            printf '%s\n' $subs
            return
        end
    end
    if string match -q -- '-*' $cur
        echo -e "--help\tshow this verb's help"
        for s in $spec
            set -l f (string split \t -- $s)
            test $f[1] = opt; or continue
            contains -- $f[2] $given; and continue
            printf '%s\t%s\n' $f[2] $f[4]
        end
        return
    end
    test -n "$positional"; and __puddle_value $positional
end

complete -c puddle -f -a '(__puddle_complete)'
