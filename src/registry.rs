//! The registry: the allowlist of transforms a client may call, by exact name.
//!
//! Clients send any name they like; a name that is not registered here reaches
//! nothing. A request may chain names with `+` (`cummingsify+reverse-lines`),
//! applied left to right, and fails as a whole when any part is unknown.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::service;

/// Separates the names of a chain.
pub const CHAIN_SEPARATOR: char = '+';

/// A transform's implementation as the registry calls it.
pub type TransformFn = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Why the registry could not transform a poem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name (or a part of the chain) is not registered.
    #[error("unknown transform {name:?}")]
    UnknownTransform {
        /// The unknown name (shortened for messages).
        name: String,
    },
    /// The transform failed (returned an error or panicked).
    #[error("transform {name:?} failed: {reason}")]
    TransformFailed {
        /// The transform that failed.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// One registered transform; cheap to clone, so a resolved chain can be
/// carried to another thread.
#[derive(Clone)]
pub struct Entry(Arc<EntryData>);

struct EntryData {
    name: String,
    description: String,
    apply: TransformFn,
}

impl Entry {
    /// The name clients call it by.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// A one-line description.
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// Transforms `poem`. A transform that panics is reported as failed: one
    /// bad request must not take down the connection's task, let alone the server.
    pub fn apply(&self, poem: &str) -> Result<String, RegistryError> {
        catch_unwind(AssertUnwindSafe(|| (self.0.apply)(poem)))
            .unwrap_or_else(|panic| Err(panic_message(&*panic)))
            .map_err(|reason| RegistryError::TransformFailed {
                name: self.0.name.clone(),
                reason,
            })
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.0.name)
            .finish_non_exhaustive()
    }
}

/// Names mapped to transforms; the only way from a request to the service.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl Registry {
    /// A registry with no transforms.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The registry of every transform this build serves.
    pub fn standard() -> Self {
        let mut registry = Self::empty();
        for transform in service::CATALOG {
            let apply = transform.apply;
            registry.register(transform.name, transform.description, move |poem| Ok(apply(poem)));
        }
        registry
    }

    /// Adds (or replaces) a transform under `name`.
    pub fn register<F>(&mut self, name: &str, description: &str, f: F) -> &mut Self
    where
        F: Fn(&str) -> Result<String, String> + Send + Sync + 'static,
    {
        let entry = Entry(Arc::new(EntryData {
            name: name.to_owned(),
            description: description.to_owned(),
            apply: Arc::new(f),
        }));
        self.entries.insert(name.to_owned(), entry);
        self
    }

    /// Every registered transform, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entries a (possibly chained) name stands for, in order, or the
    /// first unknown part.
    pub fn resolve(&self, name: &str) -> Result<Vec<Entry>, RegistryError> {
        self.lookup(name).map(|entry| entry.cloned()).collect()
    }

    /// The transform registered under `name` (a single name, not a chain).
    pub fn get(&self, name: &str) -> Result<&Entry, RegistryError> {
        self.entries
            .get(name)
            .ok_or_else(|| RegistryError::UnknownTransform {
                name: crate::request::shorten(name).to_owned(),
            })
    }

    /// Each part of a (possibly chained) name, looked up in turn, without
    /// collecting them: looking a chain up twice costs less than a `Vec`.
    pub fn lookup<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = Result<&'a Entry, RegistryError>> + use<'a, 'n> {
        name.split(CHAIN_SEPARATOR).map(|part| {
            self.entries
                .get(part)
                .ok_or_else(|| RegistryError::UnknownTransform {
                    name: crate::request::shorten(part).to_owned(),
                })
        })
    }

    /// Transforms `poem` with the transform (or chain, of any length) called
    /// `name`, every part known before any runs. The server applies chains
    /// step by step itself, with its limits between steps.
    pub fn apply(&self, name: &str, poem: &str) -> Result<String, RegistryError> {
        let chain = self.resolve(name)?;
        let mut text: Option<String> = None;
        for entry in &chain {
            text = Some(entry.apply(text.as_deref().unwrap_or(poem))?);
        }
        Ok(text.unwrap_or_else(|| poem.to_owned()))
    }

    /// The registered name closest to `name`, if any is close enough to suggest.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        self.names()
            .map(|known| (strsim::jaro_winkler(name, known), known))
            .filter(|&(score, _)| score > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, known)| known)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_names_are_reachable() {
        let registry = Registry::standard();
        assert_eq!(
            registry.apply("cummingsify", "HERE IS MY POEM").unwrap(),
            "here is my poem"
        );
        for name in [
            "",
            "Cummingsify",
            "cummingsify ",
            "xform_cummingsify",
            "__init__",
            "lower",
            "to_lowercase",
        ] {
            assert_eq!(
                registry.apply(name, "X"),
                Err(RegistryError::UnknownTransform {
                    name: name.to_owned()
                }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn chains_apply_left_to_right_and_fail_whole() {
        let mut registry = Registry::standard();
        registry.register("exclaim", "adds a bang", |p| Ok(format!("{p}!")));
        registry.register("shout", "uppercase", |p| Ok(p.to_uppercase()));
        assert_eq!(registry.apply("exclaim+cummingsify", "A").unwrap(), "a!");
        assert_eq!(registry.apply("cummingsify+shout+exclaim", "a").unwrap(), "A!");
        assert!(matches!(
            registry.apply("cummingsify+nope", "A"),
            Err(RegistryError::UnknownTransform { name }) if name == "nope"
        ));
        assert!(matches!(
            registry.apply("cummingsify+", "A"),
            Err(RegistryError::UnknownTransform { .. })
        ));
    }

    #[test]
    fn failures_and_panics_are_transform_failed() {
        let mut registry = Registry::empty();
        registry.register("fails", "always fails", |_| Err("no rhyme found".into()));
        registry.register("boom", "always panics", |_| panic!("kaboom"));
        assert_eq!(
            registry.apply("fails", "x"),
            Err(RegistryError::TransformFailed {
                name: "fails".into(),
                reason: "no rhyme found".into()
            })
        );
        let err = registry.apply("boom", "x").unwrap_err();
        assert!(
            matches!(&err, RegistryError::TransformFailed { name, reason } if name == "boom" && reason.contains("kaboom"))
        );
    }

    #[test]
    fn suggests_the_nearest_name() {
        let registry = Registry::standard();
        assert_eq!(registry.suggest("cummingsfy"), Some("cummingsify"));
        assert_eq!(registry.suggest("zzzzzz"), None);
    }
}
