//! API keys with roles, checked in constant time.
//!
//! Keys are never stored: the configuration holds their SHA-256, the presented key is hashed and
//! compared with every configured hash using `subtle`'s constant-time equality, and the loop does
//! not stop at a match, so response time says nothing about how close a guess was or which key
//! matched. A `read` key may forecast and read series and models; an `admin` key may also reload.
//!
//! Keys are at least [`MIN_KEY_LENGTH`] characters: `hash-key` refuses a shorter one, and a
//! shorter presented key is refused before it is hashed, so a short key configured by hand can
//! never be used. `Authorization: Bearer` is matched case-insensitively (RFC 9110 §11.1).
//!
//! The presented key is hashed on every request, on purpose. SHA-256 of a short key takes well
//! under a microsecond (with the CPU's SHA extensions, where present): profiling the forecast route
//! under load put it below half a percent of the server's CPU time. A cache of verified keys would
//! save nothing measurable and would keep caller-chosen strings in a map whose lookup time depends
//! on them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::HeaderMap;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// One API key, as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Who holds it (logged, never the key).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the key (`civicast-serve hash-key` prints it, reading the key from standard input).
    pub sha256: String,
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Forecasts, series, models.
    Read,
    /// Everything `read` may, plus sending observations and future-known values: the role of
    /// the city systems that feed the store.
    Write,
    /// Everything `write` may, plus reloading models.
    Admin,
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "role {s:?} is not \"read\", \"write\" or \"admin\""
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        })
    }
}

/// Shortest API key accepted: 20 characters of a random key (hex or base64) carry at least
/// 80 bits, beyond guessing at any request rate a service survives; `scripts/start` makes 48 hex
/// characters.
pub const MIN_KEY_LENGTH: usize = 20;

/// Longest API key accepted: a header carrying more is not a key, and is not worth hashing.
pub const MAX_KEY_LENGTH: usize = 512;

/// Why a key cannot be used.
pub fn check_key(key: &str) -> Result<(), String> {
    let length = key.chars().count();
    if length < MIN_KEY_LENGTH {
        return Err(format!(
            "the key has {length} characters; use at least {MIN_KEY_LENGTH} (e.g. head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')"
        ));
    }
    if length > MAX_KEY_LENGTH {
        return Err(format!(
            "the key has {length} characters; at most {MAX_KEY_LENGTH}"
        ));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the key contains whitespace or control characters".into());
    }
    Ok(())
}

/// The configured keys, as hash bytes.
#[derive(Clone, Debug, Default)]
pub struct KeyStore {
    keys: Vec<([u8; 32], Arc<str>, Role)>,
}

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name from the configuration.
    pub name: Arc<str>,
    /// Its role.
    pub role: Role,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Hex SHA-256 of a key, as the configuration stores it.
pub fn hash_key(key: &str) -> String {
    sha256(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl KeyStore {
    /// The store of these configured keys (hashes were checked when the configuration loaded;
    /// a malformed one can never match).
    pub fn new(keys: &[ApiKey]) -> Self {
        KeyStore {
            keys: keys
                .iter()
                .filter_map(|k| Some((decode_hex(&k.sha256)?, Arc::from(k.name.as_str()), k.role)))
                .collect(),
        }
    }

    /// The caller whose key is in `Authorization: Bearer <key>` (the scheme in any case) or
    /// `X-API-Key: <key>`.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))?
            .trim();
        if !(MIN_KEY_LENGTH..=MAX_KEY_LENGTH).contains(&presented.len()) {
            return None;
        }
        let hash = sha256(presented.as_bytes());
        let mut found = None;
        for (stored, name, role) in &self.keys {
            if bool::from(stored.ct_eq(&hash)) {
                found = Some(Caller {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found
    }
}

/// The token of `Bearer <token>`: the scheme is case-insensitive and followed by one or more
/// spaces (RFC 9110 §11.4, RFC 6750 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KeyStore {
        KeyStore::new(&[
            ApiKey {
                name: "portal".into(),
                role: Role::Read,
                sha256: hash_key("r-key-of-twenty-chars"),
            },
            ApiKey {
                name: "ops".into(),
                role: Role::Admin,
                sha256: hash_key("a-key-of-twenty-chars"),
            },
        ])
    }

    #[test]
    fn finds_the_caller_by_bearer_or_header_key() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "Bearer a-key-of-twenty-chars".parse().unwrap(),
        );
        assert_eq!(store().caller(&headers).unwrap().role, Role::Admin);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "r-key-of-twenty-chars".parse().unwrap());
        assert_eq!(&*store().caller(&headers).unwrap().name, "portal");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "bearer a-key-of-twenty-chars",
            "BEARER a-key-of-twenty-chars",
            "BeArEr   a-key-of-twenty-chars",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.parse().unwrap());
            assert_eq!(
                store().caller(&headers).unwrap().role,
                Role::Admin,
                "{value}"
            );
        }
    }

    #[test]
    fn a_short_key_is_refused_even_when_its_hash_is_configured() {
        let short = KeyStore::new(&[ApiKey {
            name: "short".into(),
            role: Role::Admin,
            sha256: hash_key("test"),
        }]);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "test".parse().unwrap());
        assert!(short.caller(&headers).is_none());
        assert!(check_key("test").unwrap_err().contains("at least 20"));
        assert!(check_key("a-key-of-twenty-chars").is_ok());
        assert!(check_key("a key of twenty chars").is_err());
    }

    #[test]
    fn refuses_unknown_missing_and_near_miss_keys() {
        for value in [
            "Bearer r-key-of-twenty-char",
            "Bearer ",
            "r-key-of-twenty-chars",
            "Basic r-key-of-twenty-chars",
            "Bearerr-key-of-twenty-chars",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.parse().unwrap());
            assert!(store().caller(&headers).is_none(), "{value}");
        }
        assert!(store().caller(&HeaderMap::new()).is_none());
    }

    #[test]
    fn hashes_keys_as_hex_sha256() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
