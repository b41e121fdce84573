//! The command line: the one definition behind `--help`, parsing, the shell
//! completions in `completions/` and the manual pages in `man/`.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use poetry::registry::Registry;
use poetry::service::CATALOG;

/// The port the server listens on, and the client connects to, by default.
pub const DEFAULT_PORT: u16 = 11000;

/// The heading the flags every subcommand takes are listed under.
const GLOBAL: &str = "Global options";

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
        poetry test 11000\n\n\
        Exit codes, the same for every subcommand: 0 ok, 1 other failure, 2 usage (a flag, argument \
        or environment variable is wrong), 3 cannot connect, 4 refused by the server, 5 timeout, \
        6 bad or cut-off reply. Each subcommand's --help says which it uses."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// When to colour what is written to stderr [env: NO_COLOR turns it off].
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN", help_heading = GLOBAL)]
    pub color: ColorChoice,

    /// More detail on stderr: for `serve`, debug (-v) and trace (-vv) logs (RUST_LOG
    /// overrides); for `transform`, the wire (-v) and the netstrings too (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// Less on stderr (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose", help_heading = GLOBAL)]
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
        poetry serve --port 0 --http-port 0 | head -1    # a script reads the port; serving goes on\n  \
        poetry serve --iface ::1 --max-length 99999\n\n\
        Once listening, the server prints `Serving transforms on HOST:PORT.` on stdout (IPv6 \
        addresses in brackets), one line per port. Logs go to stderr. SIGINT (Ctrl-C) or SIGTERM \
        stops accepting at once, lets requests in flight finish (up to --shutdown-timeout), and \
        exits 0. Stdout going away (a closed pipe) never stops the server.\n\n\
        Exit codes:\n  \
        0  stopped by SIGINT or SIGTERM (or --check-config found the flags good)\n  \
        1  could not start: a port is taken by another program, or the open-files limit is too low\n  \
        2  usage: a wrong flag or environment variable, two ports the same, limits that clash")]
    Serve(ServeArgs),

    /// Send a poem to a server and print the transformed poem.
    #[command(after_help = "Examples:\n  \
        cat poems/the-harbour-at-dusk.txt | poetry transform cummingsify\n  \
        poetry transform cummingsify poems/the-harbour-at-dusk.txt --port 11000\n  \
        POETRY_PORT=11001 poetry transform cummingsify - < poem.txt\n  \
        poetry transform cummingsify poem.txt --server 11000 --server otherhost:11000 --fallback\n  \
        poetry transform cummingsify+reverse-lines poems/ --out-dir lowered/\n  \
        poetry transform shout poems/ --recursive --out-dir loud/\n  \
        poetry transform shout poem.txt -v          # address, bytes, timings, retries on stderr\n  \
        poetry transform shout poem.txt --trace     # and the netstrings themselves\n  \
        poetry transform shout poem.txt --print-nc  # the same request as a netcat command\n\n\
        NAME may chain transforms with '+', applied left to right (see `poetry transforms`). \
        With one poem, the reply is written to stdout byte for byte (on a terminal, control \
        characters are shown escaped). With several poems, a directory, or --out-dir, each result \
        is written under DIR by its name (its path under a directory argument), through a temporary \
        file renamed into place; two poems that would get the same name, or a result that would \
        overwrite a poem, stop the batch before anything is sent; entries that are not poems \
        (subdirectories without --recursive, broken links) are skipped, each said; a failed poem \
        does not stop the others.\n\n\
        When a server closes the connection without a reply, it is sent the classic request \
        (`27:cummingsify.HERE IS MY POEM,`): if it answers, it is up and refused this request, \
        which is then not sent to it again (once more when nothing here explains the refusal, \
        since a load balancer may have lost it); if not, it is failing, and --retries apply.\n\n\
        Exit codes (with several servers, that of the failure that got furthest; for a batch, the \
        one all failed poems share, else 1):\n  \
        0  transformed (or printed unchanged with --fallback)\n  \
        1  other: a poem that cannot be read or is not UTF-8, a result that cannot be written\n  \
        2  usage: a flag, argument or environment variable is wrong; a batch that would overwrite\n  \
        3  cannot connect: nothing listens there, or the host name does not resolve\n  \
        4  refused by the server: it is up, but closed the connection without a reply\n  \
        5  timeout: connecting or the exchange took longer than --connect-timeout or --timeout\n  \
        6  bad reply: cut off, not a netstring, over --max-reply, or a server failing")]
    Transform(TransformArgs),

    /// Check any server of the protocol: the classic round trip, or the conformance suite.
    #[command(after_help = "Examples:\n  \
        poetry test 11000                                # the classic round trip\n  \
        poetry test otherhost:11000 --timeout 2\n  \
        poetry test 11000 --suite                        # every case; the server's cap is 99999\n  \
        poetry test 11000 --suite --max-length 1MiB      # a server started with --max-length 1MiB\n  \
        poetry test 11000 --case 'frame.*' --skip frame.one-byte-writes\n  \
        poetry test 11000 --suite --json > report.json --junit report.xml\n  \
        poetry test 11000 --probe-limits                 # the largest payload it answers\n  \
        poetry test --list\n\n\
        Without --suite, sends exactly `27:cummingsify.HERE IS MY POEM,`, prints the raw reply on \
        stdout and a verdict on stderr; it passes only when the reply is exactly \
        `15:here is my poem,` and the server then closes the connection.\n\n\
        With --suite (implied by --case, --skip, --strict, --junit, --max-length, and --json \
        without --probe-limits), runs \
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
        With --probe-limits, measures the largest payload the server answers instead of taking it \
        on trust: a probe of N bytes sends `cummingsify.` and `a` bytes, N in all, as one netstring, \
        and must get the same `a` bytes back, or be refused (a close without a byte). N is bisected \
        between 13 bytes and --probe-up-to (16 MiB): about log2 of it probes, one after another, \
        each within --timeout, the request streamed and the reply checked as it comes, so a 16 MiB \
        probe costs no more memory than a small one. Stdout gets `largest payload answered: N bytes \
        (N+1 refused)` and the number of probes, or one JSON object with --json.\n\n\
        Exit codes: 0 every case passed (DIFFERS allowed), the round trip did, or --probe-limits \
        found a limit (or every payload up to its bound answered); 1 a case or the round trip \
        failed, or the server showed no limit (it refused even the smallest probe, or a probe got \
        a wrong reply or none by the deadline: the line says at which length and what came back); \
        2 usage (a bad flag, a --case pattern that matches no case, --probe-limits with the \
        suite's flags); 3 the server could not be reached at all.")]
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

    /// List the transforms this build knows (one per line: name, then what it does).
    Transforms,

    /// Print a shell completion script to stdout.
    #[command(after_help = "Examples:\n  \
        mkdir -p ~/.local/share/bash-completion/completions\n  \
        poetry completions bash > ~/.local/share/bash-completion/completions/poetry\n  \
        mkdir -p ~/.zfunc && poetry completions zsh > ~/.zfunc/_poetry    # with ~/.zfunc on $fpath\n  \
        mkdir -p ~/.config/fish/completions\n  \
        poetry completions fish > ~/.config/fish/completions/poetry.fish\n\n\
        The scripts complete subcommands, flags, and the transform names of this build.\n\n\
        Exit codes: 0 printed, 2 usage (an unknown shell).")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The help after `poetry transforms --help`: computed from the registry, so
/// that it can never drift from what the transforms do.
fn transforms_help() -> String {
    const POEM: &str = "Slow Rain on the Café Roof";
    const NAMES: &[&str] = &["shout", "reverse-words", "pig-latin", "title+reverse-words"];
    let registry = Registry::standard();
    let width = NAMES.iter().map(|name| name.len()).max().unwrap_or(0);
    let mut help = format!("Examples, on the poem \"{POEM}\":\n");
    for name in NAMES {
        let shown = registry.apply(name, POEM).expect("the examples use known names");
        help.push_str(&format!("  {name:width$}  {shown}\n"));
    }
    help.push_str(
        "\nChain transforms with '+', applied left to right:\n  \
         poetry transform cummingsify+reverse-lines poem.txt\n  \
         echo 'HERE IS MY POEM' | poetry transform cummingsify\n  \
         poetry transforms | cut -d' ' -f1      # the names alone\n\n\
         Stdout gets the list alone. A server of another build may know other names; ask it with \
         `curl HOST:HTTP_PORT/transforms`.\n\n\
         Exit codes: 0 listed.",
    );
    help
}

/// The whole command-line definition: the derived one, with the parts that
/// are computed.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand("transforms", |transforms| {
        transforms.after_help(transforms_help())
    })
}

