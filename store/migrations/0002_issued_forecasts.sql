-- Forecasts as they were issued, one per series, origin and model version, to score them when
-- their actuals arrive. The forecast is base64 of little-endian f32: the horizon's means, then
-- one row per quantile level of the evaluation protocol (0.025 ... 0.975). scale and level are
-- MASE's and sCRPS's scales of the history up to the origin.

CREATE TABLE issued_forecasts (
    dataset TEXT NOT NULL,
    series TEXT NOT NULL,
    origin BIGINT NOT NULL,
    version TEXT NOT NULL,
    model TEXT NOT NULL,
    issued BIGINT NOT NULL,
    horizon BIGINT NOT NULL,
    scale DOUBLE PRECISION,
    level DOUBLE PRECISION,
    forecast TEXT NOT NULL,
    PRIMARY KEY (dataset, series, version, origin)
);
