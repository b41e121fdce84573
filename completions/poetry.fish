# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_poetry_global_optspecs
    string join \n color= v/verbose q/quiet h/help V/version
end

function __fish_poetry_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_poetry_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_poetry_using_subcommand
    set -l cmd (__fish_poetry_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c poetry -n "__fish_poetry_needs_command" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_needs_command" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_needs_command" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_needs_command" -s V -l version -d 'Print version'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "serve" -d 'Run the transformation server'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "transform" -d 'Send a poem to a server and print the transformed poem'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "test" -d 'Check any server of the protocol: the classic round trip, or the conformance suite'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "bench" -d 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "recite" -d 'Recite a poem to every client that connects, paced: the tutorial\'s poetry server'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "get" -d 'Download poems from poetry servers at once: the tutorial\'s get-poetry client'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "transforms" -d 'List the transforms this build knows (one per line: name, then what it does)'
complete -c poetry -n "__fish_poetry_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l port -d 'Port to listen on (0: any free port)' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l http-port -d 'Also serve HTTP on this port (0: any free port); off unless given' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l metrics-port -d 'Serve only Prometheus metrics (`GET /metrics`) over HTTP on this port (0: any free port); off unless given. The HTTP port serves them too' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l proxy-from -d 'A network whose PROXY headers are believed (repeatable), such as 10.0.0.5/32; a header from any other peer closes its connection [default: 127.0.0.0/8 and ::1, a balancer on this host]' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l iface -d 'Interface (address) to listen on' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-length -d 'Longest request accepted (name, period and poem; on HTTP too); a longer one is refused from its length digits (accepts suffixes: 99999, 64KiB, 1MiB)' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-reply -d 'Longest reply sent; a transform whose result grows past it fails [default: four times --max-length]' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-chain -d 'Most transforms one request may chain with `+`; a longer chain is refused like an unknown name' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-connections -d 'Connections served at once (netstring and HTTP together); more wait in the accept backlog, and the connection idle longest gives way' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-connections-per-ip -d 'Connections open at once from one client address (the client a trusted PROXY header names, when relayed); more are closed at once. Off unless given' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l max-buffered -d 'Bytes buffered across all connections: requests as they arrive (past each connection\'s free 16 KiB) and replies until written. A request waits for room before more of it is read' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l timeout -d 'Seconds for a request to arrive and be transformed (from its first byte), and again for the reply to be written' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l shutdown-timeout -d 'Seconds that requests in flight get to finish after SIGINT or SIGTERM; the process exits by then (a second signal: at once)' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l threads -d 'Worker threads (0: one per core available to the process)' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l transform-threads -d 'Threads that run heavy transforms (large poems, long chains) at once; more wait their turn (0: one per core available)' -r
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l proxy-protocol -d 'Expect a PROXY protocol header (v1 or v2, as HAProxy\'s send-proxy and send-proxy-v2 send) before each netstring request, and log the client it names; a connection without one is closed. Only behind a balancer'
complete -c poetry -n "__fish_poetry_using_subcommand serve" -l check-config -d 'Check the flags and print the settings they give as one JSON object on stdout, then exit (0 if the server would start with them, 2 if not)'
complete -c poetry -n "__fish_poetry_using_subcommand serve" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand serve" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l out-dir -d 'Batch mode: write each result under its name in DIR' -r -F
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l jobs -d 'Batch mode: requests in flight at once (default: 4 per core)' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l host -d 'Server host' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l port -d 'Server port' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l server -d 'A server as [HOST:]PORT (an IPv6 host in brackets); repeat to try several in order (replaces --host/--port; a bare PORT is on --host)' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l connect-timeout -d 'Seconds to wait for a connection to be established' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l timeout -d 'Seconds for each whole exchange with a server' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l max-reply -d 'Largest reply accepted' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l retries -d 'Extra rounds over the servers when a connection is refused, closed without a reply by a failing server, or cut off (with a short, doubling pause between rounds)' -r
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand transform" -s r -l recursive -d 'Batch mode: also the poems in subdirectories, keeping the tree under --out-dir'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l fallback -d 'When no server can transform the poem, print it unchanged (with a warning) and exit 0'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l trace -d 'Show the netstrings sent and received on stderr, with the length, \':\', payload (shortened) and \',\' marked; implies -v'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -l print-nc -d 'Print the equivalent `printf ... | nc.traditional` command on stdout and send nothing'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand test" -l host -d 'The server\'s host, when [HOST:]PORT names none' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l port -d 'The server\'s port, when [HOST:]PORT is not given' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l timeout -d 'Seconds each case, the round trip, or each probe of --probe-limits may take in all' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l probe-up-to -d 'The largest payload --probe-limits sends (accepts suffixes: 99999, 64KiB, 1MiB) [default: 16MiB]' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l max-length -d 'The server\'s maximum request length (its --max-length), for the cases at and over it (accepts suffixes: 99999, 64KiB, 1MiB) [default: 99999, as Twisted]' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l case -d 'Run only the cases whose id matches PATTERN (a glob such as \'frame.*\'); repeatable' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l skip -d 'Skip the cases whose id matches PATTERN (a glob); repeatable' -r
complete -c poetry -n "__fish_poetry_using_subcommand test" -l junit -d 'Also write the report as JUnit XML to FILE' -r -F
complete -c poetry -n "__fish_poetry_using_subcommand test" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand test" -l suite -d 'Run the conformance suite instead of the one round trip'
complete -c poetry -n "__fish_poetry_using_subcommand test" -l probe-limits -d 'Measure the largest payload the server answers, by bisection, instead of the round trip (about log2 of --probe-up-to requests)'
complete -c poetry -n "__fish_poetry_using_subcommand test" -l strict -d 'Fail the cases where the protocol leaves a behaviour open and the server took another path (DIFFERS)'
complete -c poetry -n "__fish_poetry_using_subcommand test" -l json -d 'Print the report (or the result of --probe-limits) as one JSON object on stdout instead of the table'
complete -c poetry -n "__fish_poetry_using_subcommand test" -l list -d 'List the cases (id, MUST or open, rule) and exit; with --json, as JSON'
complete -c poetry -n "__fish_poetry_using_subcommand test" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand test" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l host -d 'The server\'s host: the only address traffic goes to' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l concurrency -d 'Requests in flight at once, each on a connection of its own (with --rate, at most)' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l rate -d 'Open loop: start R requests a second overall, each when it is due, and measure latency from then (without it: a closed loop)' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l arrivals -d 'How --rate spaces the requests' -r -f -a "uniform\t'Evenly: one every 1/R seconds'
poisson\t'As independent clients would: exponential gaps, R a second on average'"
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l warmup -d 'Seconds to load the server before measuring, left out of every figure' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l duration -d 'Seconds to keep starting requests after the warm-up [default: 5]' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l requests -d 'Send exactly this many requests (after the warm-up) instead of running for a duration' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l transform -d 'The transform to request; a chain with `+` too. This build must know it, to check replies' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l poem -d 'The poem to send [default: HERE IS MY POEM, as in the classic request]' -r -F
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l threads -d 'Load threads, each with its share of the connections (0: one per core available)' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l timeout -d 'Seconds allowed for each whole request: connect, send, reply and close' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l hist -d 'Also write the latency of every measured request to FILE as HdrHistogram\'s percentile spectrum (values in ms), the text its plotter reads' -r -F
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l server-pid -d 'The server\'s process id (Linux): report its CPU time per reply and its memory' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l idle -d 'After the load, hold N connections open with half a request sent, and report the server\'s memory per connection' -r
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand bench" -l json -d 'Print one JSON object on stdout instead of the table'
complete -c poetry -n "__fish_poetry_using_subcommand bench" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand bench" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l port -d 'Port to listen on (0: any free port)' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l iface -d 'Interface (address) to listen on' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l delay -d 'Seconds between two pieces of the poem (0: the whole poem at once)' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l num-bytes -d 'Bytes in each piece' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l max-connections -d 'Clients served at once; more wait in the accept backlog' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l timeout -d 'Seconds a client gets to take the poem, beyond the pauses between pieces' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l shutdown-timeout -d 'Seconds that recitals in flight get to finish after SIGINT or SIGTERM' -r
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand recite" -l netstring -d 'Send the poem as one netstring, so that a client can tell a cut-off poem'
complete -c poetry -n "__fish_poetry_using_subcommand recite" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand recite" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand recite" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand get" -l transform -d 'Send each poem through this transform (a `+` chain too) at the --via server' -r
complete -c poetry -n "__fish_poetry_using_subcommand get" -l via -d 'The transformation server, as [HOST:]PORT' -r
complete -c poetry -n "__fish_poetry_using_subcommand get" -l out-dir -d 'Write each poem to DIR/N_HOST_PORT.txt instead of stdout' -r -F
complete -c poetry -n "__fish_poetry_using_subcommand get" -l timeout -d 'Seconds for each whole download (and again for its transform)' -r
complete -c poetry -n "__fish_poetry_using_subcommand get" -l max-size -d 'Largest poem accepted from a server' -r
complete -c poetry -n "__fish_poetry_using_subcommand get" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand get" -l netstring -d 'Each server sends its poem as one netstring (`poetry recite --netstring`)'
complete -c poetry -n "__fish_poetry_using_subcommand get" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand get" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand completions" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand completions" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand completions" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand transforms" -l color -d 'When to colour what is written to stderr [env: NO_COLOR turns it off]' -r -f -a "auto\t'Colour when stderr is a terminal and NO_COLOR is unset'
always\t'Always colour'
never\t'Never colour'"
complete -c poetry -n "__fish_poetry_using_subcommand transforms" -s v -l verbose -d 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
complete -c poetry -n "__fish_poetry_using_subcommand transforms" -s q -l quiet -d 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
complete -c poetry -n "__fish_poetry_using_subcommand transforms" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "serve" -d 'Run the transformation server'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "transform" -d 'Send a poem to a server and print the transformed poem'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "test" -d 'Check any server of the protocol: the classic round trip, or the conformance suite'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "bench" -d 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "recite" -d 'Recite a poem to every client that connects, paced: the tutorial\'s poetry server'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "get" -d 'Download poems from poetry servers at once: the tutorial\'s get-poetry client'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "transforms" -d 'List the transforms this build knows (one per line: name, then what it does)'
complete -c poetry -n "__fish_poetry_using_subcommand help; and not __fish_seen_subcommand_from serve transform test bench recite get completions transforms help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c poetry -n "__fish_poetry_using_subcommand transform" -a "(poetry transforms 2>/dev/null | string replace -r '  +' \t)"
