use chrono::NaiveDate;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use statrs::distribution::{Continuous, ContinuousCDF, Normal as Gaussian};

use super::wording::{ordinal, percent};
use super::*;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Seven independent normal days, day `t` ~ N(100 + 10t, (5 + t)²): the week's total is normal
/// with mean 910 and variance Σ(5 + t)² = 476, so every statistic has a closed form.
const MEANS: [f64; 7] = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0];
const SDS: [f64; 7] = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];

fn normal_paths(n: usize, seed: u64) -> SamplePaths {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let steps: Vec<Normal<f64>> = MEANS
        .iter()
        .zip(SDS)
        .map(|(&m, s)| Normal::new(m, s).unwrap())
        .collect();
    SamplePaths {
        paths: (0..n)
            .map(|_| steps.iter().map(|d| d.sample(&mut rng)).collect())
            .collect(),
    }
}

fn week_total() -> Gaussian {
    let mean: f64 = MEANS.iter().sum();
    let sd = SDS.iter().map(|s| s * s).sum::<f64>().sqrt();
    Gaussian::new(mean, sd).unwrap()
}

fn week_demand() -> PeriodDemand {
    PeriodDemand::from_paths(&normal_paths(40_000, 11), 0..7).unwrap()
}

#[test]
fn period_quantiles_are_the_analytic_quantiles_of_the_sum() {
    let demand = week_demand();
    let total = week_total();
    assert!((demand.mean() - 910.0).abs() < 0.5, "{}", demand.mean());
    assert!((demand.sd() - 476f64.sqrt()).abs() < 0.3, "{}", demand.sd());
    for p in [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95] {
        let analytic = total.inverse_cdf(p);
        // The Monte Carlo error of a quantile with 40,000 draws is about 0.2 here.
        assert!(
            (demand.quantile(p) - analytic).abs() < 0.8,
            "p {p}: {} vs {analytic}",
            demand.quantile(p)
        );
    }
    // Summing the daily 90th percentiles instead would put the week's 90th percentile some 44
    // riders higher: the test above would fail for that implementation.
    let sum_of_quantiles: f64 = MEANS
        .iter()
        .zip(SDS)
        .map(|(m, s)| m + 1.281_551_565_545 * s)
        .sum();
    assert!(sum_of_quantiles - demand.quantile(0.9) > 40.0);
}

#[test]
fn only_the_steps_of_the_period_are_summed() {
    let paths = normal_paths(20_000, 3);
    let demand = PeriodDemand::from_paths(&paths, 2..4).unwrap();
    let total = Gaussian::new(250.0, (49.0f64 + 64.0).sqrt()).unwrap();
    assert!((demand.quantile(0.9) - total.inverse_cdf(0.9)).abs() < 0.5);
    assert!(
        PeriodDemand::from_paths(&paths, 5..9).is_none(),
        "past the horizon"
    );
    assert!(PeriodDemand::from_paths(&paths, 3..3).is_none(), "empty");
}

#[test]
fn waste_and_shortage_probabilities_and_expectations_match_the_normal_formulas() {
    let demand = week_demand();
    let total = week_total();
    let (mu, sigma) = (910.0, 476f64.sqrt());
    let line = BudgetLine::new(930.0, 10.0, Some(0.02), None, None).unwrap();
    let a = assess(
        &line,
        &demand,
        &FlagThresholds::default(),
        None,
        Wording::default(),
    );
    let waste_p = total.cdf(930.0 * 0.98);
    let shortage_p = 1.0 - total.cdf(930.0 * 1.02);
    assert!((a.waste_probability - waste_p).abs() < 0.01, "{a:?}");
    assert_eq!(a.waste_probability, a.raw_waste_probability);
    assert!((a.shortage_probability - shortage_p).abs() < 0.01, "{a:?}");
    // E[max(0, q − D)] = (q − μ)Φ(z) + σφ(z) and E[max(0, D − q)] = (μ − q)Φ(−z) + σφ(z).
    let z = (930.0 - mu) / sigma;
    let std = Gaussian::standard();
    let waste = (930.0 - mu) * std.cdf(z) + sigma * std.pdf(z);
    let shortage = (mu - 930.0) * std.cdf(-z) + sigma * std.pdf(z);
    assert!(
        (a.expected_waste.quantity - waste).abs() < 0.3,
        "{a:?} vs {waste}"
    );
    assert!((a.expected_shortage.quantity - shortage).abs() < 0.3);
    // Defaults: waste at the unit cost, shortage at twice it.
    assert!((a.expected_waste.cost - 10.0 * a.expected_waste.quantity).abs() < 1e-9);
    assert!((a.expected_shortage.cost - 20.0 * a.expected_shortage.quantity).abs() < 1e-9);
}

