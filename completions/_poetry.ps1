
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
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the transformation server')
            [CompletionResult]::new('transform', 'transform', [CompletionResultType]::ParameterValue, 'Send a poem to a server and print the transformed poem')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Check any server of the protocol: the classic round trip, or the conformance suite')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency')
            [CompletionResult]::new('recite', 'recite', [CompletionResultType]::ParameterValue, 'Recite a poem to every client that connects, paced: the tutorial''s poetry server')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Download poems from poetry servers at once: the tutorial''s get-poetry client')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('transforms', 'transforms', [CompletionResultType]::ParameterValue, 'List the transforms this build knows (one per line: name, then what it does)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'poetry;serve' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0: any free port)')
            [CompletionResult]::new('--http-port', '--http-port', [CompletionResultType]::ParameterName, 'Also serve HTTP on this port (0: any free port); off unless given')
            [CompletionResult]::new('--metrics-port', '--metrics-port', [CompletionResultType]::ParameterName, 'Serve only Prometheus metrics (`GET /metrics`) over HTTP on this port (0: any free port); off unless given. The HTTP port serves them too')
            [CompletionResult]::new('--proxy-from', '--proxy-from', [CompletionResultType]::ParameterName, 'A network whose PROXY headers are believed (repeatable), such as 10.0.0.5/32; a header from any other peer closes its connection [default: 127.0.0.0/8 and ::1, a balancer on this host]')
            [CompletionResult]::new('--iface', '--iface', [CompletionResultType]::ParameterName, 'Interface (address) to listen on')
            [CompletionResult]::new('--max-length', '--max-length', [CompletionResultType]::ParameterName, 'Longest request accepted (name, period and poem; on HTTP too); a longer one is refused from its length digits (accepts suffixes: 99999, 64KiB, 1MiB)')
            [CompletionResult]::new('--max-reply', '--max-reply', [CompletionResultType]::ParameterName, 'Longest reply sent; a transform whose result grows past it fails [default: four times --max-length]')
            [CompletionResult]::new('--max-chain', '--max-chain', [CompletionResultType]::ParameterName, 'Most transforms one request may chain with `+`; a longer chain is refused like an unknown name')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Connections served at once (netstring and HTTP together); more wait in the accept backlog, and the connection idle longest gives way')
            [CompletionResult]::new('--max-connections-per-ip', '--max-connections-per-ip', [CompletionResultType]::ParameterName, 'Connections open at once from one client address (the client a trusted PROXY header names, when relayed); more are closed at once. Off unless given')
            [CompletionResult]::new('--max-buffered', '--max-buffered', [CompletionResultType]::ParameterName, 'Bytes buffered across all connections: requests as they arrive (past each connection''s free 16 KiB) and replies until written. A request waits for room before more of it is read')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds for a request to arrive and be transformed (from its first byte), and again for the reply to be written')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'Seconds that requests in flight get to finish after SIGINT or SIGTERM; the process exits by then (a second signal: at once)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Worker threads (0: one per core available to the process)')
            [CompletionResult]::new('--transform-threads', '--transform-threads', [CompletionResultType]::ParameterName, 'Threads that run heavy transforms (large poems, long chains) at once; more wait their turn (0: one per core available)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--proxy-protocol', '--proxy-protocol', [CompletionResultType]::ParameterName, 'Expect a PROXY protocol header (v1 or v2, as HAProxy''s send-proxy and send-proxy-v2 send) before each netstring request, and log the client it names; a connection without one is closed. Only behind a balancer')
            [CompletionResult]::new('--check-config', '--check-config', [CompletionResultType]::ParameterName, 'Check the flags and print the settings they give as one JSON object on stdout, then exit (0 if the server would start with them, 2 if not)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;transform' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Batch mode: write each result under its name in DIR')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Batch mode: requests in flight at once (default: 4 per core)')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server host')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'A server as [HOST:]PORT (an IPv6 host in brackets); repeat to try several in order (replaces --host/--port; a bare PORT is on --host)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for a connection to be established')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds for each whole exchange with a server')
            [CompletionResult]::new('--max-reply', '--max-reply', [CompletionResultType]::ParameterName, 'Largest reply accepted')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Extra rounds over the servers when a connection is refused, closed without a reply by a failing server, or cut off (with a short, doubling pause between rounds)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Batch mode: also the poems in subdirectories, keeping the tree under --out-dir')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Batch mode: also the poems in subdirectories, keeping the tree under --out-dir')
            [CompletionResult]::new('--fallback', '--fallback', [CompletionResultType]::ParameterName, 'When no server can transform the poem, print it unchanged (with a warning) and exit 0')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Show the netstrings sent and received on stderr, with the length, '':'', payload (shortened) and '','' marked; implies -v')
            [CompletionResult]::new('--print-nc', '--print-nc', [CompletionResultType]::ParameterName, 'Print the equivalent `printf ... | nc.traditional` command on stdout and send nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;test' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'The server''s host, when [HOST:]PORT names none')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The server''s port, when [HOST:]PORT is not given')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds each case, the round trip, or each probe of --probe-limits may take in all')
            [CompletionResult]::new('--probe-up-to', '--probe-up-to', [CompletionResultType]::ParameterName, 'The largest payload --probe-limits sends (accepts suffixes: 99999, 64KiB, 1MiB) [default: 16MiB]')
            [CompletionResult]::new('--max-length', '--max-length', [CompletionResultType]::ParameterName, 'The server''s maximum request length (its --max-length), for the cases at and over it (accepts suffixes: 99999, 64KiB, 1MiB) [default: 99999, as Twisted]')
            [CompletionResult]::new('--case', '--case', [CompletionResultType]::ParameterName, 'Run only the cases whose id matches PATTERN (a glob such as ''frame.*''); repeatable')
            [CompletionResult]::new('--skip', '--skip', [CompletionResultType]::ParameterName, 'Skip the cases whose id matches PATTERN (a glob); repeatable')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the report as JUnit XML to FILE')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--suite', '--suite', [CompletionResultType]::ParameterName, 'Run the conformance suite instead of the one round trip')
            [CompletionResult]::new('--probe-limits', '--probe-limits', [CompletionResultType]::ParameterName, 'Measure the largest payload the server answers, by bisection, instead of the round trip (about log2 of --probe-up-to requests)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Fail the cases where the protocol leaves a behaviour open and the server took another path (DIFFERS)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report (or the result of --probe-limits) as one JSON object on stdout instead of the table')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the cases (id, MUST or open, rule) and exit; with --json, as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
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
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;recite' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0: any free port)')
            [CompletionResult]::new('--iface', '--iface', [CompletionResultType]::ParameterName, 'Interface (address) to listen on')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Seconds between two pieces of the poem (0: the whole poem at once)')
            [CompletionResult]::new('--num-bytes', '--num-bytes', [CompletionResultType]::ParameterName, 'Bytes in each piece')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Clients served at once; more wait in the accept backlog')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds a client gets to take the poem, beyond the pauses between pieces')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'Seconds that recitals in flight get to finish after SIGINT or SIGTERM')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--netstring', '--netstring', [CompletionResultType]::ParameterName, 'Send the poem as one netstring, so that a client can tell a cut-off poem')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;get' {
            [CompletionResult]::new('--transform', '--transform', [CompletionResultType]::ParameterName, 'Send each poem through this transform (a `+` chain too) at the --via server')
            [CompletionResult]::new('--via', '--via', [CompletionResultType]::ParameterName, 'The transformation server, as [HOST:]PORT')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write each poem to DIR/N_HOST_PORT.txt instead of stdout')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds for each whole download (and again for its transform)')
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Largest poem accepted from a server')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('--netstring', '--netstring', [CompletionResultType]::ParameterName, 'Each server sends its poem as one netstring (`poetry recite --netstring`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;transforms' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour what is written to stderr [env: NO_COLOR turns it off]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less on stderr (-q: warnings and errors only, -qq: errors only)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'poetry;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the transformation server')
            [CompletionResult]::new('transform', 'transform', [CompletionResultType]::ParameterValue, 'Send a poem to a server and print the transformed poem')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Check any server of the protocol: the classic round trip, or the conformance suite')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency')
            [CompletionResult]::new('recite', 'recite', [CompletionResultType]::ParameterValue, 'Recite a poem to every client that connects, paced: the tutorial''s poetry server')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Download poems from poetry servers at once: the tutorial''s get-poetry client')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('transforms', 'transforms', [CompletionResultType]::ParameterValue, 'List the transforms this build knows (one per line: name, then what it does)')
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
        'poetry;help;recite' {
            break
        }
        'poetry;help;get' {
            break
        }
        'poetry;help;completions' {
            break
        }
        'poetry;help;transforms' {
            break
        }
        'poetry;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
