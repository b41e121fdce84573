
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'poetry' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'poetry'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'poetry' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the transformation server')
            [CompletionResult]::new('transform', 'transform', [CompletionResultType]::ParameterValue, 'Send a poem to a server and print the transformed poem')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Check a server with the classic round trip (or the whole conformance suite)')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency')
            [CompletionResult]::new('transforms', 'transforms', [CompletionResultType]::ParameterValue, 'List the transforms this build knows')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'poetry;serve' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0: any free port)')
            [CompletionResult]::new('--http-port', '--http-port', [CompletionResultType]::ParameterName, 'Also serve HTTP on this port (0: any free port); off unless given')
            [CompletionResult]::new('--metrics-port', '--metrics-port', [CompletionResultType]::ParameterName, 'Serve only Prometheus metrics (`GET /metrics`) over HTTP on this port (0: any free port); off unless given. The HTTP port serves them too')
            [CompletionResult]::new('--iface', '--iface', [CompletionResultType]::ParameterName, 'Interface (address) to listen on')
            [CompletionResult]::new('--max-length', '--max-length', [CompletionResultType]::ParameterName, 'Longest request accepted; a longer one is refused from its length digits (accepts suffixes: 99999, 64KiB, 1MiB)')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Connections served at once; more wait in the accept backlog')
            [CompletionResult]::new('--max-buffered', '--max-buffered', [CompletionResultType]::ParameterName, 'Request bytes buffered across all connections; requests over 16 KiB wait for room before their payload is read')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds for a whole request to arrive, and again for the reply to be written')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'Seconds that requests in flight get to finish after SIGINT or SIGTERM')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Worker threads (0: one per core available to the process)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--proxy-protocol', '--proxy-protocol', [CompletionResultType]::ParameterName, 'Expect a PROXY protocol header (v1 or v2, as HAProxy''s send-proxy and send-proxy-v2 send) before each netstring request, and log the client it names; a connection without one is closed. Only behind a balancer')
            [CompletionResult]::new('--check-config', '--check-config', [CompletionResultType]::ParameterName, 'Check the flags and print the settings they give as one JSON object on stdout, then exit (0 if the server would start with them, 2 if not)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;transform' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Batch mode: write each result under the same file name in DIR')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Batch mode: requests in flight at once (default: 4 per core)')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server host')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'A server as [HOST:]PORT; repeat to try several in order (replaces --host/--port)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for a connection to be established')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds for each whole exchange with a server')
            [CompletionResult]::new('--max-reply', '--max-reply', [CompletionResultType]::ParameterName, 'Largest reply accepted')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Extra rounds over the servers when a connection is refused, closed without a reply or cut off (with a short, doubling pause between rounds)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--fallback', '--fallback', [CompletionResultType]::ParameterName, 'When no server can transform the poem, print it unchanged (with a warning) and exit 0')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;test' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'The server''s host')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds allowed for each network step')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--suite', '--suite', [CompletionResultType]::ParameterName, 'Run the whole conformance suite instead of the one round trip')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;bench' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'The server''s host: the only address traffic goes to')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at once, each on a connection of its own (with --rate, at most)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Open loop: start R requests a second overall, each when it is due, and measure latency from then (without it: a closed loop)')
            [CompletionResult]::new('--arrivals', '--arrivals', [CompletionResultType]::ParameterName, 'How --rate spaces the requests')
            [CompletionResult]::new('--warmup', '--warmup', [CompletionResultType]::ParameterName, 'Seconds to load the server before measuring, left out of every figure')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Seconds to keep starting requests after the warm-up [default: 5]')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Send exactly this many requests (after the warm-up) instead of running for a duration')
            [CompletionResult]::new('--transform', '--transform', [CompletionResultType]::ParameterName, 'The transform to request; a chain with `+` too. This build must know it, to check replies')
            [CompletionResult]::new('--poem', '--poem', [CompletionResultType]::ParameterName, 'The poem to send [default: HERE IS MY POEM, as in the classic request]')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Load threads, each with its share of the connections (0: one per core available)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds allowed for each whole request: connect, send, reply and close')
            [CompletionResult]::new('--hist', '--hist', [CompletionResultType]::ParameterName, 'Also write the latency of every measured request to FILE as HdrHistogram''s percentile spectrum (values in ms), the text its plotter reads')
            [CompletionResult]::new('--server-pid', '--server-pid', [CompletionResultType]::ParameterName, 'The server''s process id (Linux): report its CPU time per reply and its memory')
            [CompletionResult]::new('--idle', '--idle', [CompletionResultType]::ParameterName, 'After the load, hold N connections open with half a request sent, and report the server''s memory per connection')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object on stdout instead of the table')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;transforms' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the transformation server')
            [CompletionResult]::new('transform', 'transform', [CompletionResultType]::ParameterValue, 'Send a poem to a server and print the transformed poem')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Check a server with the classic round trip (or the whole conformance suite)')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency')
            [CompletionResult]::new('transforms', 'transforms', [CompletionResultType]::ParameterValue, 'List the transforms this build knows')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'poetry;help;serve' {
            break
        }
        'poetry;help;transform' {
            break
        }
        'poetry;help;test' {
            break
        }
        'poetry;help;bench' {
            break
        }
        'poetry;help;transforms' {
            break
        }
        'poetry;help;completions' {
            break
        }
        'poetry;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
