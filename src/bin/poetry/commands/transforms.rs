use std::process::ExitCode;

use poetry::registry::{Registry, CHAIN_SEPARATOR};

/// The one-line poem the examples are shown on.
const EXAMPLE_POEM: &str = "Slow Rain on the Café Roof";

/// Names shown on the example poem; a chain shows how `+` composes.
const EXAMPLES: &[&str] = &["shout", "reverse-words", "pig-latin", "title+reverse-words"];

pub fn run() -> anyhow::Result<ExitCode> {
    let registry = Registry::standard();
    let width = registry.names().map(str::len).max().unwrap_or(0);
    for entry in registry.entries() {
        println!("{:width$}  {}", entry.name(), entry.description());
    }

    println!();
    println!("Examples, on the poem \"{EXAMPLE_POEM}\":");
    let width = EXAMPLES.iter().map(|name| name.len()).max().unwrap_or(0);
    for name in EXAMPLES {
        // Computed, not written down, so the help can never drift from the code.
        println!("  {name:width$}  {}", registry.apply(name, EXAMPLE_POEM)?);
    }

    println!();
    println!("Chain transforms with '{CHAIN_SEPARATOR}', applied left to right:");
    println!("  poetry transform cummingsify{CHAIN_SEPARATOR}reverse-lines poem.txt");
    println!("  echo 'HERE IS MY POEM' | poetry transform cummingsify");
    Ok(ExitCode::SUCCESS)
}
