//! The command line: the one definition behind `--help`, parsing and the
//! shell completions in `completions/`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The port the server listens on, and the client connects to, by default.
pub const DEFAULT_PORT: u16 = 11000;

/// Poetry transformation over the network.
#[derive(Debug, Parser)]
#[command(
    name = "poetry",
    version,
    about = "Poetry transformation over the network: a netstring transform server, its client, and a tester",
    long_about = "Poetry transformation over the network.\n\n\
        `poetry serve` runs a transformation server speaking the netstring protocol of the \
        Twisted tutorial's transformation server: a client sends `<transform>.<poem>` as one \
        netstring and gets the transformed poem back as one netstring. `poetry transform` is \
        its client, `poetry test` checks any server of the protocol.",
    after_help = "Examples:\n  \
        poetry serve --port 11000\n  \
        cat poems/the-harbour-at-dusk.txt | poetry transform cummingsify\n  \
        poetry test 11000"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// When to colour what is written to stderr [env: NO_COLOR turns it off].
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less on stderr (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the transformation server.
    #[command(after_help = "Examples:\n  \
        poetry serve                      # 127.0.0.1:11000\n  \
        poetry serve --port 0             # any free port; the line on stdout says which\n  \
        poetry serve --iface 0.0.0.0 --max-length 99999\n\n\
        Once listening, the server prints `Serving transforms on HOST:PORT.` on stdout. \
        Logs go to stderr. SIGINT (Ctrl-C) or SIGTERM stops accepting at once, lets requests \
        in flight finish (up to --shutdown-timeout), and exits 0.")]
    Serve(ServeArgs),

    /// Send a poem to a server and print the transformed poem.
    #[command(after_help = "Examples:\n  \
        cat poems/the-harbour-at-dusk.txt | poetry transform cummingsify\n  \
        poetry transform cummingsify poems/the-harbour-at-dusk.txt --port 11000\n  \
        POETRY_PORT=11001 poetry transform cummingsify - < poem.txt\n  \
        poetry transform cummingsify poem.txt --server 11000 --server otherhost:11000 --fallback\n  \
        poetry transform cummingsify+reverse-lines poems/*.txt --out-dir lowered/\n\n\
        NAME may chain transforms with '+', applied left to right (see `poetry transforms`). \
        With one poem, the reply is written to stdout byte for byte; with several (or --out-dir), \
        each result is written to DIR under its file name, a failed file does not stop the others, \
        and the exit code is non-zero if any failed. Errors go to stderr, with a non-zero exit code.")]
    Transform(TransformArgs),

    /// Check any server of the protocol: the classic round trip, or the conformance suite.
    #[command(after_help = "Examples:\n  \
        poetry test 11000                                # the classic round trip\n  \
        poetry test otherhost:11000 --timeout 2\n  \
        poetry test 11000 --suite                        # every case; the server's cap is 99999\n  \
        poetry test 11000 --suite --max-length 1MiB      # a server started with --max-length 1MiB\n  \
        poetry test 11000 --case 'frame.*' --skip frame.one-byte-writes\n  \
        poetry test 11000 --suite --json > report.json --junit report.xml\n  \
        poetry test --list\n\n\
        Without --suite, sends exactly `27:cummingsify.HERE IS MY POEM,`, prints the raw reply on \
        stdout and a verdict on stderr; it passes only when the reply is exactly \
        `15:here is my poem,` and the server then closes the connection.\n\n\
        With --suite (implied by --case, --skip, --strict, --json, --junit and --max-length), runs \
        every case of the conformance suite, one after another, each on connections of its own. \
        Each case checks one rule of the protocol and has an id (`poetry test --list`): MUST rules \
        PASS or FAIL; where the protocol leaves a behaviour open (pipelined requests, half-close), \
        another behaviour is reported as DIFFERS, which fails only under --strict. A case that does \
        not pass shows what was sent, what was expected, what came back, and a shell line that \
        reproduces it. The report goes to stdout (the table, or one JSON object with --json); a \
        progress bar goes to stderr when it is a terminal. Tell the suite the server's --max-length: \
        it sends a request of exactly that many bytes, and one byte more.\n\n\
        The tester bounds itself: every case (and the round trip) ends within --timeout, and no \
        read goes more than a few KiB past the reply it expects, so a server that hangs, drips or \
        streams forever costs a case its timeout and little memory.\n\n\
        Exit codes: 0 every case passed (DIFFERS allowed) or the round trip did; 1 a case or the \
        round trip failed; 2 usage (a bad flag, or a --case pattern that matches no case); \
        3 the server could not be reached at all.")]
    Test(TestArgs),

    /// Load a server with many requests at once, check every reply, and report throughput and latency.
    #[command(after_help = "Examples:\n  \
        poetry bench 11000                               # 64 connections for 5 s, the classic request\n  \
        poetry bench 11000 --duration 30 --concurrency 256\n  \
        poetry bench 11000 --requests 100000 --poem poems/the-harbour-at-dusk.txt\n  \
        poetry bench 11000 --server-pid 4242 --idle 2000 --json\n\n\
        A closed loop: each of the --concurrency connections sends one request, waits for the whole \
        reply and the close, then sends the next on a new connection. Requests still in flight when \
        --duration ends are let finish and counted. Every reply is checked byte for byte against the \
        reply computed here with the same transform, and failures are counted by kind: refused, reset, \
        closed without a reply, cut off, wrong bytes, timeout. The report goes to stdout (with --json, \
        one JSON object); a progress bar goes to stderr when it is a terminal. --server-pid (Linux) adds \
        the server's CPU time per request and its memory; --idle then holds N half-sent requests open \
        and reports the server's memory per idle connection (raise `poetry serve --max-connections` \
        above N first).\n\n\
        Exits 0 when every request got the right reply, 1 when any failed or the run could not start.")]
    Bench(BenchArgs),

    /// Recite a poem to every client that connects, paced: the tutorial's poetry server.
    #[command(after_help = "Examples:\n  \
        poetry recite poems/the-harbour-at-dusk.txt                       # 10 bytes every 0.7 s, on any free port\n  \
        poetry recite poems/kitchen-inventory.txt --port 10001 --delay 0  # the fast server: all at once\n  \
        poetry recite poems/the-harbour-at-dusk.txt --netstring --num-bytes 32 --delay 0.2\n\n\
        Once listening, it prints `Reciting FILE on HOST:PORT.` on stdout. Every client gets the \
        whole poem, in pieces of --num-bytes every --delay seconds, and then the connection closes; \
        clients are served at once, up to --max-connections. With --netstring the poem goes out as \
        one netstring (`LENGTH:POEM,`, still paced), so a client can tell a whole poem from a cut-off \
        one. A client must take the poem within the pauses plus --timeout, or it is cut off. Nothing \
        a client sends is used (at most 4 KiB is read and dropped). SIGINT (Ctrl-C) or SIGTERM stops \
        accepting at once; recitals in flight send the rest without pauses (up to --shutdown-timeout), \
        and it exits 0. Exits 1 when the poem cannot be read or the port cannot be listened on, 2 on \
        a bad command line.")]
    Recite(ReciteArgs),

    /// Download poems from poetry servers at once: the tutorial's get-poetry client.
    #[command(after_help = "Examples:\n  \
        poetry get 10001 10002 10003                  # three servers on 127.0.0.1, poems in that order\n  \
        poetry get 10001 otherhost:10002 --out-dir poems-got/\n  \
        poetry get 10001 --netstring                  # a server run with `poetry recite --netstring`\n  \
        poetry get 10001 10002 --transform cummingsify --via 11000\n\n\
        Addresses are [HOST:]PORT; a bare port means 127.0.0.1, and an IPv6 host goes in brackets \
        ([::1]:10001). Every download runs at once; the poems are written to stdout byte for byte, in \
        the order given (or, with --out-dir, each to DIR/N_HOST_PORT.txt, N its place in the list). \
        On a terminal, stderr shows one progress line per server; otherwise one line per server when \
        it is done. A plain poem is whatever arrives before the server closes; with --netstring the \
        poem must be one netstring, and a cut-off poem is reported as such. With --transform, each \
        poem is sent to the transformation server at --via as `NAME.POEM`; when that fails, the \
        original poem is kept and a warning goes to stderr.\n\n\
        Exit codes:\n  \
        0  every poem arrived (a failed transform keeps the original poem, and still counts)\n  \
        1  a poem could not be written\n  \
        2  the command line is wrong\n  \
        3  a server could not be reached\n  \
        5  a download took longer than --timeout (or its connection longer than 5 s)\n  \
        6  a poem was cut off, was not a netstring (--netstring), or was larger than --max-size\n\
        When several downloads fail, the code is that of the first in the order given; the other \
        poems are still written.")]
    Get(GetArgs),

    /// List the transforms this build knows.
    #[command(after_help = "Examples:\n  \
        poetry transforms\n  \
        poetry transform title+reverse-words poems/the-harbour-at-dusk.txt\n\n\
        A server of another build may know other names; ask it with `curl HOST:HTTP_PORT/transforms`.")]
    Transforms,

    /// Print a shell completion script to stdout.
    #[command(after_help = "Examples:\n  \
        poetry completions bash > ~/.local/share/bash-completion/completions/poetry\n  \
        poetry completions zsh > ~/.zfunc/_poetry")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `poetry serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0: any free port).
    #[arg(long, env = "POETRY_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Also serve HTTP on this port (0: any free port); off unless given.
    #[arg(long, env = "POETRY_HTTP_PORT", value_name = "PORT")]
    pub http_port: Option<u16>,

    /// Serve only Prometheus metrics (`GET /metrics`) over HTTP on this port
    /// (0: any free port); off unless given. The HTTP port serves them too.
    #[arg(long, env = "POETRY_METRICS_PORT", value_name = "PORT")]
    pub metrics_port: Option<u16>,

    /// Expect a PROXY protocol header (v1 or v2, as HAProxy's send-proxy and
    /// send-proxy-v2 send) before each netstring request, and log the client
    /// it names; a connection without one is closed. Only behind a balancer.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Interface (address) to listen on.
    #[arg(long, env = "POETRY_IFACE", default_value = "127.0.0.1", value_name = "HOST")]
    pub iface: String,

    /// Longest request accepted; a longer one is refused from its length digits
    /// (accepts suffixes: 99999, 64KiB, 1MiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes, value_name = "BYTES")]
    pub max_length: usize,

    /// Connections served at once; more wait in the accept backlog.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,

    /// Request bytes buffered across all connections; requests over 16 KiB wait
    /// for room before their payload is read.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes, value_name = "BYTES")]
    pub max_buffered: usize,

    /// Seconds for a whole request to arrive, and again for the reply to be written.
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Seconds that requests in flight get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub shutdown_timeout: Duration,

    /// Worker threads (0: one per core available to the process).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Check the flags and print the settings they give as one JSON object
    /// on stdout, then exit (0 if the server would start with them, 2 if not).
    #[arg(long)]
    pub check_config: bool,
}

/// `poetry transform`.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// The transform to apply (see `poetry transforms`).
    pub name: String,

    /// The poem to send; stdin when absent or `-`. Several files, or a
    /// directory, are transformed as a batch into --out-dir.
    pub files: Vec<PathBuf>,

    /// Batch mode: write each result under the same file name in DIR.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Batch mode: requests in flight at once (default: 4 per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Server host.
    #[arg(long, env = "POETRY_HOST", default_value = "localhost")]
    pub host: String,

    /// Server port.
    #[arg(long, env = "POETRY_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// A server as [HOST:]PORT; repeat to try several in order (replaces --host/--port).
    #[arg(long = "server", value_name = "[HOST:]PORT")]
    pub servers: Vec<String>,

    /// Seconds to wait for a connection to be established.
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub connect_timeout: Duration,

    /// Seconds for each whole exchange with a server.
    #[arg(long, default_value = "60", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Largest reply accepted.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, value_name = "BYTES")]
    pub max_reply: usize,

    /// Extra rounds over the servers when a connection is refused, closed
    /// without a reply or cut off (with a short, doubling pause between rounds).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,

    /// When no server can transform the poem, print it unchanged (with a warning) and exit 0.
    #[arg(long)]
    pub fallback: bool,
}

/// `poetry test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The server, as PORT or HOST:PORT [default: --host and --port].
    #[arg(value_name = "[HOST:]PORT", value_parser = parse_server)]
    pub server: Option<ServerArg>,

    /// The server's host, when [HOST:]PORT names none.
    #[arg(long, env = "POETRY_HOST", default_value = "localhost")]
    pub host: String,

    /// The server's port, when [HOST:]PORT is not given.
    #[arg(long, env = "POETRY_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Seconds each case, or the round trip, may take in all.
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Run the conformance suite instead of the one round trip.
    #[arg(long)]
    pub suite: bool,

    /// The server's maximum request length (its --max-length), for the cases
    /// at and over it (accepts suffixes: 99999, 64KiB, 1MiB) [default: 99999, as Twisted].
    #[arg(long, value_parser = parse_max_length, value_name = "BYTES")]
    pub max_length: Option<usize>,

    /// Fail the cases where the protocol leaves a behaviour open and the
    /// server took another path (DIFFERS).
    #[arg(long)]
    pub strict: bool,

    /// Run only the cases whose id matches PATTERN (a glob such as
    /// 'frame.*'); repeatable.
    #[arg(long = "case", value_name = "PATTERN")]
    pub cases: Vec<String>,

    /// Skip the cases whose id matches PATTERN (a glob); repeatable.
    #[arg(long = "skip", value_name = "PATTERN")]
    pub skips: Vec<String>,

    /// Print the report as one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// List the cases (id, MUST or open, rule) and exit; with --json, as JSON.
    #[arg(long)]
    pub list: bool,
}

/// A server given as `PORT` or `HOST:PORT` (`[ADDR]:PORT` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArg {
    /// The host, when given.
    pub host: Option<String>,
    /// The port.
    pub port: u16,
}

/// Parses `PORT`, `HOST:PORT` or `[IPV6]:PORT`.
pub fn parse_server(text: &str) -> Result<ServerArg, String> {
    if let Ok(port) = text.parse() {
        return Ok(ServerArg { host: None, port });
    }
    let (host, port) = text
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| format!("{text:?} is neither PORT nor HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} in {text:?} is not a port (0 to 65535)"))?;
    Ok(ServerArg {
        host: Some(host.to_owned()),
        port,
    })
}

/// Parses a maximum length the suite can test with.
pub fn parse_max_length(text: &str) -> Result<usize, String> {
    let min = poetry::conformance::cases::MIN_MAX_LENGTH;
    match parse_bytes(text)? {
        bytes if bytes < min => Err(format!(
            "the suite needs a maximum length of at least {min} bytes"
        )),
        bytes => Ok(bytes),
    }
}

/// `poetry bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server's port.
    pub port: u16,

    /// The server's host: the only address traffic goes to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Requests in flight at once, each on a connection of its own.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub concurrency: u32,

    /// Seconds to keep starting requests [default: 5].
    #[arg(long, value_parser = parse_secs, conflicts_with = "requests", value_name = "SECS")]
    pub duration: Option<Duration>,

    /// Send exactly this many requests instead of running for a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub requests: Option<u64>,

    /// The transform to request; a chain with `+` too. This build must know it, to check replies.
    #[arg(long, default_value = "cummingsify", value_name = "NAME")]
    pub transform: String,

    /// The poem to send [default: HERE IS MY POEM, as in the classic request].
    #[arg(long, value_name = "FILE")]
    pub poem: Option<PathBuf>,

    /// Load threads, each with its share of the connections (0: one per core available).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Seconds allowed for each whole request: connect, send, reply and close.
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// The server's process id (Linux): report its CPU time per request and its memory.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// After the load, hold N connections open with half a request sent, and report the
    /// server's memory per connection.
    #[arg(long, requires = "server_pid", value_name = "N")]
    pub idle: Option<usize>,
}

/// `poetry recite`.
#[derive(Debug, Args)]
pub struct ReciteArgs {
    /// The poem to recite.
    pub file: PathBuf,

    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Interface (address) to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub iface: String,

    /// Seconds between two pieces of the poem (0: the whole poem at once).
    #[arg(long, default_value = "0.7", value_parser = parse_secs, value_name = "SECS")]
    pub delay: Duration,

    /// Bytes in each piece.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub num_bytes: u32,

    /// Send the poem as one netstring, so that a client can tell a cut-off poem.
    #[arg(long)]
    pub netstring: bool,

    /// Clients served at once; more wait in the accept backlog.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_connections: u32,

    /// Seconds a client gets to take the poem, beyond the pauses between pieces.
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Seconds that recitals in flight get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub shutdown_timeout: Duration,
}

/// `poetry get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The poetry servers, as [HOST:]PORT (a bare port means 127.0.0.1).
    #[arg(required = true, value_parser = poetry::get::parse_address, value_name = "[HOST:]PORT")]
    pub servers: Vec<String>,

    /// Each server sends its poem as one netstring (`poetry recite --netstring`).
    #[arg(long)]
    pub netstring: bool,

    /// Send each poem through this transform (a `+` chain too) at the --via server.
    #[arg(long, value_name = "NAME")]
    pub transform: Option<String>,

    /// The transformation server, as [HOST:]PORT.
    #[arg(long, requires = "transform", default_value = "localhost:11000",
          value_parser = poetry::get::parse_address, value_name = "[HOST:]PORT")]
    pub via: String,

    /// Write each poem to DIR/N_HOST_PORT.txt instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Seconds for each whole download (and again for its transform).
    #[arg(long, default_value = "300", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Largest poem accepted from a server.
    #[arg(long, default_value = "16MiB", value_parser = parse_bytes, value_name = "BYTES")]
    pub max_size: usize,
}

/// Parses a byte count such as `99999`, `64KiB` or `1MiB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(text)
        .map_err(|e| format!("{e} (expected bytes, such as 99999, 64KiB or 1MiB)"))?;
    usize::try_from(bytes).map_err(|_| "too large for this machine".to_owned())
}

/// Parses seconds, whole or fractional (`30`, `0.5`).
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a usable number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("99999"), Ok(99_999));
        assert_eq!(parse_bytes("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }
}