#[test]
fn the_recommendation_is_the_newsvendor_quantile_and_minimises_expected_cost() {
    let demand = week_demand();
    let total = week_total();
    // A unit short costs 3, a unit unused 1: provide up to the 75th percentile.
    let line = BudgetLine::new(800.0, 1.0, None, Some(1.0), Some(3.0)).unwrap();
    assert_eq!(line.critical_ratio(), 0.75);
    let a = assess(
        &line,
        &demand,
        &FlagThresholds::default(),
        None,
        Wording::default(),
    );
    assert!((a.recommended - total.inverse_cdf(0.75)).abs() < 0.8);
    let cost = |q: f64| 1.0 * demand.expected_excess(q) + 3.0 * demand.expected_shortfall(q);
    for delta in [-20.0, -5.0, 5.0, 20.0] {
        assert!(cost(a.recommended) < cost(a.recommended + delta), "{delta}");
    }
    // Costlier waste moves it down: waste 3, shortage 1 is the 25th percentile.
    let thrifty = BudgetLine::new(800.0, 1.0, None, Some(3.0), Some(1.0)).unwrap();
    let b = assess(
        &thrifty,
        &demand,
        &FlagThresholds::default(),
        None,
        Wording::default(),
    );
    assert!((b.recommended - total.inverse_cdf(0.25)).abs() < 0.8);
}

#[test]
fn flags_follow_the_thresholds_and_prefer_the_calibrated_probability() {
    let t = FlagThresholds::default();
    assert_eq!(t.flag(0.0), Flag::None);
    assert_eq!(t.flag(0.199), Flag::None);
    assert_eq!(t.flag(0.2), Flag::Low);
    assert_eq!(t.flag(0.35), Flag::Medium);
    assert_eq!(t.flag(0.5), Flag::High);
    assert_eq!(t.flag(1.0), Flag::High);
    let strict = FlagThresholds {
        low: 0.05,
        medium: 0.1,
        high: 0.15,
    };
    assert_eq!(strict.flag(0.12), Flag::Medium);
    assert!(strict.check().is_ok());
    let unordered = FlagThresholds {
        low: 0.5,
        medium: 0.2,
        high: 0.9,
    };
    assert!(unordered.check().unwrap_err().contains("low <= medium"));

    // A plan far above demand: raw waste probability ~1, flag high; a classifier that says 0.1
    // turns the flag to none and the reasons say the probability was calibrated.
    let demand = week_demand();
    let line = BudgetLine::new(1_200.0, 1.0, None, None, None).unwrap();
    let raw = assess(&line, &demand, &t, None, Wording::default());
    assert_eq!(raw.flag, Flag::High);
    let calibrated = assess(
        &line,
        &demand,
        &t,
        Some(Calibrated {
            probability: 0.1,
            by: "a test",
        }),
        Wording::default(),
    );
    assert_eq!(calibrated.flag, Flag::None);
    assert_eq!(calibrated.waste_probability, 0.1);
    assert_eq!(calibrated.raw_waste_probability, raw.raw_waste_probability);
    assert!(calibrated.reasons.iter().any(|r| r.contains("calibrated")));
    assert!(!raw.reasons.iter().any(|r| r.contains("calibrated")));
}

/// Draws 30,000, 30,010, ..., 40,000: the type-7 quantiles are exact (p10 = 31,000,
/// p50 = 35,000, p90 = 39,000).
fn ladder() -> PeriodDemand {
    PeriodDemand::from_draws((0..=1000).map(|i| 30_000.0 + 10.0 * i as f64).collect()).unwrap()
}

