//! Naming ETS models: the component kinds, [`EtsModel`] ("MAdM") and the specifications with
//! `Z` ("choose") that [`super::EtsParams::from_spec`] accepts, in R's and StatsForecast's
//! notation so names in reports can be compared with theirs directly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// How errors enter: added to the forecast, or as a proportion of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `y = forecast + e`.
    Additive,
    /// `y = forecast (1 + e)`.
    Multiplicative,
}

/// The trend component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendKind {
    /// No trend.
    None,
    /// Additive (linear) trend.
    Additive,
    /// Additive trend damped by `phi`.
    DampedAdditive,
}

/// The seasonal component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeasonKind {
    /// No season.
    None,
    /// Seasonal effects added to the level.
    Additive,
    /// Seasonal effects multiplying the level.
    Multiplicative,
}

/// One ETS model, written as R and StatsForecast do: error, trend (`d` when damped), season,
/// e.g. `"ANN"`, `"MAdM"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EtsModel {
    /// The error type.
    pub error: ErrorKind,
    /// The trend type.
    pub trend: TrendKind,
    /// The season type.
    pub season: SeasonKind,
}

impl fmt::Display for EtsModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = match self.error {
            ErrorKind::Additive => "A",
            ErrorKind::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendKind::None => "N",
            TrendKind::Additive => "A",
            TrendKind::DampedAdditive => "Ad",
        };
        let s = match self.season {
            SeasonKind::None => "N",
            SeasonKind::Additive => "A",
            SeasonKind::Multiplicative => "M",
        };
        write!(f, "{e}{t}{s}")
    }
}

/// A model specification with `Z` ("choose") allowed in any position, parsed from strings such
/// as `"ZZZ"`, `"ZZN"`, `"MAdM"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub errors: Vec<ErrorKind>,
    pub trends: Vec<TrendKind>,
    pub seasons: Vec<SeasonKind>,
    /// Parameters StatsForecast counts for its "too short" check: 2 per fixed component, 1 for
    /// a fixed damping choice.
    pub fixed_parameters: usize,
}

pub(crate) fn parse_spec(spec: &str) -> Result<Spec, ModelError> {
    let bad = || ModelError::BadParameter {
        name: "ets model",
        value: format!("{spec:?}"),
        expected: "error A|M|Z, trend N|A|Ad|Z, season N|A|M|Z (e.g. \"ZZZ\", \"MAdM\")",
    };
    let mut chars = spec.trim().chars().peekable();
    let errors = match chars.next() {
        Some('A') => vec![ErrorKind::Additive],
        Some('M') => vec![ErrorKind::Multiplicative],
        Some('Z') => vec![ErrorKind::Additive, ErrorKind::Multiplicative],
        _ => return Err(bad()),
    };
    let mut fixed_parameters = 0;
    let trends = match chars.next() {
        Some('N') => vec![TrendKind::None],
        Some('A') if chars.peek() == Some(&'d') => {
            chars.next();
            fixed_parameters += 3;
            vec![TrendKind::DampedAdditive]
        }
        Some('A') => {
            fixed_parameters += 2;
            vec![TrendKind::Additive]
        }
        // StatsForecast's order: no trend, then damped before undamped.
        Some('Z') => vec![
            TrendKind::None,
            TrendKind::DampedAdditive,
            TrendKind::Additive,
        ],
        _ => return Err(bad()),
    };
    let seasons = match chars.next() {
        Some('N') => vec![SeasonKind::None],
        Some('A') => vec![SeasonKind::Additive],
        Some('M') => vec![SeasonKind::Multiplicative],
        Some('Z') => vec![
            SeasonKind::None,
            SeasonKind::Additive,
            SeasonKind::Multiplicative,
        ],
        _ => return Err(bad()),
    };
    if chars.next().is_some() {
        return Err(bad());
    }
    if seasons.len() == 1 && seasons[0] != SeasonKind::None {
        fixed_parameters += 2;
    }
    if errors == [ErrorKind::Additive] && seasons == [SeasonKind::Multiplicative] {
        return Err(ModelError::BadParameter {
            name: "ets model",
            value: format!("{spec:?}"),
            expected: "not additive error with a multiplicative season (excluded, as in R and \
                       StatsForecast)",
        });
    }
    Ok(Spec {
        errors,
        trends,
        seasons,
        fixed_parameters,
    })
}

impl FromStr for EtsModel {
    type Err = ModelError;

    /// Parses a fully specified model such as `"MAdM"` (no `Z`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = parse_spec(s)?;
        match (&spec.errors[..], &spec.trends[..], &spec.seasons[..]) {
            (&[error], &[trend], &[season]) => Ok(EtsModel {
                error,
                trend,
                season,
            }),
            _ => Err(ModelError::BadParameter {
                name: "ets model",
                value: format!("{s:?}"),
                expected: "a fully specified model (no Z), e.g. \"MAdM\"",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip() {
        for name in ["ANN", "AAdA", "MAdM", "MNA", "MAN"] {
            assert_eq!(name.parse::<EtsModel>().unwrap().to_string(), name);
        }
        assert!(
            "ANM".parse::<EtsModel>().is_err(),
            "additive error with multiplicative season"
        );
        assert!("AMN".parse::<EtsModel>().is_err(), "multiplicative trend");
        assert!("ZZN".parse::<EtsModel>().is_err(), "not fully specified");
        assert!(parse_spec("ZZN").is_ok());
        assert!(parse_spec("XYZ").is_err());
    }
}