/// Parses the command line (exiting with 2 and a message on a usage error,
/// or 0 after `--help`): `--color` already governs clap's own messages, and a
/// bad value taken from an environment variable is said to come from it.
pub fn parse() -> Cli {
    parse_from(std::env::args_os().collect())
}

fn parse_from(args: Vec<OsString>) -> Cli {
    let mut command = command().color(color_in(&args));
    let matches = match command.try_get_matches_from_mut(&args) {
        Ok(matches) => matches,
        Err(err) => name_the_variable(err, &mut command, &args).exit(),
    };
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.format(&mut command).exit())
}

/// The `--color` choice in `args`, read before clap parses them so that its
/// errors obey it too.
fn color_in(args: &[OsString]) -> clap::ColorChoice {
    let mut value = None;
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        } else if arg == "--color" {
            value = args.next().map(|v| v.into_owned());
        } else if let Some(v) = arg.strip_prefix("--color=") {
            value = Some(v.to_owned());
        }
    }
    match value.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

/// Rewrites clap's "invalid value for '--port <PORT>'" as a complaint about
/// the environment variable when that is where the value came from: the
/// user never typed `--port`, and would look for it in vain.
fn name_the_variable(err: clap::Error, command: &mut clap::Command, args: &[OsString]) -> clap::Error {
    if !matches!(err.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        return err;
    }
    let (Some(ContextValue::String(flag)), Some(ContextValue::String(value))) = (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidValue),
    ) else {
        return err;
    };
    let typed = |long: &str| {
        args.iter().skip(1).any(|arg| {
            let arg = arg.to_string_lossy();
            arg == format!("--{long}") || arg.starts_with(&format!("--{long}="))
        })
    };
    let mut found = None;
    for sub in std::iter::once(&*command).chain(command.get_subcommands()) {
        for arg in sub.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            // clap names the argument as `--port <PORT>`.
            if flag.split(' ').next() == Some(&format!("--{long}"))
                && std::env::var_os(var).as_deref() == Some(OsStr::new(value))
                && !typed(long)
            {
                found = Some((sub.get_name().to_owned(), var.to_string_lossy().into_owned()));
            }
        }
    }
    let Some((sub, var)) = found else {
        return err;
    };
    let reason = std::error::Error::source(&err).map_or_else(String::new, |why| format!(": {why}"));
    let message =
        format!("invalid value '{value}' in the environment variable {var} (read as {flag}){reason}");
    match command.find_subcommand_mut(&sub) {
        Some(sub) => sub.error(ErrorKind::ValueValidation, message),
        None => command.error(ErrorKind::ValueValidation, message),
    }
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

    /// A network whose PROXY headers are believed (repeatable), such as
    /// 10.0.0.5/32; a header from any other peer closes its connection
    /// [default: 127.0.0.0/8 and ::1, a balancer on this host].
    #[arg(long, value_name = "CIDR", requires = "proxy_protocol", value_parser = parse_network)]
    pub proxy_from: Vec<ipnet::IpNet>,

    /// Interface (address) to listen on.
    #[arg(long, env = "POETRY_IFACE", default_value = "127.0.0.1", value_name = "HOST")]
    pub iface: String,

    /// Longest request accepted (name, period and poem; on HTTP too); a
    /// longer one is refused from its length digits (accepts suffixes: 99999,
    /// 64KiB, 1MiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_positive_bytes, value_name = "BYTES")]
    pub max_length: usize,

    /// Longest reply sent; a transform whose result grows past it fails
    /// [default: four times --max-length].
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub max_reply: Option<usize>,

    /// Most transforms one request may chain with `+`; a longer chain is
    /// refused like an unknown name.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_chain: usize,

    /// Connections served at once (netstring and HTTP together); more wait in
    /// the accept backlog, and the connection idle longest gives way.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,

    /// Connections open at once from one client address (the client a
    /// trusted PROXY header names, when relayed); more are closed at once.
    /// Off unless given.
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Bytes buffered across all connections: requests as they arrive (past
    /// each connection's free 16 KiB) and replies until written. A request
    /// waits for room before more of it is read.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes, value_name = "BYTES")]
    pub max_buffered: usize,

    /// Seconds for a request to arrive and be transformed (from its first
    /// byte), and again for the reply to be written.
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Seconds that requests in flight get to finish after SIGINT or SIGTERM;
    /// the process exits by then (a second signal: at once).
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub shutdown_timeout: Duration,

    /// Worker threads (0: one per core available to the process).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Threads that run heavy transforms (large poems, long chains) at once;
    /// more wait their turn (0: one per core available).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub transform_threads: usize,

    /// Check the flags and print the settings they give as one JSON object
    /// on stdout, then exit (0 if the server would start with them, 2 if not).
    #[arg(long)]
    pub check_config: bool,
}

