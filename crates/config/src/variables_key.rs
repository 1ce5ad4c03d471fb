//! The keys for sensitive variables (`FERRY_VARIABLES_KEY`, and `FERRY_VARIABLES_OLD_KEYS`
//! while a key rotates), which the API and every worker must share.

use ferry_secrets::{Keyring, SecretKey};

use crate::{ConfigError, Settings};

/// The variable that holds the key: base64 of 32 random bytes (`openssl rand -base64 32`).
pub const VARIABLES_KEY: &str = "FERRY_VARIABLES_KEY";

/// Previous keys, still accepted for values they sealed: base64 keys separated by commas or
/// white space.
pub const VARIABLES_OLD_KEYS: &str = "FERRY_VARIABLES_OLD_KEYS";

/// Reads the variables keys. The current key has no default; `how_to_set` completes the
/// sentence "FERRY_VARIABLES_KEY is not set: …" for the service reading it. An unusable key
/// is refused without showing it.
pub fn variables_key(settings: &Settings, how_to_set: &str) -> Result<Keyring, ConfigError> {
    let encoded = settings.required(VARIABLES_KEY, how_to_set)?;
    let current = parse_key(VARIABLES_KEY, &encoded)?;
    let previous = settings
        .variable(VARIABLES_OLD_KEYS)
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|encoded| !encoded.is_empty())
        .map(|encoded| parse_key(VARIABLES_OLD_KEYS, encoded))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Keyring::new(current, previous))
}

fn parse_key(name: &str, encoded: &str) -> Result<SecretKey, ConfigError> {
    SecretKey::from_base64(encoded).map_err(|error| ConfigError::Refused {
        name: name.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_says_how_to_set_it() {
        let settings = Settings::from_pairs::<&str, &str>([]);
        let error = variables_key(&settings, "give the worker the API's key").unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_VARIABLES_KEY is not set: give the worker the API's key"
        );
    }

    #[test]
    fn a_bad_key_is_refused_without_showing_it() {
        let settings = Settings::from_pairs([(VARIABLES_KEY, "bm90LWEta2V5LXNlY3JldA==")]);
        let error = variables_key(&settings, "unused").unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_VARIABLES_KEY: the variables key must be 32 bytes, base64-encoded (got 16 bytes)"
        );
    }

    #[test]
    fn old_keys_are_read_for_values_they_sealed() {
        let old = SecretKey::generate_base64().unwrap();
        let sealed = Keyring::from(SecretKey::from_base64(&old).unwrap())
            .encrypt("hunter2", "Db")
            .unwrap();
        let settings = Settings::from_pairs([
            (VARIABLES_KEY, SecretKey::generate_base64().unwrap()),
            (VARIABLES_OLD_KEYS, format!(" {old}, ")),
        ]);
        let keyring = variables_key(&settings, "unused").unwrap();
        assert_eq!(keyring.decrypt(&sealed, "Db").unwrap(), "hunter2");
        let bad = Settings::from_pairs([
            (VARIABLES_KEY, SecretKey::generate_base64().unwrap()),
            (VARIABLES_OLD_KEYS, "c2hvcnQ=".to_owned()),
        ]);
        let error = variables_key(&bad, "unused").unwrap_err().to_string();
        assert!(error.starts_with("FERRY_VARIABLES_OLD_KEYS: "), "{error}");
    }

    #[test]
    fn a_good_key_is_read() {
        let key = SecretKey::generate_base64().unwrap();
        let settings = Settings::from_pairs([(VARIABLES_KEY, key)]);
        assert!(variables_key(&settings, "unused").is_ok());
    }
}
