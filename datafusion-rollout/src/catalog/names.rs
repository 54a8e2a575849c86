//! Names that become object-store paths must not be able to escape the store.

use crate::error::{Error, Result};

const MAX_NAME_LEN: usize = 128;

/// Dataset and cohort names: SQL identifiers that are also safe as a path segment.
pub fn validate_identifier(kind: &'static str, name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidName {
        kind,
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(&format!("longer than {MAX_NAME_LEN} bytes")));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('_');
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(invalid("it must start with a letter or '_'"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(invalid(&format!(
            "{bad:?} is not allowed; use letters, digits and '_'"
        )));
    }
    Ok(())
}

/// Version ids are user-chosen strings (`'v2'`, `'2026-11-20'`) and become a path segment.
pub fn validate_version_id(id: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidName {
        kind: "version id",
        name: id.to_string(),
        reason: reason.to_string(),
    };
    if id.is_empty() {
        return Err(invalid("it is empty"));
    }
    if id.len() > MAX_NAME_LEN {
        return Err(invalid(&format!("longer than {MAX_NAME_LEN} bytes")));
    }
    if id.starts_with('.') {
        return Err(invalid("it must not start with '.'"));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(invalid(&format!(
            "{bad:?} is not allowed; use letters, digits, '_', '-' and '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in ["", "../x", "a/b", "a\0b", "..", ".hidden", "a b", "x\\y"] {
            assert!(validate_version_id(bad).is_err(), "{bad:?}");
            assert!(validate_identifier("dataset", bad).is_err(), "{bad:?}");
        }
        assert!(validate_version_id(&"v".repeat(200)).is_err());
        assert!(validate_identifier("dataset", "1abc").is_err());
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in ["v1", "2026-11-20", "v1.2.3", "release_7"] {
            validate_version_id(ok).unwrap();
        }
        for ok in ["orders", "_tmp", "Orders2"] {
            validate_identifier("dataset", ok).unwrap();
        }
    }
}
