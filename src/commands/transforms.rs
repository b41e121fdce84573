use std::process::ExitCode;

use crate::registry::{Registry, CHAIN_SEPARATOR};

pub fn run() -> anyhow::Result<ExitCode> {
    let registry = Registry::standard();
    let width = registry.names().map(str::len).max().unwrap_or(0);
    for entry in registry.entries() {
        println!("{:width$}  {}", entry.name(), entry.description());
    }
    println!();
    println!("Chain transforms with '{CHAIN_SEPARATOR}', applied left to right:");
    println!("  echo 'HERE IS MY POEM' | poetry transform cummingsify");
    Ok(ExitCode::SUCCESS)
}
