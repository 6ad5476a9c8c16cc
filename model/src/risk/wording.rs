//! The words of an assessment: plain-language reasons and numbers as a planner writes them.
//!
//! Kept apart from the arithmetic in [`super`] because wording changes for readers (the
//! dashboard, translations) and numbers must not change with it.

use super::{Assessment, BudgetLine, PeriodDemand, Wording};

pub(super) fn reasons(
    line: &BudgetLine,
    demand: &PeriodDemand,
    a: &Assessment,
    calibrated_by: Option<&str>,
    wording: Wording<'_>,
) -> Vec<String> {
    let q = |p: f64| {
        a.quantiles
            .iter()
            .find(|(x, _)| (x - p).abs() < 1e-12)
            .map_or_else(|| demand.quantile(p), |(_, v)| *v)
    };
    let amount = |x: f64| match wording.unit {
        Some(unit) => format!("{} {unit}", readable(x)),
        None => readable(x),
    };
    let planned = line.planned;
    let (p10, p50, p90) = (q(0.1), q(0.5), q(0.9));
    let mut out = Vec::new();
    out.push(if planned > p90 {
        format!(
            "planned {} is above the 90th percentile of forecast demand, {}",
            amount(planned),
            readable(p90)
        )
    } else if planned < p10 {
        format!(
            "planned {} is below the 10th percentile of forecast demand, {}",
            amount(planned),
            readable(p10)
        )
    } else if planned > p50 {
        format!(
            "planned {} is between the median ({}) and the 90th percentile ({}) of forecast demand",
            amount(planned),
            readable(p50),
            readable(p90)
        )
    } else {
        format!(
            "planned {} is between the 10th percentile ({}) and the median ({}) of forecast demand",
            amount(planned),
            readable(p10),
            readable(p50)
        )
    });
    let tol = percent(line.tolerance);
    out.push(format!(
        "{} chance that demand falls more than {tol} short of the plan (below {}); expected unused capacity {}, costing {}",
        percent(a.waste_probability),
        readable(planned * (1.0 - line.tolerance)),
        amount(a.expected_waste.quantity),
        readable(a.expected_waste.cost)
    ));
    if let Some(by) = calibrated_by {
        out.push(format!(
            "the waste probability is calibrated by {by} (the forecast alone implies {})",
            percent(a.raw_waste_probability)
        ));
    }
    if a.shortage_probability >= 0.05 {
        out.push(format!(
            "{} chance that demand exceeds the plan by more than {tol} (above {}); expected unmet demand {}, costing {}",
            percent(a.shortage_probability),
            readable(planned * (1.0 + line.tolerance)),
            amount(a.expected_shortage.quantity),
            readable(a.expected_shortage.cost)
        ));
    }
    let cost_at = |x: f64| {
        line.waste_cost * demand.expected_excess(x)
            + line.shortage_cost * demand.expected_shortfall(x)
    };
    out.push(format!(
        "providing {} (the {} percentile of demand, since a unit short costs {} and a unit unused {}) has an expected cost of {} against {} for the plan",
        amount(a.recommended),
        ordinal(line.critical_ratio()),
        readable(line.shortage_cost),
        readable(line.waste_cost),
        readable(cost_at(a.recommended)),
        readable(cost_at(planned))
    ));
    out
}

/// A number as a planner reads it: thousands grouped, three significant figures from 1,000 up
/// ("41,200"), one decimal below (or three below 1).
pub fn readable(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs();
    if magnitude >= 1_000.0 {
        let digits = magnitude.log10().floor() as i32 + 1;
        let unit = 10f64.powi(digits - 3);
        let rounded = ((x / unit).round() * unit) as i64;
        group_thousands(rounded)
    } else if magnitude >= 1.0 || magnitude == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub(super) fn percent(p: f64) -> String {
    let pct = 100.0 * p;
    if pct > 0.0 && pct < 1.0 {
        "under 1%".into()
    } else {
        format!("{pct:.0}%")
    }
}

pub(super) fn ordinal(p: f64) -> String {
    let n = (100.0 * p).round() as i64;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
