//! Sensitive values: encryption at rest and in transit (XChaCha20-Poly1305 with a key from the
//! service's configuration) and masking in text that people read.
//!
//! Architecture invariant: no I/O, no configuration reading. The API stores sensitive
//! variable values encrypted with a [`Keyring`]'s current key and puts them into step jobs
//! still encrypted; a worker decrypts them just before a step runs and masks them in every log
//! line it sends. Keys never appear in `Debug` output.
//!
//! Every value names the key that sealed it (`v2:<key id>:<base64>`, the id derived from the
//! key), so keys can rotate: a keyring holds the current key, which seals, and previous keys,
//! which still open what they sealed. Values written before key ids (`v1:`) are tried with
//! every key of the ring.

mod json_parts;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// The shortest part of a sensitive value that is masked on its own: a line of a multi-line
/// value, or a string or number inside a JSON value.
pub const MIN_LINE_CHARS: usize = 4;

/// What replaces a sensitive value wherever people read text.
pub const MASK: &str = "*****";

/// The prefix of every ciphertext this version writes: `v2:<key id>:`.
const VERSION: &str = "v2:";
/// The prefix of ciphertexts written before they named their key.
const VERSION_WITHOUT_KEY_ID: &str = "v1:";
const NONCE_BYTES: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the variables key must be 32 bytes, base64-encoded (got {0})")]
    BadKey(String),
    #[error("a sensitive value could not be decrypted (wrong key, or the data was altered)")]
    Undecryptable,
    #[error(
        "a sensitive value was encrypted with key {0}, which this service does not have \
         (give it that key in FERRY_VARIABLES_OLD_KEYS)"
    )]
    UnknownKey(KeyId),
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

/// A key's public name: the first 4 bytes of a SHA-256 of the key, in hex. It says which key
/// sealed a value without saying anything usable about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl KeyId {
    fn parse(text: &str) -> Option<KeyId> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 4];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(KeyId(bytes))
    }
}

/// The 256-bit key that encrypts sensitive values.
#[derive(Clone)]
pub struct SecretKey {
    key: chacha20poly1305::Key,
    id: KeyId,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, *****)", self.id)
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
        let digest = Sha256::new()
            .chain_update(b"ferry variables key id\0")
            .chain_update(&bytes)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        Ok(SecretKey {
            key: *chacha20poly1305::Key::from_slice(&bytes),
            id: KeyId(id),
        })
    }

    /// This key's public name.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// A fresh random key, base64-encoded (for dev stacks and tests).
    pub fn generate_base64() -> Result<String, SecretError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| SecretError::Random(error.to_string()))?;
        Ok(STANDARD.encode(bytes))
    }

    /// Encrypts `plaintext`, bound to `context` (the variable's name): a ciphertext moved to
    /// another variable does not decrypt.
    fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|error| SecretError::Random(error.to_string()))?;
        let cipher = XChaCha20Poly1305::new(&self.key);
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
        Ok(format!("{VERSION}{}:{}", self.id, STANDARD.encode(bytes)))
    }

    /// Opens the base64 part of a ciphertext.
    fn open(&self, encoded: &str, context: &str) -> Result<String, SecretError> {
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new(&self.key);
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

/// The keys a service holds: the current one, which seals every new value, and previous ones,
/// which still open the values they sealed until those are sealed again.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl From<SecretKey> for Keyring {
    fn from(current: SecretKey) -> Self {
        Keyring::new(current, Vec::new())
    }
}

impl Keyring {
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|key| key.id != current.id)
            .collect();
        Keyring { current, previous }
    }

    /// The key new values are sealed with.
    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    /// Encrypts `plaintext` with the current key, bound to `context` (the variable's name):
    /// a ciphertext moved to another variable does not decrypt.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        self.current.encrypt(plaintext, context)
    }

    pub fn decrypt(&self, ciphertext: &str, context: &str) -> Result<String, SecretError> {
        if let Some(rest) = ciphertext.strip_prefix(VERSION) {
            let (id, encoded) = rest.split_once(':').ok_or(SecretError::Undecryptable)?;
            let id = KeyId::parse(id).ok_or(SecretError::Undecryptable)?;
            let key = self
                .keys()
                .find(|key| key.id == id)
                .ok_or(SecretError::UnknownKey(id))?;
            return key.open(encoded, context);
        }
        let encoded = ciphertext
            .strip_prefix(VERSION_WITHOUT_KEY_ID)
            .ok_or(SecretError::Undecryptable)?;
        self.keys()
            .find_map(|key| key.open(encoded, context).ok())
            .ok_or(SecretError::Undecryptable)
    }

    /// The key that sealed `ciphertext`, when it names one.
    pub fn key_of(ciphertext: &str) -> Option<KeyId> {
        let rest = ciphertext.strip_prefix(VERSION)?;
        KeyId::parse(rest.split_once(':')?.0)
    }

    fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// Replaces every occurrence of each sensitive value in `text` with [`MASK`]. Longer values
