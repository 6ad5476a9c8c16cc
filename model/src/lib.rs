//! # civicast-model
//!
//! The shared vocabulary of civicast: what a dataset *is* once it has been read and validated, and
//! (as the project grows) the forecasts, models and metrics built on it. Both the training tool and
//! the inference service depend on this crate, so it does no I/O and pulls in no data-frame
//! machinery: a deployed service links only this and its HTTP stack.
//!
//! - [`time`]: [`Frequency`] and [`TimePoint`], the regular time axes of series, including calendar
//!   months and integer-indexed data.
//! - [`panel`]: [`Panel`], many regular series with exogenous columns, whose invariants are
//!   checked once at construction ("parse, don't validate").
//! - [`calendar`]: [`HolidayCalendar`], public holidays for calendar features.

pub mod calendar;
pub mod error;
pub mod panel;
pub mod time;

pub use calendar::{Holiday, HolidayCalendar};
pub use error::ModelError;
pub use panel::{ExogenousRole, ExogenousSpec, Panel, Series};
pub use time::{Frequency, TimePoint};