/// `poetry transform`.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// The transform to apply, or a chain of them such as `cummingsify+reverse-lines`
    /// (see `poetry transforms`).
    #[arg(value_parser = TransformName, hide_possible_values = true)]
    pub name: String,

    /// The poem to send; stdin when absent or `-`. Several files, or a
    /// directory, are transformed as a batch into --out-dir.
    pub files: Vec<PathBuf>,

    /// Batch mode: write each result under its name in DIR.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Batch mode: also the poems in subdirectories, keeping the tree under --out-dir.
    #[arg(short, long)]
    pub recursive: bool,

    /// Batch mode: requests in flight at once (default: 4 per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    /// Server host.
    #[arg(long, env = "POETRY_HOST", default_value = "localhost")]
    pub host: String,

    /// Server port.
    #[arg(long, env = "POETRY_PORT", default_value_t = DEFAULT_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// A server as [HOST:]PORT (an IPv6 host in brackets); repeat to try several in
    /// order (replaces --host/--port; a bare PORT is on --host).
    #[arg(long = "server", value_name = "[HOST:]PORT", value_parser = parse_server)]
    pub servers: Vec<ServerArg>,

    /// Seconds to wait for a connection to be established.
    #[arg(long, default_value = "5", value_parser = parse_positive_secs, value_name = "SECS")]
    pub connect_timeout: Duration,

    /// Seconds for each whole exchange with a server.
    #[arg(long, default_value = "60", value_parser = parse_positive_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Largest reply accepted.
    #[arg(long, default_value = "64MiB", value_parser = parse_positive_bytes, value_name = "BYTES")]
    pub max_reply: usize,

    /// Extra rounds over the servers when a connection is refused, closed
    /// without a reply by a failing server, or cut off (with a short, doubling
    /// pause between rounds).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,

    /// When no server can transform the poem, print it unchanged (with a warning) and exit 0.
    #[arg(long)]
    pub fallback: bool,

    /// Show the netstrings sent and received on stderr, with the length, ':', payload
    /// (shortened) and ',' marked; implies -v.
    #[arg(long)]
    pub trace: bool,

    /// Print the equivalent `printf ... | nc.traditional` command on stdout and send nothing.
    #[arg(long, conflicts_with_all = ["out_dir", "fallback", "trace"])]
    pub print_nc: bool,
}

