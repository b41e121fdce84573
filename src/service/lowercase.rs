//! Unicode lowercasing, byte-identical to `str::to_lowercase`.

/// `poem` lowercased exactly as `str::to_lowercase` would.
pub fn to_lowercase(poem: &str) -> String {
    poem.to_lowercase()
}
