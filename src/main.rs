use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = poetry::cli::Cli::parse();
    poetry::commands::run(cli)
}
