# bash completion for actoken, the client of actokend.             -*- shell-script -*-
# Installed as ${datadir}/bash-completion/completions/actoken.

# Organization names, asked of the daemon (quietly; nothing when it is not running).
_actoken_orgs() {
    local socket_args=()
    [[ -n ${_actoken_socket-} ]] && socket_args=(--socket "$_actoken_socket")
    actoken "${socket_args[@]}" --json orgs 2>/dev/null |
        grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'
}

_actoken() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local global_opts="--socket --json --help --version"
    local token_opts="--org --sub-org --min-ttl --fresh"
    local command="" subcommand="" first_positional="" positionals=0 i
    local _actoken_socket=""

    # Find the command, key's subcommand and, for exec, the start of CMD.
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket)
                _actoken_socket=${words[i + 1]-}
                ((i++))
                ;;
            --org | --sub-org | --min-ttl | --env | --auth-url | --api-version | --shell | --file)
                ((i++))
                ;;
            --)
                if [[ $command == exec ]]; then
                    if declare -F _command_offset >/dev/null; then
                        _command_offset $((i + 1))
                    else
                        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
                    fi
                    return
                fi
                ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=${words[i]}
                elif [[ $command == key && -z $subcommand ]]; then
                    subcommand=${words[i]}
                else
                    ((positionals++ == 0)) && first_positional=${words[i]}
                fi
                ;;
        esac
    done

    case $prev in
        --socket | --file)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        --org)
            mapfile -t COMPREPLY < <(compgen -W "$(_actoken_orgs)" -- "$cur")
            return
            ;;
        --api-version)
            mapfile -t COMPREPLY < <(compgen -W "v1 v2 v3 auto" -- "$cur")
            return
            ;;
        --shell)
            mapfile -t COMPREPLY < <(compgen -W "sh csh fish" -- "$cur")
            return
            ;;
        --sub-org | --min-ttl | --env | --auth-url)
            return
            ;;
    esac

    local candidates=""
    case $command in
        "")
            candidates="token header exec orgs status ping key flush whoami reload env"
            candidates+=" appcircle-config help $global_opts"
            ;;
        token | header)
            candidates="$token_opts $global_opts"
            if [[ $cur != -* && $positionals -eq 0 ]]; then
                candidates="$(_actoken_orgs)"
            fi
            ;;
        exec)
            candidates="$token_opts --env -- $global_opts"
            if [[ $cur != -* && $positionals -eq 0 ]]; then
                candidates="$(_actoken_orgs)"
            fi
            ;;
        appcircle-config)
            candidates="--sub-org --min-ttl --file $global_opts"
            if [[ $cur != -* && $positionals -eq 0 ]]; then
                candidates="$(_actoken_orgs)"
            fi
            ;;
        env)
            candidates="--shell $global_opts"
            ;;
        orgs | status | ping | whoami | reload)
            candidates="$global_opts"
            ;;
        help)
            # help COMMAND, and help key add|remove
            if ((positionals == 0)); then
                candidates="token header exec orgs status ping key flush whoami reload env"
                candidates+=" appcircle-config help"
            elif ((positionals == 1)) && [[ $first_positional == key ]]; then
                candidates="add remove"
            fi
            ;;
        flush)
            candidates="--org $global_opts"
            if [[ $cur != -* && $positionals -eq 0 ]]; then
                candidates="$(_actoken_orgs)"
            fi
            ;;
        key)
            case $subcommand in
                "") candidates="add remove --help" ;;
                add)
                    candidates="--auth-url --api-version --ephemeral --no-verify $global_opts"
                    if [[ $cur != -* && $positionals -eq 0 ]]; then
                        candidates="$(_actoken_orgs)"
                    fi
                    ;;
                remove)
                    candidates="$global_opts"
                    if [[ $cur != -* && $positionals -eq 0 ]]; then
                        candidates="$(_actoken_orgs)"
                    fi
                    ;;
            esac
            ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
}

complete -F _actoken actoken
