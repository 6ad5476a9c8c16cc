//! API keys with roles, checked in constant time.
//!
//! Keys are never stored: the configuration holds their SHA-256, the presented key is hashed and
//! compared with every configured hash using `subtle`'s constant-time equality, and the loop does
//! not stop at a match, so response time says nothing about how close a guess was or which key
//! matched. A `read` key may forecast and read series and models; an `admin` key may also reload.
//!
//! The presented key is hashed on every request, on purpose. SHA-256 of a short key takes well
//! under a microsecond (with the CPU's SHA extensions, where present): profiling the forecast route
//! under load put it below half a percent of the server's CPU time. A cache of verified keys would
//! save nothing measurable and would keep caller-chosen strings in a map whose lookup time depends
//! on them.

use std::fmt;
use std::str::FromStr;

use axum::http::HeaderMap;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::config::ApiKey;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Forecasts, series, models.
    Read,
    /// Everything `read` may, plus reloading models.
    Admin,
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("role {s:?} is not \"read\" or \"admin\"")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Admin => "admin",
        })
    }
}

/// The configured keys, as hash bytes.
#[derive(Clone, Debug, Default)]
pub struct KeyStore {
    keys: Vec<([u8; 32], String, Role)>,
}

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name from the configuration.
    pub name: String,
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
                .filter_map(|k| Some((decode_hex(&k.sha256)?, k.name.clone(), k.role)))
                .collect(),
        }
    }

    /// The caller whose key is in `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))?;
        let hash = sha256(presented.trim().as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KeyStore {
        KeyStore::new(&[
            ApiKey {
                name: "portal".into(),
                role: Role::Read,
                sha256: hash_key("r-key"),
            },
            ApiKey {
                name: "ops".into(),
                role: Role::Admin,
                sha256: hash_key("a-key"),
            },
        ])
    }

    #[test]
    fn finds_the_caller_by_bearer_or_header_key() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer a-key".parse().unwrap());
        assert_eq!(store().caller(&headers).unwrap().role, Role::Admin);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "r-key".parse().unwrap());
        assert_eq!(store().caller(&headers).unwrap().name, "portal");
    }

    #[test]
    fn refuses_unknown_missing_and_near_miss_keys() {
        for value in ["Bearer r-ke", "Bearer ", "r-key", "Basic r-key"] {
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
