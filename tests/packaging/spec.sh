# What SPEC §2 and §5 name, sourced by the packaging tests: the man pages and
# the completions must cover all of it, whether or not this build's CLI and
# daemon have it yet (the pages describe the contract).

# actoken's commands (SPEC §5), each with the options its synopsis names.
spec_commands=(token header exec orgs status ping "key add" "key remove" flush whoami reload env
  appcircle-config help)
declare -A spec_command_options=(
  [token]="--org --sub-org --min-ttl --fresh"
  [header]="--org --sub-org --min-ttl --fresh"
  [exec]="--org --sub-org --min-ttl --env"
  [orgs]=""
  [status]=""
  [ping]=""
  [key add]="--auth-url --api-version --ephemeral --no-verify"
  [key remove]=""
  [flush]=""
  [whoami]=""
  [reload]=""
  [env]="--shell"
  [appcircle-config]="--sub-org --min-ttl --file"
  [help]=""
)
spec_global_options=(--socket --json --help --version)

# actokend's flags (SPEC §2).
spec_daemon_flags=(--system --user --config --socket --log-level --check-config --detach --shell
  --version --help)

# The config file's keys (SPEC §2, §6): top level, per organization, per
# sub-organization object, per sink, and in admin/allow lists.
spec_config_keys=(socket socket_mode socket_group key_dir auth_url api_version scope ca_file proxy
  upstream_timeout min_ttl refresh_before default_token_ttl retry_rejected_after
  max_exchanges_per_minute cache_file max_connections log_level default_org admin allow
  organizations audit_log)
spec_org_keys=(key_file key_command auth_url api_version scope allow sub_organizations any_sub_org
  sinks)
spec_sub_org_keys=(id allow)
spec_sink_keys=(path format sub_org mode group)
spec_principal_keys=(users groups)
