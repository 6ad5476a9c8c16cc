//! # civicast-store
//!
//! The observation store: per dataset, its series, their observations (target and exogenous
//! columns), the revisions that corrected values replaced, values every series shares (a city's
//! weather, sent once per time step) and future-known values with the time they were issued.
//! The service ingests into it and forecasts each series from its latest stored observation;
//! `civicast-train import` loads dataset files into it.
//!
//! One interface, two engines: an embedded SQLite file by default (created and migrated at open,
//! nothing to install) and PostgreSQL when a `postgres://` URL is configured, so that several
//! service replicas can share one store. Both run the same SQL, the same versioned migrations
//! ([`migrate`]) and the same tests. The engines are reached through [`sqlx`]'s `Any` driver:
//! a well-kept async driver for both with connection pooling and transactions, so callers never
//! ask which engine is behind a [`Store`]. The query macros are not used (they need a database
//! at compile time); queries are plain strings with `$n` parameters, which both engines read.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a transaction that
//! committed survives a crash of the process or the machine; PostgreSQL's defaults already do.
//! A request is one transaction ([`Store::ingest`]): all its rows or none.

pub mod accuracy;
mod check;
mod future;
mod ingest;
mod issued;
mod migrate;
mod read;
mod time;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use check::{
    CheckLimits, DatasetRules, RawRow, RowError, check_rows, parse_csv_rows, parse_json_rows,
};
pub use future::FutureRow;
pub use ingest::{IngestSummary, Row, SharedRow};
pub use issued::IssuedForecast;
pub use read::{DatasetRecord, Freshness, Observation};
pub use time::{decode_time, encode_time};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configured URL is not one this store opens.
    #[error("store URL {url:?}: {reason}")]
    Url {
        /// The URL (without its password).
        url: String,
        /// Why.
        reason: String,
    },
    /// The database refused or failed an operation.
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed; the store was left at the version before it.
    #[error("store migration {version} ({name}): {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// Its name.
        name: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// The store was written by a newer civicast (a migration this build does not know).
    #[error("store is at migration {found}, newer than this build's {known}: upgrade civicast")]
    TooNew {
        /// The store's latest migration.
        found: i64,
        /// This build's latest.
        known: i64,
    },
    /// A dataset the operation needs is not in the store.
    #[error("dataset {0:?} is not in the store (import it first: civicast-train import)")]
    UnknownDataset(String),
    /// A dataset is already in the store with another frequency or other columns.
    #[error("dataset {name:?} is in the store with {stored}, not {given}")]
    DatasetMismatch {
        /// The dataset.
        name: String,
        /// What the store has.
        stored: String,
        /// What was given.
        given: String,
    },
    /// A stored value could not be read back (a row written by something else).
    #[error("store: corrupt {what}: {reason}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why it is unreadable.
        reason: String,
    },
}

/// The database engine behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Connections a pool keeps at most. SQLite serialises writers anyway; a few connections let
/// reads go on beside a write (WAL). PostgreSQL serves several replicas, each with its own pool.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;

/// How long a connection may be waited for before an operation fails (instead of hanging a
/// request on a lost database).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// An open, migrated store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    url: String,
}

impl Store {
    /// Opens the store at `location`: a `postgres://` or `postgresql://` URL, a `sqlite:` URL, or
    /// a file path (a SQLite file, created with its folder if missing). Applies any migration the
    /// store lacks before returning.
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, engine) = normalise(location)?;
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| url_error(location, e.to_string()))?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let pool = match engine {
            Engine::Sqlite => {
                pool_options
                    .max_connections(SQLITE_CONNECTIONS)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Engine::Postgres => {
                pool_options
                    .max_connections(POSTGRES_CONNECTIONS)
                    .connect_with(options)
                    .await?
            }
        };
        let store = Store {
            pool,
            engine,
            url: redact(location),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The engine behind it.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Where it is, with any password removed (for logs).
    pub fn location(&self) -> &str {
        &self.url
    }

    /// The latest migration applied to it.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrate::version(self).await
    }

    /// Closes every connection (waits for operations in progress).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The URL sqlx opens for `location`, and its engine.
fn normalise(location: &str) -> Result<(String, Engine), StoreError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok((location.to_owned(), Engine::Postgres));
    }
    let path = match location.strip_prefix("sqlite://") {
        Some(rest) => rest,
        None => location.strip_prefix("sqlite:").unwrap_or(location),
    };
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.contains("://") {
        return Err(url_error(
            location,
            "expected postgres://user:password@host/database, sqlite:path or a file path".into(),
        ));
    }
    if path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| url_error(location, format!("cannot create its folder: {e}")))?;
    }
    Ok((format!("sqlite://{path}?mode=rwc"), Engine::Sqlite))
}

fn url_error(location: &str, reason: String) -> StoreError {
    StoreError::Url {
        url: redact(location),
        reason,
    }
}

/// `location` without the password of a `user:password@` part.
fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => location.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_log() {
        assert_eq!(
            redact("postgres://civicast:s3cret@db.local:5432/civicast"),
            "postgres://civicast:***@db.local:5432/civicast"
        );
        assert_eq!(redact("var/store.db"), "var/store.db");
        assert_eq!(
            redact("postgres://civicast@db/x"),
            "postgres://civicast@db/x"
        );
    }

    #[test]
    fn a_path_is_a_sqlite_file_and_a_foreign_scheme_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/store.db");
        let (url, engine) = normalise(path.to_str().unwrap()).unwrap();
        assert_eq!(engine, Engine::Sqlite);
        assert!(url.starts_with("sqlite://") && url.ends_with("?mode=rwc"));
        assert!(path.parent().unwrap().is_dir());
        let err = normalise("mysql://x/y").unwrap_err().to_string();
        assert!(err.contains("expected postgres://"), "{err}");
    }
}
