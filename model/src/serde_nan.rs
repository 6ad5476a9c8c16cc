//! JSON has no NaN: values that are undefined (a metric with no pairs, a missing exogenous value,
//! a member with no calibration origins) are written as `null` and read back as NaN. Without
//! this, `serde_json` writes NaN as `null` and then refuses to read it back as a number, so a
//! model file with one missing value could be published but never loaded.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `f64`: `#[serde(with = "crate::serde_nan")]`.
pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else {
        serializer.serialize_none()
    }
}

/// One `f64`, `null` read as NaN.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A `Vec<f64>`: `#[serde(with = "crate::serde_nan::vec")]`.
pub mod vec {
    use super::*;

    /// Non-finite values as `null`.
    pub fn serialize<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|v| v.is_finite().then_some(*v))
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    /// `null` read as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(deserializer)?
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    }
}

/// A `Vec<Vec<f64>>`: `#[serde(with = "crate::serde_nan::nested")]`.
pub mod nested {
    use super::*;

    /// Non-finite values as `null`.
    pub fn serialize<S: Serializer>(values: &[Vec<f64>], serializer: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| v.is_finite().then_some(*v))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    /// `null` read as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<Option<f64>>>::deserialize(deserializer)?
            .into_iter()
            .map(|row| row.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect())
    }
}
