use std::io::Write;
use std::process::ExitCode;

use poetry::registry::Registry;

/// Prints the list alone, one transform a line, so that `| cut -d' ' -f1`
/// gets the names; the examples live in `--help`.
pub fn run() -> anyhow::Result<ExitCode> {
    let registry = Registry::standard();
    let width = registry.names().map(str::len).max().unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    for entry in registry.entries() {
        writeln!(stdout, "{:width$}  {}", entry.name(), entry.description())?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
