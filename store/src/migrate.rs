//! Versioned migrations, applied in order at open in one transaction with their records in
//! `civicast_migrations`, so a failed one leaves the store as it was before the open.
//!
//! Written here rather than with sqlx's migrator, whose embedding needs its compile-time macros;
//! this needs only what both engines share. Replicas opening one PostgreSQL store at once take an
//! advisory lock for the duration, so each migration runs once; SQLite serialises writers itself.

use sqlx::{Acquire, Row};

use crate::{Engine, Store, StoreError};

/// Every migration, in order: (version, name, SQL). Never edit one that was released; add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "observations",
        include_str!("../migrations/0001_observations.sql"),
    ),
    (
        2,
        "issued forecasts",
        include_str!("../migrations/0002_issued_forecasts.sql"),
    ),
];

/// The key of PostgreSQL's advisory lock for migrations (any constant the application owns).
const MIGRATION_LOCK: i64 = 0x6369_7669_6361_7374;

/// Applies every migration the store lacks.
pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    let mut conn = store.pool().acquire().await?;
    let mut tx = conn.begin().await?;
    if store.engine() == Engine::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS civicast_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;
    let found: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM civicast_migrations")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    let pending: Vec<(i64, &'static str, &'static str)> =
        MIGRATIONS.iter().copied().filter(|m| m.0 > found).collect();
    for (version, name, sql) in pending {
        let mut applied = Ok(());
        for statement in statements(sql) {
            if let Err(e) = sqlx::query(statement).execute(&mut *tx).await {
                applied = Err(e);
                break;
            }
        }
        if applied.is_ok() {
            applied = sqlx::query(
                "INSERT INTO civicast_migrations (version, name, applied) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(crate::time::now_millis())
            .execute(&mut *tx)
            .await
            .map(|_| ());
        }
        if let Err(source) = applied {
            return Err(StoreError::Migration {
                version,
                name,
                source,
            });
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The statements of a migration file: each ends with `;` at the end of a line, and `--` lines
/// are comments. (PostgreSQL prepares one statement at a time, and sqlx's multi-statement
/// `raw_sql` gives futures that are not `Send`, which a service's tasks must be.)
fn statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in sql
        .match_indices(";\n")
        .chain(std::iter::once((sql.len(), "")))
    {
        let statement = sql[start..i.min(sql.len())].trim();
        start = (i + 2).min(sql.len());
        let code = statement
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if !code.trim().is_empty() {
            out.push(statement);
        }
    }
    out
}

/// The store's latest applied migration.
pub(crate) async fn version(store: &Store) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM civicast_migrations")
            .fetch_one(store.pool())
            .await?
            .try_get(0)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_splits_into_its_statements() {
        let sql = "-- a comment\nCREATE TABLE a (x BIGINT);\nINSERT INTO a VALUES (1);\n-- end\n";
        assert_eq!(
            statements(sql),
            [
                "-- a comment\nCREATE TABLE a (x BIGINT)",
                "INSERT INTO a VALUES (1)"
            ]
        );
        assert_eq!(statements(MIGRATIONS[0].2).len(), 10);
    }
}