#[test]
fn reasons_place_the_plan_among_the_forecast_quantiles_in_plain_words() {
    let demand = ladder();
    let t = FlagThresholds::default();
    let riders = Wording {
        unit: Some("riders"),
    };
    let over = BudgetLine::new(45_000.0, 1_000.0, None, None, None).unwrap();
    let a = assess(&over, &demand, &t, None, riders);
    assert_eq!(
        a.reasons[0],
        "planned 45,000 riders is above the 90th percentile of forecast demand, 39,000"
    );
    // Waste beyond 10%: demand below 40,500, which is every draw.
    assert!(
        a.reasons[1].starts_with(
            "100% chance that demand falls more than 10% short of the plan (below 40,500)"
        ),
        "{}",
        a.reasons[1]
    );
    assert!(
        a.reasons
            .last()
            .unwrap()
            .starts_with("providing 36,700 riders (the 67th percentile of demand"),
        "{}",
        a.reasons.last().unwrap()
    );

    let under = BudgetLine::new(30_500.0, 1.0, None, None, None).unwrap();
    let b = assess(&under, &demand, &t, None, riders);
    assert_eq!(
        b.reasons[0],
        "planned 30,500 riders is below the 10th percentile of forecast demand, 31,000"
    );
    assert_eq!(b.flag, Flag::None);
    assert!(
        b.reasons
            .iter()
            .any(|r| r.contains("exceeds the plan by more than 10%"))
    );

    let middle = BudgetLine::new(36_000.0, 1.0, None, None, None).unwrap();
    let c = assess(&middle, &demand, &t, None, Wording::default());
    assert_eq!(
        c.reasons[0],
        "planned 36,000 is between the median (35,000) and the 90th percentile (39,000) of forecast demand"
    );
}

#[test]
fn numbers_read_like_a_planner_writes_them() {
    assert_eq!(readable(41_234.0), "41,200");
    assert_eq!(readable(1_234_567.0), "1,230,000");
    assert_eq!(readable(-2_345.0), "-2,350");
    assert_eq!(readable(999.94), "999.9");
    assert_eq!(readable(0.1234), "0.123");
    assert_eq!(readable(0.0), "0.0");
    assert_eq!(ordinal(2.0 / 3.0), "67th");
    assert_eq!(ordinal(0.21), "21st");
    assert_eq!(ordinal(0.11), "11th");
    assert_eq!(percent(0.004), "under 1%");
}

#[test]
fn budget_lines_are_checked_field_by_field() {
    let field = |r: Result<BudgetLine, ModelError>| match r {
        Err(ModelError::BadBudgetLine { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(BudgetLine::new(-1.0, 1.0, None, None, None)),
        "planned"
    );
    assert_eq!(
        field(BudgetLine::new(1.0, f64::NAN, None, None, None)),
        "unit_cost"
    );
    assert_eq!(
        field(BudgetLine::new(1.0, 1.0, Some(1.0), None, None)),
        "tolerance"
    );
    assert_eq!(
        field(BudgetLine::new(1.0, 1.0, None, Some(f64::INFINITY), None)),
        "waste_cost"
    );
    assert_eq!(
        field(BudgetLine::new(1.0, 0.0, None, None, None)),
        "shortage_cost"
    );
    let line = BudgetLine::new(10.0, 3.0, None, None, None).unwrap();
    assert_eq!(
        (line.tolerance, line.waste_cost, line.shortage_cost),
        (0.1, 3.0, 6.0)
    );
}

#[test]
fn period_steps_find_the_forecast_steps_inside_the_dates() {
    let first = TimePoint::date(day("2024-02-26"));
    let daily = Frequency::Days(1);
    assert_eq!(
        period_steps(first, daily, day("2024-03-01"), day("2024-03-07"), 100),
        Ok(4..11)
    );
    assert_eq!(
        period_steps(
            first,
            Frequency::Hours(1),
            day("2024-02-27"),
            day("2024-02-27"),
            100
        ),
        Ok(24..48)
    );
    assert_eq!(
        period_steps(first, daily, day("2024-03-07"), day("2024-03-01"), 100),
        Err(PeriodProblem::EndBeforeStart)
    );
    assert_eq!(
        period_steps(first, daily, day("2024-02-20"), day("2024-02-27"), 100),
        Err(PeriodProblem::StartsBeforeForecast {
            first: day("2024-02-26")
        })
    );
    // 2024-02-26 + 14 days is 2024-03-11: a period ending then needs 15 steps.
    assert_eq!(
        period_steps(first, daily, day("2024-03-04"), day("2024-03-11"), 14),
        Err(PeriodProblem::BeyondHorizon { needed: 15 })
    );
    assert_eq!(
        period_steps(first, daily, day("2024-03-04"), day("2024-03-11"), 15),
        Ok(7..15)
    );
    // Weekly data on Mondays: a Tuesday-Wednesday period holds no step.
    assert_eq!(
        period_steps(
            first,
            Frequency::Weeks(1),
            day("2024-02-27"),
            day("2024-02-28"),
            10
        ),
        Err(PeriodProblem::NoStepInside)
    );
}
