//! Sensitive values: encryption at rest and in transit (XChaCha20-Poly1305 with a key from the
//! service's configuration) and masking in text that people read.
//!
//! Architecture invariant: no I/O, no configuration reading. The API stores sensitive
//! variable values encrypted with [`SecretKey`] and puts them into step jobs still encrypted;
//! a worker decrypts them just before a step runs and masks them in every log line it sends.
//! The key never appears in `Debug` output.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The shortest line of a multi-line sensitive value that is masked on its own.
pub const MIN_LINE_CHARS: usize = 4;

/// What replaces a sensitive value wherever people read text.
pub const MASK: &str = "*****";

/// The prefix of every ciphertext this version writes, so a later format can coexist.
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the variables key must be 32 bytes, base64-encoded (got {0})")]
    BadKey(String),
    #[error("a sensitive value could not be decrypted (wrong key, or the data was altered)")]
    Undecryptable,
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

/// The 256-bit key that encrypts sensitive values.
#[derive(Clone)]
pub struct SecretKey(chacha20poly1305::Key);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(*****)")
    }
}

impl SecretKey {
    /// Reads a key written as base64 of 32 bytes (`openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| SecretError::BadKey("text that is not base64".to_owned()))?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey(format!("{} bytes", bytes.len())));
        }
        Ok(SecretKey(*chacha20poly1305::Key::from_slice(&bytes)))
    }

    /// A fresh random key, base64-encoded (for dev stacks and tests).
    pub fn generate_base64() -> Result<String, SecretError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| SecretError::Random(error.to_string()))?;
        Ok(STANDARD.encode(bytes))
    }

    /// Encrypts `plaintext`, bound to `context` (the variable's name): a ciphertext moved to
    /// another variable does not decrypt.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|error| SecretError::Random(error.to_string()))?;
        let cipher = XChaCha20Poly1305::new(&self.0);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.to_lowercase().as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(bytes)))
    }

    pub fn decrypt(&self, ciphertext: &str, context: &str) -> Result<String, SecretError> {
        let encoded = ciphertext
            .strip_prefix(VERSION)
            .ok_or(SecretError::Undecryptable)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new(&self.0);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.to_lowercase().as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

/// Replaces every occurrence of each sensitive value in `text` with [`MASK`]. Longer values
/// are replaced first, so a value that contains another is masked whole. Empty values are
/// ignored (they would match everywhere). Output is masked line by line, so each line of a
/// multi-line value (a private key) is masked on its own too, when it has at least
/// [`MIN_LINE_CHARS`] characters.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    values: Vec<String>,
}

impl Masker {
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut masked: Vec<String> = Vec::new();
        for value in values.into_iter().map(Into::into) {
            if value.contains('\n') {
                masked.extend(
                    value
                        .lines()
                        .map(|line| line.trim_end_matches('\r'))
                        .filter(|line| line.trim().chars().count() >= MIN_LINE_CHARS)
                        .map(str::to_owned),
                );
            }
            if !value.is_empty() {
                masked.push(value);
            }
        }
        masked.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        masked.dedup();
        Masker { values: masked }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for value in &self.values {
            if masked.contains(value.as_str()) {
                masked = masked.replace(value.as_str(), MASK);
            }
        }
        masked
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_base64(&SecretKey::generate_base64().unwrap()).unwrap()
    }

    #[test]
    fn values_round_trip_and_differ_each_time() {
        let key = key();
        let first = key.encrypt("hunter2", "Database Password").unwrap();
        let second = key.encrypt("hunter2", "Database Password").unwrap();
        assert_ne!(first, second, "a fresh nonce each time");
        assert!(!first.contains("hunter2"));
        assert_eq!(key.decrypt(&first, "database password").unwrap(), "hunter2");
    }

    #[test]
    fn a_value_moved_to_another_name_or_key_does_not_decrypt() {
        let key = key();
        let sealed = key.encrypt("hunter2", "Database Password").unwrap();
        assert_eq!(
            key.decrypt(&sealed, "Other"),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(
            self::key().decrypt(&sealed, "Database Password"),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(key.decrypt("v1:AAAA", "x"), Err(SecretError::Undecryptable));
        assert_eq!(key.decrypt("plain", "x"), Err(SecretError::Undecryptable));
    }

    #[test]
    fn bad_keys_are_refused_and_keys_never_print() {
        assert!(matches!(
            SecretKey::from_base64("short"),
            Err(SecretError::BadKey(_))
        ));
        assert!(matches!(
            SecretKey::from_base64(&STANDARD.encode([0u8; 16])),
            Err(SecretError::BadKey(_))
        ));
        assert_eq!(format!("{:?}", key()), "SecretKey(*****)");
    }

    #[test]
    fn masking_replaces_every_occurrence_longest_first() {
        let masker = Masker::new(["hunter2", "hunter2-extended", ""]);
        assert_eq!(
            masker.mask("pw=hunter2-extended and hunter2, hunter2"),
            "pw=***** and *****, *****"
        );
        assert_eq!(masker.mask("nothing secret"), "nothing secret");
        assert!(Masker::new([""]).is_empty());
    }

    #[test]
    fn each_line_of_a_multi_line_value_is_masked() {
        let key = "-----BEGIN KEY-----\nMIIEabcdef\nok\n-----END KEY-----";
        let masker = Masker::new([key]);
        assert_eq!(masker.mask("MIIEabcdef"), "*****");
        assert_eq!(masker.mask("-----END KEY-----"), "*****");
        assert_eq!(masker.mask("ok"), "ok", "short lines are left alone");
        assert_eq!(masker.mask(key), "*****");
    }
}