/// are replaced first, so a value that contains another is masked whole. Empty values are
/// ignored (they would match everywhere). Output is masked line by line, so each line of a
/// multi-line value (a private key) is masked on its own too, when it has at least
/// [`MIN_LINE_CHARS`] characters. A value that is a JSON object or array has each string and
/// number inside it masked on its own too (when it has at least [`MIN_LINE_CHARS`]
/// characters), since a template can print one field of it (`#{Creds.password}`).
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
            masked.extend(
                json_parts::leaves(&value)
                    .into_iter()
                    .filter(|part| part.trim().chars().count() >= MIN_LINE_CHARS),
            );
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

    fn secret_key() -> SecretKey {
        SecretKey::from_base64(&SecretKey::generate_base64().unwrap()).unwrap()
    }

    fn key() -> Keyring {
        secret_key().into()
    }

    #[test]
    fn every_value_names_its_key_and_old_keys_still_open_theirs() {
        let old = secret_key();
        let new = secret_key();
        let before = Keyring::from(old.clone());
        let sealed_before = before.encrypt("hunter2", "Db Password").unwrap();
        assert!(sealed_before.starts_with(&format!("v2:{}:", old.id())));
        assert_eq!(Keyring::key_of(&sealed_before), Some(old.id()));

        let rotated = Keyring::new(new.clone(), vec![old.clone()]);
        assert_eq!(
            rotated.decrypt(&sealed_before, "Db Password").unwrap(),
            "hunter2"
        );
        let sealed_after = rotated.encrypt("hunter3", "Db Password").unwrap();
        assert_eq!(Keyring::key_of(&sealed_after), Some(new.id()));

        let without_old = Keyring::from(new);
        assert_eq!(
            without_old.decrypt(&sealed_before, "Db Password"),
            Err(SecretError::UnknownKey(old.id()))
        );
        assert!(
            SecretError::UnknownKey(old.id())
                .to_string()
                .contains(&old.id().to_string())
        );
    }

    #[test]
    fn values_from_before_key_ids_open_with_any_key_of_the_ring() {
        let old = secret_key();
        let sealed = Keyring::from(old.clone()).encrypt("hunter2", "Db").unwrap();
        let legacy = format!("v1:{}", sealed.rsplit_once(':').unwrap().1);
        let rotated = Keyring::new(secret_key(), vec![old]);
        assert_eq!(rotated.decrypt(&legacy, "Db").unwrap(), "hunter2");
        assert_eq!(
            Keyring::from(secret_key()).decrypt(&legacy, "Db"),
            Err(SecretError::Undecryptable)
        );
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
        assert!(matches!(
            self::key().decrypt(&sealed, "Database Password"),
            Err(SecretError::UnknownKey(_))
        ));
        assert_eq!(key.decrypt("v1:AAAA", "x"), Err(SecretError::Undecryptable));
        assert_eq!(
            key.decrypt("v2:zz:AAAA", "x"),
            Err(SecretError::Undecryptable)
        );
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
        let key = secret_key();
        assert_eq!(
            format!("{key:?}"),
            format!("SecretKey({}, *****)", key.id())
        );
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
    fn each_string_and_number_inside_a_json_value_is_masked() {
        let creds = r#"{"user": "deployer", "password": "hunter22", 'pin': 123456, "ok": "no",
            "nested": {"token": "t\u0030ken-1"}, list: ["alpha-one", 7.50], "flag": true}"#;
        let masker = Masker::new([creds]);
        assert_eq!(masker.mask("pw=hunter22"), "pw=*****");
        assert_eq!(
            masker.mask(r#"{"password":"hunter22"}"#),
            r#"{"password":*****}"#
        );
        assert_eq!(masker.mask("user deployer"), "user *****");
        assert_eq!(masker.mask("pin 123456"), "pin *****");
        assert_eq!(masker.mask("t0ken-1 alpha-one"), "***** *****");
        assert_eq!(
            masker.mask("7.50 and 7.5"),
            "***** and 7.5",
            "shorter than 4: left"
        );
        assert_eq!(
            masker.mask("password nested token ok no true"),
            "password nested token ok no true",
            "names, short strings and booleans are not parts"
        );
        assert_eq!(masker.mask(creds), "*****");
        let text = Masker::new(["{not json but braced}"]);
        assert_eq!(text.mask("not json"), "not json");
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
