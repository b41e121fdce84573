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

    /// Check a server with the classic round trip (or the whole conformance suite).
    #[command(after_help = "Examples:\n  \
        poetry test 11000\n  \
        poetry test 11000 --host 127.0.0.1\n  \
        poetry test 11000 --suite\n\n\
        Sends exactly `27:cummingsify.HERE IS MY POEM,`, prints the raw reply on stdout, and a \
        verdict on stderr. Exits 0 only when the reply is exactly `15:here is my poem,` and the \
        server then closes the connection.")]
    Test(TestArgs),

    /// Load a server (closed loop, or open loop at a fixed rate), check every reply, and report throughput and latency.
    #[command(after_help = "Examples:\n  \
        poetry bench 11000                               # closed loop: 64 connections for 5 s\n  \
        poetry bench 11000 --rate 5000 --duration 10     # open loop: 5,000 requests a second\n  \
        poetry bench 11000 --rate 5000 --arrivals poisson --warmup 2 --hist latency.hgrm\n  \
        poetry bench 11000 --requests 100000 --poem poems/the-harbour-at-dusk.txt\n  \
        poetry bench 11000 --server-pid 4242 --idle 2000 --json\n\n\
        Closed loop (the default): each of the --concurrency connections sends one request, waits for \
        the whole reply and the close, then sends the next on a new connection. It shows what a fixed \
        number of busy clients get; but when the server stalls, the load stalls with it, and the stall \
        hardly shows in the percentiles.\n\n\
        Open loop (--rate): requests start when they are due, R a second over all threads, each on a \
        connection of its own, whatever came of the earlier ones (up to --concurrency in flight), and \
        latency counts from when each was due, not from when it got going, so a stall shows in full. \
        The report puts the rate achieved beside the target, and counts the requests that had to wait \
        for a free slot and those still waiting at the end (never sent).\n\n\
        The server is checked with one request first. Every reply is checked byte for byte against the \
        reply computed here with the same transform; failures are counted by kind (refused, reset, \
        closed without a reply, cut off, wrong bytes, timeout), and the latency table has a row each \
        for the ok, the failed and the timed-out requests, with the time of each phase (connect, \
        request written, first reply byte, close). Figures cover the measured window only: after \
        --warmup, until --duration ends (requests in flight then are let finish and judged) or, with \
        --requests, until the last request that did not time out. The report goes to stdout (with \
        --json, one JSON object; on a terminal it ends with a small latency histogram); a progress bar \
        goes to stderr when it is a terminal. Ctrl-C stops the run and prints what it measured. \
        --server-pid (Linux) adds the server's CPU time per reply and its memory; --idle then holds N \
        half-sent requests open and reports the server's memory per idle connection (raise `poetry \
        serve --max-connections` above N first).\n\n\
        Exit codes: 0 every request got the right reply (and --rate was kept), 1 a request failed or \
        the run could not start, 3 the server could not be reached, 7 the verified replies fell more \
        than 5 % short of the requests --rate made due, 130 interrupted by Ctrl-C.")]
    Bench(BenchArgs),

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
    /// The server's port.
    pub port: u16,

    /// The server's host.
    #[arg(long, env = "POETRY_HOST", default_value = "localhost")]
    pub host: String,

    /// Seconds allowed for each network step.
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Run the whole conformance suite instead of the one round trip.
    #[arg(long)]
    pub suite: bool,
}

/// `poetry bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server's port.
    pub port: u16,

    /// The server's host: the only address traffic goes to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Requests in flight at once, each on a connection of its own (with --rate, at most).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub concurrency: u32,

    /// Open loop: start R requests a second overall, each when it is due, and
    /// measure latency from then (without it: a closed loop).
    #[arg(long, value_parser = parse_rate, conflicts_with = "requests", value_name = "R")]
    pub rate: Option<f64>,

    /// How --rate spaces the requests.
    #[arg(long, value_enum, default_value_t = BenchArrivals::Uniform, requires = "rate", value_name = "HOW")]
    pub arrivals: BenchArrivals,

    /// Seconds to load the server before measuring, left out of every figure.
    #[arg(long, default_value = "0", value_parser = parse_secs, value_name = "SECS")]
    pub warmup: Duration,

    /// Seconds to keep starting requests after the warm-up [default: 5].
    #[arg(long, value_parser = parse_secs, conflicts_with = "requests", value_name = "SECS")]
    pub duration: Option<Duration>,

    /// Send exactly this many requests (after the warm-up) instead of running for a duration.
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

    /// Also write the latency of every measured request to FILE as HdrHistogram's
    /// percentile spectrum (values in ms), the text its plotter reads.
    #[arg(long, value_name = "FILE")]
    pub hist: Option<PathBuf>,

    /// The server's process id (Linux): report its CPU time per reply and its memory.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// After the load, hold N connections open with half a request sent, and report the
    /// server's memory per connection.
    #[arg(long, requires = "server_pid", value_name = "N")]
    pub idle: Option<usize>,
}

/// How `poetry bench --rate` spaces its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchArrivals {
    /// Evenly: one every 1/R seconds.
    Uniform,
    /// As independent clients would: exponential gaps, R a second on average.
    Poisson,
}

/// Parses a rate of requests per second: positive, and within what one
/// machine could ever start.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    const MAX: f64 = 10_000_000.0;
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= MAX => Ok(rate),
        Ok(_) => Err(format!(
            "{text:?} is not a rate between 0 and {MAX} requests a second"
        )),
        Err(_) => Err(format!("{text:?} is not a number of requests a second")),
    }
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
        assert_eq!(parse_rate("2500"), Ok(2500.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-3", "NaN", "inf", "1e9", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
