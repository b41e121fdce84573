
use builtin;
use str;

set edit:completion:arg-completer[poetry] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'poetry'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'poetry'= {
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the transformation server'
            cand transform 'Send a poem to a server and print the transformed poem'
            cand test 'Check any server of the protocol: the classic round trip, or the conformance suite'
            cand bench 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency'
            cand recite 'Recite a poem to every client that connects, paced: the tutorial''s poetry server'
            cand get 'Download poems from poetry servers at once: the tutorial''s get-poetry client'
            cand completions 'Print a shell completion script to stdout'
            cand transforms 'List the transforms this build knows (one per line: name, then what it does)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'poetry;serve'= {
            cand --port 'Port to listen on (0: any free port)'
            cand --http-port 'Also serve HTTP on this port (0: any free port); off unless given'
            cand --metrics-port 'Serve only Prometheus metrics (`GET /metrics`) over HTTP on this port (0: any free port); off unless given. The HTTP port serves them too'
            cand --proxy-from 'A network whose PROXY headers are believed (repeatable), such as 10.0.0.5/32; a header from any other peer closes its connection [default: 127.0.0.0/8 and ::1, a balancer on this host]'
            cand --iface 'Interface (address) to listen on'
            cand --max-length 'Longest request accepted (name, period and poem; on HTTP too); a longer one is refused from its length digits (accepts suffixes: 99999, 64KiB, 1MiB)'
            cand --max-reply 'Longest reply sent; a transform whose result grows past it fails [default: four times --max-length]'
            cand --max-chain 'Most transforms one request may chain with `+`; a longer chain is refused like an unknown name'
            cand --max-connections 'Connections served at once (netstring and HTTP together); more wait in the accept backlog, and the connection idle longest gives way'
            cand --max-connections-per-ip 'Connections open at once from one client address (the client a trusted PROXY header names, when relayed); more are closed at once. Off unless given'
            cand --max-buffered 'Bytes buffered across all connections: requests as they arrive (past each connection''s free 16 KiB) and replies until written. A request waits for room before more of it is read'
            cand --timeout 'Seconds for a request to arrive and be transformed (from its first byte), and again for the reply to be written'
            cand --shutdown-timeout 'Seconds that requests in flight get to finish after SIGINT or SIGTERM; the process exits by then (a second signal: at once)'
            cand --threads 'Worker threads (0: one per core available to the process)'
            cand --transform-threads 'Threads that run heavy transforms (large poems, long chains) at once; more wait their turn (0: one per core available)'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand --proxy-protocol 'Expect a PROXY protocol header (v1 or v2, as HAProxy''s send-proxy and send-proxy-v2 send) before each netstring request, and log the client it names; a connection without one is closed. Only behind a balancer'
            cand --check-config 'Check the flags and print the settings they give as one JSON object on stdout, then exit (0 if the server would start with them, 2 if not)'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;transform'= {
            cand --out-dir 'Batch mode: write each result under its name in DIR'
            cand --jobs 'Batch mode: requests in flight at once (default: 4 per core)'
            cand --host 'Server host'
            cand --port 'Server port'
            cand --server 'A server as [HOST:]PORT (an IPv6 host in brackets); repeat to try several in order (replaces --host/--port; a bare PORT is on --host)'
            cand --connect-timeout 'Seconds to wait for a connection to be established'
            cand --timeout 'Seconds for each whole exchange with a server'
            cand --max-reply 'Largest reply accepted'
            cand --retries 'Extra rounds over the servers when a connection is refused, closed without a reply by a failing server, or cut off (with a short, doubling pause between rounds)'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand -r 'Batch mode: also the poems in subdirectories, keeping the tree under --out-dir'
            cand --recursive 'Batch mode: also the poems in subdirectories, keeping the tree under --out-dir'
            cand --fallback 'When no server can transform the poem, print it unchanged (with a warning) and exit 0'
            cand --trace 'Show the netstrings sent and received on stderr, with the length, '':'', payload (shortened) and '','' marked; implies -v'
            cand --print-nc 'Print the equivalent `printf ... | nc.traditional` command on stdout and send nothing'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;test'= {
            cand --host 'The server''s host, when [HOST:]PORT names none'
            cand --port 'The server''s port, when [HOST:]PORT is not given'
            cand --timeout 'Seconds each case, the round trip, or each probe of --probe-limits may take in all'
            cand --probe-up-to 'The largest payload --probe-limits sends (accepts suffixes: 99999, 64KiB, 1MiB) [default: 16MiB]'
            cand --max-length 'The server''s maximum request length (its --max-length), for the cases at and over it (accepts suffixes: 99999, 64KiB, 1MiB) [default: 99999, as Twisted]'
            cand --case 'Run only the cases whose id matches PATTERN (a glob such as ''frame.*''); repeatable'
            cand --skip 'Skip the cases whose id matches PATTERN (a glob); repeatable'
            cand --junit 'Also write the report as JUnit XML to FILE'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand --suite 'Run the conformance suite instead of the one round trip'
            cand --probe-limits 'Measure the largest payload the server answers, by bisection, instead of the round trip (about log2 of --probe-up-to requests)'
            cand --strict 'Fail the cases where the protocol leaves a behaviour open and the server took another path (DIFFERS)'
            cand --json 'Print the report (or the result of --probe-limits) as one JSON object on stdout instead of the table'
            cand --list 'List the cases (id, MUST or open, rule) and exit; with --json, as JSON'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;bench'= {
            cand --host 'The server''s host: the only address traffic goes to'
            cand --concurrency 'Requests in flight at once, each on a connection of its own (with --rate, at most)'
            cand --rate 'Open loop: start R requests a second overall, each when it is due, and measure latency from then (without it: a closed loop)'
            cand --arrivals 'How --rate spaces the requests'
            cand --warmup 'Seconds to load the server before measuring, left out of every figure'
            cand --duration 'Seconds to keep starting requests after the warm-up [default: 5]'
            cand --requests 'Send exactly this many requests (after the warm-up) instead of running for a duration'
            cand --transform 'The transform to request; a chain with `+` too. This build must know it, to check replies'
            cand --poem 'The poem to send [default: HERE IS MY POEM, as in the classic request]'
            cand --threads 'Load threads, each with its share of the connections (0: one per core available)'
            cand --timeout 'Seconds allowed for each whole request: connect, send, reply and close'
            cand --hist 'Also write the latency of every measured request to FILE as HdrHistogram''s percentile spectrum (values in ms), the text its plotter reads'
            cand --server-pid 'The server''s process id (Linux): report its CPU time per reply and its memory'
            cand --idle 'After the load, hold N connections open with half a request sent, and report the server''s memory per connection'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand --json 'Print one JSON object on stdout instead of the table'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;recite'= {
            cand --port 'Port to listen on (0: any free port)'
            cand --iface 'Interface (address) to listen on'
            cand --delay 'Seconds between two pieces of the poem (0: the whole poem at once)'
            cand --num-bytes 'Bytes in each piece'
            cand --max-connections 'Clients served at once; more wait in the accept backlog'
            cand --timeout 'Seconds a client gets to take the poem, beyond the pauses between pieces'
            cand --shutdown-timeout 'Seconds that recitals in flight get to finish after SIGINT or SIGTERM'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand --netstring 'Send the poem as one netstring, so that a client can tell a cut-off poem'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;get'= {
            cand --transform 'Send each poem through this transform (a `+` chain too) at the --via server'
            cand --via 'The transformation server, as [HOST:]PORT'
            cand --out-dir 'Write each poem to DIR/N_HOST_PORT.txt instead of stdout'
            cand --timeout 'Seconds for each whole download (and again for its transform)'
            cand --max-size 'Largest poem accepted from a server'
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand --netstring 'Each server sends its poem as one netstring (`poetry recite --netstring`)'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;completions'= {
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;transforms'= {
            cand --color 'When to colour what is written to stderr [env: NO_COLOR turns it off]'
            cand -v 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand --verbose 'More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG overrides); for `transform`, the wire (-v) and the netstrings too (-vv)'
            cand -q 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less on stderr (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'poetry;help'= {
            cand serve 'Run the transformation server'
            cand transform 'Send a poem to a server and print the transformed poem'
            cand test 'Check any server of the protocol: the classic round trip, or the conformance suite'
            cand bench 'Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency'
            cand recite 'Recite a poem to every client that connects, paced: the tutorial''s poetry server'
            cand get 'Download poems from poetry servers at once: the tutorial''s get-poetry client'
            cand completions 'Print a shell completion script to stdout'
            cand transforms 'List the transforms this build knows (one per line: name, then what it does)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'poetry;help;serve'= {
        }
        &'poetry;help;transform'= {
        }
        &'poetry;help;test'= {
        }
        &'poetry;help;bench'= {
        }
        &'poetry;help;recite'= {
        }
        &'poetry;help;get'= {
        }
        &'poetry;help;completions'= {
        }
        &'poetry;help;transforms'= {
        }
        &'poetry;help;help'= {
        }
    ]
    $completions[$command]
}
