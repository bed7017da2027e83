function __hostctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __hostctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __hostctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __hostctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __hostctl_parse_tokens -S
    set -l unparsed_tokens (__hostctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'hostctl'
        __hostctl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'add'
            __hostctl_parse_subcommand 2 'command=' 'entry=' 'workers=' 'handoff=' 'route=' 'host=+' 'env=+' 'ready=' 'user=' 'force' 'home=' 'version' 'h/help'
        case 'remove'
            __hostctl_parse_subcommand 1 'purge-logs' 'home=' 'version' 'h/help'
        case 'list'
            __hostctl_parse_subcommand 0 'home=' 'json' 'version' 'h/help'
        case 'show'
            __hostctl_parse_subcommand 1 'home=' 'json' 'version' 'h/help'
        case 'check'
            __hostctl_parse_subcommand 1 'home=' 'version' 'h/help'
        case 'start'
            __hostctl_parse_subcommand -r 1 'no-wait' 'home=' 'version' 'h/help'
        case 'stop'
            __hostctl_parse_subcommand -r 1 'all' 'home=' 'version' 'h/help'
        case 'restart'
            __hostctl_parse_subcommand -r 1 'home=' 'version' 'h/help'
        case 'reload'
            __hostctl_parse_subcommand -r 1 'all' 'no-wait' 'home=' 'version' 'h/help'
        case 'status'
            __hostctl_parse_subcommand 1 'home=' 'json' 'version' 'h/help'
        case 'shutdown'
            __hostctl_parse_subcommand 0 'home=' 'version' 'h/help'
        case 'serve'
            __hostctl_parse_subcommand 0 'listen=+' 'home=' 'version' 'h/help'
        case 'logs'
            __hostctl_parse_subcommand 1 'home=' 'f/follow' 'n/lines=' 'since=' 'worker=' 'stream=' 'json' 'version' 'h/help'
        case 'systemd-unit'
            __hostctl_parse_subcommand 0 'home=' 'user' 'socket' 'install' 'version' 'h/help'
        case 'help'
            __hostctl_parse_subcommand -r 1 'version'
        end
    end
end

function __hostctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __hostctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __hostctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __hostctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__hostctl_tokens -p)
    if test -z "$(__hostctl_tokens -t)"
        set -l index (count (__hostctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'hostctl' -f
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'add' -d 'Add an app: write its handler config (this starts nothing).'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'remove' -d 'Remove an app: stop it when the daemon runs, delete its handler config (and with --purge-logs its logs).'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'list' -d 'List the apps of this home.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'show' -d 'Show an app\'s effective config, with the source of each value.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'check' -d 'Check the configs; print file:line:col: error: message for each problem.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'start' -d 'Start apps (all when none are named), starting the daemon first if needed; wait until ready.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'stop' -d 'Stop apps gracefully: stop signal to each worker\'s process group, SIGKILL after stop.timeout.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'restart' -d 'Stop, then start apps with their configs read afresh; wait until ready.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'reload' -d 'Re-read apps\' configs and roll their workers over without dropping a request.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'status' -d 'Show the daemon\'s apps and workers; --json prints the documented schema for scripts.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'shutdown' -d 'Stop every app gracefully, then the daemon; returns once it exited.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'serve' -d 'Run the daemon in the foreground (what `hostctl start` and systemd run).'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'logs' -d 'Show the apps\' logs, or follow them with -f.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'systemd-unit' -d 'Print (or install) the systemd units that run the daemon.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_positional "hostctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" command' -l 'command' -d 'The command that runs one worker, split with shell-like quoting but never run by a shell; may use ${PORT}, ${HOSTCTL_APP}, ${HOSTCTL_WORKER}.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" entry' -l 'entry' -d 'The entry file inside DIR, run with node (.js, .mjs, .cjs) or python3 (.py), or itself when executable.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" workers' -l 'workers' -d 'How many workers to run: 0 means one per CPU, at most 256 (default 1).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" handoff' -l 'handoff' -d 'How a worker learns where to listen: pipe, port or fd (default pipe).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" route' -l 'route' -d 'The URL path prefix routed to the app (default /NAME).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add"' -l 'host' -d 'A host name routed to the app (exact or *.example.com); repeat for more.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add"' -l 'env' -d 'An environment variable for the workers; repeat for more.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" ready' -l 'ready' -d 'When a worker is ready: listen (its endpoint accepts) or notify (it sends READY=1).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" user' -l 'user' -d 'Run the workers as this user (the daemon must run as root).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" force' -l 'force' -d 'Replace an existing app of this name that has other settings.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl remove" purge-logs' -l 'purge-logs' -d 'Also delete the app\'s log directory.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl remove" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl remove" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl list" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl list" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl list" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl show" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl show" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl show" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl show" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl check" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl check" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl check" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl start" no-wait' -l 'no-wait' -d 'Return once the daemon accepted the request, without waiting for the workers.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl start" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl start" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl start" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl stop" all' -l 'all' -d 'Stop every app.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl stop" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl stop" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl stop" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl restart" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl restart" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl restart" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl reload" all' -l 'all' -d 'Reload every running app.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl reload" no-wait' -l 'no-wait' -d 'Return once the reload began instead of when it finished.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl reload" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl reload" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl reload" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl status" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl status" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl status" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl shutdown" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl shutdown" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl shutdown" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl serve"' -l 'listen' -d 'The front listener\'s address, ADDR:PORT or [IPV6]:PORT (port 0 picks one); repeat for more. Default: HOSTCTL_LISTEN, else listen: in hostctl.yml, else 127.0.0.1:8080.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl serve" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl serve" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl serve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" f follow' -s 'f' -l 'follow' -d 'Keep printing new lines until Ctrl-C.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" lines n' -s 'n' -l 'lines' -d 'How many of the last lines to print first (default 100, or all with --since).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" since' -l 'since' -d 'Only lines since then: 30s, 10m, 2h, 1d ago, or an ISO 8601 time (UTC unless it says).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" worker' -l 'worker' -d 'Only this worker slot\'s lines.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" stream' -l 'stream' -d 'Only this stream: out, err or hostctl.' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl logs" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" home' -l 'home' -d 'The hostctl home: config, state, logs and runtime sockets (default: HOSTCTL_HOME, else the system or XDG directories).' -rfka ''
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" user' -l 'user' -d 'A user unit (systemctl --user) instead of a system one.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" socket' -l 'socket' -d 'Also hostctl.socket, for socket activation.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" install' -l 'install' -d 'Write the units to the unit directory instead of printing them.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" version' -l 'version' -d 'Show the version.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl systemd-unit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'hostctl' -n '__hostctl_should_offer_completions_for_flags_or_options "hostctl help" version' -l 'version' -d 'Show the version.'
