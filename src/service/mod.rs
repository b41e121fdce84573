//! The transform service: pure functions from poem to poem.
//!
//! Nothing here knows about sockets, framing or which names clients may use;
//! the registry decides what is exposed, and the protocol adapters carry bytes.

mod lowercase;

/// One transform the service offers, with what a person needs to pick it.
#[derive(Debug, Clone, Copy)]
pub struct Transform {
    /// The name it is offered under.
    pub name: &'static str,
    /// What it does, in one line.
    pub description: &'static str,
    /// The function itself.
    pub apply: fn(&str) -> String,
}

/// Every transform the service offers.
pub const CATALOG: &[Transform] = &[Transform {
    name: "cummingsify",
    description: "lowercase every letter, as e. e. cummings might",
    apply: cummingsify,
}];

/// Lowercases the poem with Unicode rules, as `str::to_lowercase` does.
pub fn cummingsify(poem: &str) -> String {
    lowercase::to_lowercase(poem)
}