/// A transform name, or a chain: any text is taken (a server may know names
/// this build does not), while this build's names are offered to shell
/// completion.
#[derive(Debug, Clone, Copy)]
pub struct TransformName;

impl TypedValueParser for TransformName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            CATALOG
                .iter()
                .map(|t| PossibleValue::new(t.name).help(t.description)),
        ))
    }
}

/// A server as `--server` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerArg {
    /// A port on `--host`.
    Port(u16),
    /// A host and port.
    At {
        /// The host name or address (an IPv6 address without brackets).
        host: String,
        /// The port.
        port: u16,
    },
}

/// Parses `[HOST:]PORT`: `11000`, `localhost:11000`, `[::1]:11000`.
pub fn parse_server(text: &str) -> Result<ServerArg, String> {
    const FORM: &str = "expected [HOST:]PORT, such as 11000, localhost:11000 or [::1]:11000";
    let port = |digits: &str| match digits.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{digits:?} is not a port (1-65535); {FORM}")),
        Ok(port) => Ok(port),
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return port(text).map(ServerArg::Port);
    }
    let Some((host, digits)) = text.rsplit_once(':') else {
        return Err(format!("no port in {text:?}; {FORM}"));
    };
    if digits.is_empty() {
        return Err(format!("no port after ':' in {text:?}; {FORM}"));
    }
    let port = port(digits)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| format!("no ']' after the IPv6 address in {text:?}; {FORM}"))?,
        None if host.contains(':') => {
            return Err(format!("an IPv6 address takes brackets: [{host}]:{port}; {FORM}"))
        }
        None => host,
    };
    if host.is_empty() {
        return Err(format!("no host before ':' in {text:?}; {FORM}"));
    }
    Ok(ServerArg::At {
        host: host.to_owned(),
        port,
    })
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

    /// Seconds each case, the round trip, or each probe of --probe-limits may
    /// take in all.
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Duration,

    /// Run the conformance suite instead of the one round trip.
    #[arg(long)]
    pub suite: bool,

    /// Measure the largest payload the server answers, by bisection, instead
    /// of the round trip (about log2 of --probe-up-to requests).
    #[arg(long, conflicts_with_all = ["suite", "max_length", "strict", "cases", "skips", "junit", "list"])]
    pub probe_limits: bool,

    /// The largest payload --probe-limits sends (accepts suffixes: 99999,
    /// 64KiB, 1MiB) [default: 16MiB].
    #[arg(long, requires = "probe_limits", value_parser = parse_probe_up_to, value_name = "BYTES")]
    pub probe_up_to: Option<usize>,

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

    /// Print the report (or the result of --probe-limits) as one JSON object
    /// on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// List the cases (id, MUST or open, rule) and exit; with --json, as JSON.
    #[arg(long)]
    pub list: bool,
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

