-- Datasets, their series, observations with their revisions, future-known values, and the log of
-- ingests. Portable SQL: the same text runs on SQLite and PostgreSQL.
--
-- Times are BIGINT: seconds since 1970-01-01 of the naive wall-clock time for calendar
-- frequencies, the step itself for integer-indexed data. Exogenous values are a JSON object of
-- column -> number. A row whose series is '' carries values every series of its dataset shares
-- (the weather of a city) and has no target.

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('change', 0);

CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    frequency TEXT NOT NULL,
    exogenous TEXT NOT NULL,
    last_ingest BIGINT,
    last_change BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE series (
    dataset TEXT NOT NULL,
    id TEXT NOT NULL,
    changed BIGINT NOT NULL,
    PRIMARY KEY (dataset, id)
);
CREATE INDEX series_by_change ON series (dataset, changed);

CREATE TABLE observations (
    dataset TEXT NOT NULL,
    series TEXT NOT NULL,
    t BIGINT NOT NULL,
    target DOUBLE PRECISION,
    exogenous TEXT NOT NULL,
    arrived BIGINT NOT NULL,
    PRIMARY KEY (dataset, series, t)
);

CREATE TABLE revisions (
    dataset TEXT NOT NULL,
    series TEXT NOT NULL,
    t BIGINT NOT NULL,
    target DOUBLE PRECISION,
    exogenous TEXT NOT NULL,
    arrived BIGINT NOT NULL,
    replaced BIGINT NOT NULL
);
CREATE INDEX revisions_by_time ON revisions (dataset, series, t);

CREATE TABLE future_values (
    dataset TEXT NOT NULL,
    series TEXT NOT NULL,
    t BIGINT NOT NULL,
    issued BIGINT NOT NULL,
    exogenous TEXT NOT NULL,
    arrived BIGINT NOT NULL,
    PRIMARY KEY (dataset, series, t, issued)
);

CREATE TABLE ingests (
    dataset TEXT NOT NULL,
    change BIGINT NOT NULL,
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    rows_sent BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    revised BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    PRIMARY KEY (dataset, change)
);
