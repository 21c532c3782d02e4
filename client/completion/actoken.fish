# fish completion for actoken, the client of actokend.
# Installed as ${datadir}/fish/vendor_completions.d/actoken.fish.

# Organization names, asked of the daemon (quietly; none when it is not running).
# A --socket given earlier on the line is asked, as actoken itself would.
function __actoken_orgs
    set -l tokens (commandline -opc)
    set -l socket_args
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --socket
                set -q tokens[(math $i + 1)]; and set socket_args --socket $tokens[(math $i + 1)]
            case '--socket=*'
                set socket_args --socket (string replace -- --socket= '' $tokens[$i])
        end
    end
    actoken $socket_args --json orgs 2>/dev/null | string match -rag '"name":"([^"]*)"'
end

# The commands, each with what it does.
set -l __actoken_command_help \
    token            'Print an access token' \
    header           'Print an Authorization header' \
    exec             'Run a command with a token' \
    orgs             'List organizations' \
    status           "Show the daemon's status" \
    ping             'Exit 0 if the daemon is healthy' \
    key              'Add or remove a key' \
    flush            'Evict cached tokens' \
    whoami           'Who the daemon takes you for' \
    reload           'Re-read config and keys' \
    env              'Print the line that sets ACTOKEN_SOCKET' \
    appcircle-config "Put a token into the Appcircle CLI's config" \
    help             "Print the usage, or a command's"
set -l __actoken_commands
for i in (seq 1 2 (count $__actoken_command_help))
    set -a __actoken_commands $__actoken_command_help[$i]
end

# The words of the line after `actoken`, options and their values left out.
function __actoken_words
    set -l tokens (commandline -opc)
    set -l skip 0
    for token in $tokens[2..-1]
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $token
            case --socket --org --sub-org --min-ttl --env --auth-url --api-version --shell --file
                set skip 1
            case '-*'
            case '*'
                echo $token
        end
    end
end

# True when the line has a command and, after it, no positional argument yet
# (options and their values aside): where an organization may come. For
# key add/remove the organization follows the subcommand.
function __actoken_wants_org
    set -l words (__actoken_words)
    if test "$words[1]" = key
        test (count $words) -eq 2
    else
        test (count $words) -eq 1
    end
end

# The words after `help` (options and their values aside), when the command is help;
# fails when it is not.
function __actoken_help_words
    set -l words (__actoken_words)
    test "$words[1]" = help; or return 1
    for word in $words[2..-1]
        echo $word
    end
end

# True when `help` has no command yet.
function __actoken_help_wants_command
    set -l words (__actoken_help_words); or return 1
    test (count $words) -eq 0
end

# True when the line is `help key` and nothing more.
function __actoken_help_wants_key_command
    set -l words (__actoken_help_words); or return 1
    test (count $words) -eq 1; and test "$words[1]" = key
end

# True once `actoken exec ... --` has been typed: the command to run follows.
function __actoken_after_dashdash
    set -l tokens (commandline -opc)
    contains -- exec $tokens; and contains -- -- $tokens
end

# Completes the command after `actoken exec ... --` as on its own line.
function __actoken_exec_command
    set -l tokens (commandline -opc) (commandline -ct)
    set -l i (contains -i -- -- $tokens)
    __fish_complete_subcommand --commandline $tokens[(math $i + 1)..-1]
end

complete -c actoken -f

# Accepted before and after the command.
complete -c actoken -n 'not __actoken_after_dashdash' -l socket -r -F -d 'Socket of the daemon'
complete -c actoken -n 'not __actoken_after_dashdash' -l json -d "Print the daemon's JSON answer"
complete -c actoken -n 'not __actoken_after_dashdash' -s h -l help -d 'Show help'
complete -c actoken -n "not __fish_seen_subcommand_from $__actoken_commands" -l version -d 'Show the version'

for i in (seq 1 2 (count $__actoken_command_help))
    complete -c actoken -n "not __fish_seen_subcommand_from $__actoken_commands" \
        -a $__actoken_command_help[$i] -d $__actoken_command_help[(math $i + 1)]
end

# help COMMAND, and help key add|remove
complete -c actoken -n __actoken_help_wants_command -a "$__actoken_commands" -d Command
complete -c actoken -n __actoken_help_wants_key_command -a 'add remove' -d 'Command of key'

# Organizations: the first argument of most commands, and --org's value.
complete -c actoken -n '__fish_seen_subcommand_from token header exec flush appcircle-config; and __actoken_wants_org; and not __actoken_after_dashdash' -a '(__actoken_orgs)' -d Organization
complete -c actoken -n '__fish_seen_subcommand_from add remove; and __fish_seen_subcommand_from key; and __actoken_wants_org' -a '(__actoken_orgs)' -d Organization
complete -c actoken -n '__fish_seen_subcommand_from token header exec flush; and not __actoken_after_dashdash' -l org -x -a '(__actoken_orgs)' -d Organization

# token, header, exec, appcircle-config
complete -c actoken -n '__fish_seen_subcommand_from token header exec appcircle-config; and not __actoken_after_dashdash' -l sub-org -x -d 'Sub-organization (alias or GUID)'
complete -c actoken -n '__fish_seen_subcommand_from token header exec appcircle-config; and not __actoken_after_dashdash' -l min-ttl -x -d 'Seconds the token must stay valid'
complete -c actoken -n '__fish_seen_subcommand_from token header' -l fresh -d 'Get a new token: the last one was refused'

# exec
complete -c actoken -n '__fish_seen_subcommand_from exec; and not __actoken_after_dashdash' -l env -x -d 'Variable to put the token in'
complete -c actoken -n __actoken_after_dashdash -x -a '(__actoken_exec_command)'

# appcircle-config
complete -c actoken -n '__fish_seen_subcommand_from appcircle-config' -l file -r -F -d "The Appcircle CLI's config file"

# env
complete -c actoken -n '__fish_seen_subcommand_from env' -l shell -x -a 'sh csh fish' -d 'Syntax of the line'

# key add, key remove
complete -c actoken -n '__fish_seen_subcommand_from key; and not __fish_seen_subcommand_from add remove' -a add -d 'Give the daemon a key, read from stdin'
complete -c actoken -n '__fish_seen_subcommand_from key; and not __fish_seen_subcommand_from add remove' -a remove -d 'Remove a key'
complete -c actoken -n '__fish_seen_subcommand_from key; and __fish_seen_subcommand_from add' -l auth-url -x -d 'Auth server of the organization'
complete -c actoken -n '__fish_seen_subcommand_from key; and __fish_seen_subcommand_from add' -l api-version -x -a 'v3 v2 v1 auto' -d 'Token endpoint version'
complete -c actoken -n '__fish_seen_subcommand_from key; and __fish_seen_subcommand_from add' -l ephemeral -d 'Keep the key in memory only'
complete -c actoken -n '__fish_seen_subcommand_from key; and __fish_seen_subcommand_from add' -l no-verify -d 'Keep the key without a test exchange'