/// Parses the bound of `--probe-limits`: the syntax of `--max-length`, and
/// room for at least the smallest probe.
pub fn parse_probe_up_to(text: &str) -> Result<usize, String> {
    let min = poetry::conformance::probe::SMALLEST;
    match parse_bytes(text)? {
        bytes if bytes < min => Err(format!(
            "the smallest probe is {min} bytes (`cummingsify.` and one letter)"
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

/// Parses a network such as `10.0.0.0/8`, or one address (`10.0.0.5`).
pub fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a network (such as 10.0.0.0/8) or an address"))
}

/// Parses a byte count that must be more than 0.
pub fn parse_positive_bytes(text: &str) -> Result<usize, String> {
    match parse_bytes(text)? {
        0 => Err("must be more than 0 bytes".to_owned()),
        bytes => Ok(bytes),
    }
}

/// Parses seconds that must be more than 0: a zero timeout would fail every request.
pub fn parse_positive_secs(text: &str) -> Result<Duration, String> {
    let secs = parse_secs(text)?;
    if secs.is_zero() {
        return Err("must be more than 0 seconds".to_owned());
    }
    Ok(secs)
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

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn servers_parse_with_a_port_always() {
        assert_eq!(parse_server("11000"), Ok(ServerArg::Port(11000)));
        assert_eq!(
            parse_server("localhost:11000"),
            Ok(ServerArg::At {
                host: "localhost".into(),
                port: 11000
            })
        );
        assert_eq!(
            parse_server("[::1]:11000"),
            Ok(ServerArg::At {
                host: "::1".into(),
                port: 11000
            })
        );
        for bad in [
            "localhost:",
            "localhost",
            ":11000",
            "::1",
            "host:0",
            "host:99999",
            "[::1:5",
            "0",
        ] {
            assert!(parse_server(bad).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn zero_is_refused_where_it_means_nothing() {
        assert!(parse_positive_secs("0").is_err());
        assert!(parse_positive_secs("0.0").is_err());
        assert_eq!(parse_positive_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_positive_bytes("0").is_err());
        assert_eq!(parse_positive_bytes("1KiB"), Ok(1024));
    }

    #[test]
    fn color_is_read_before_parsing() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            color_in(&args(&["poetry", "--color", "never", "x"])),
            clap::ColorChoice::Never
        );
        assert_eq!(
            color_in(&args(&["poetry", "x", "--color=always"])),
            clap::ColorChoice::Always
        );
        assert_eq!(
            color_in(&args(&["poetry", "--", "--color=always"])),
            clap::ColorChoice::Auto
        );
    }

    #[test]
    fn transform_names_complete_but_any_name_parses() {
        let cli = parse_from(
            ["poetry", "transform", "cummingsify+no-such-name"]
                .iter()
                .map(OsString::from)
                .collect(),
        );
        let Command::Transform(args) = cli.command else {
            panic!("not transform");
        };
        assert_eq!(args.name, "cummingsify+no-such-name");
        let command = command();
        let name = command
            .find_subcommand("transform")
            .and_then(|t| t.get_arguments().find(|a| a.get_id() == "name"))
            .unwrap();
        let offered: Vec<String> = name
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert!(offered.contains(&"cummingsify".to_owned()), "{offered:?}");
        assert_eq!(offered.len(), CATALOG.len());
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
