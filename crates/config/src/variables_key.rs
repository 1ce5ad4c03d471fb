//! The key for sensitive variables (`FERRY_VARIABLES_KEY`), which the API and every worker
//! must share.

use ferry_secrets::SecretKey;

use crate::{ConfigError, Settings};

/// The variable that holds the key: base64 of 32 random bytes (`openssl rand -base64 32`).
pub const VARIABLES_KEY: &str = "FERRY_VARIABLES_KEY";

/// Reads the variables key. It has no default; `how_to_set` completes the sentence
/// "FERRY_VARIABLES_KEY is not set: …" for the service reading it. An unusable key is
/// refused without showing it.
pub fn variables_key(settings: &Settings, how_to_set: &str) -> Result<SecretKey, ConfigError> {
    let encoded = settings.required(VARIABLES_KEY, how_to_set)?;
    SecretKey::from_base64(&encoded).map_err(|error| ConfigError::Refused {
        name: VARIABLES_KEY.to_owned(),
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
    fn a_good_key_is_read() {
        let key = SecretKey::generate_base64().unwrap();
        let settings = Settings::from_pairs([(VARIABLES_KEY, key)]);
        assert!(variables_key(&settings, "unused").is_ok());
    }
}
