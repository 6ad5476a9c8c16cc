//! The evaluation of the waste-risk classifier: scores, a reliability diagram, and the files
//! `civicast-train risk` writes.
//!
//! Three predictors of "waste beyond tolerance happened" are scored on the held-out periods (and
//! series) of [`crate::risk`]:
//!
//! - (a) **flag**: the flag the service raises from the forecast's probability with its default
//!   thresholds (none/low/medium/high). A flag is not a probability, so each level is scored as
//!   the waste frequency that level had in the training split (add-one smoothed) — the most a
//!   planner could read into the flag alone;
//! - (b) **raw**: the forecast-implied probability `P(D < planned·(1 − tolerance))`, clipped to
//!   [0.001, 0.999] as the classifier's input is (1,000 paths cannot say "never");
//! - (c) **calibrated**: the logistic classifier's probability.
//!
//! The base rate of the training split is scored too, as the floor any predictor must clear.
//! Brier score and log loss are proper scores (lower is better); ROC AUC (higher is better)
//! says how well a predictor ranks, whatever its calibration. The classifier earns its place
//! only if it beats (b) on both Brier and log loss; the report says plainly when it does not.
//! The flags then use the first predictor that beats the base rate on both
//! ([`choose_flag_source`]), or the base rate itself, the stated rule where none does.
//!
//! The reliability diagram is SVG written here: ten bins of predicted probability against the
//! observed frequency. A plotting crate would be a large dependency for a few lines and circles.

use std::fmt::Write as _;
use std::path::Path;

use civicast_model::risk::classifier::RiskClassifier;
use civicast_model::risk::{FlagSource, FlagThresholds};
use serde::Serialize;

use crate::error::Error;
use crate::risk::{Example, PlanBacktest, PlanningRule, RiskOptions, fit_classifier, raw_flag};

/// Clipping of probabilities before log loss.
const CLIP: f64 = 1e-3;
/// Bins of the reliability diagram.
const BINS: usize = 10;

/// A predictor's scores.
#[derive(Clone, Debug, Serialize)]
pub struct PredictorScores {
    /// Mean squared error of the probability (lower is better).
    pub brier: f64,
    /// Mean negative log-likelihood (lower is better).
    pub log_loss: f64,
    /// Area under the ROC curve (higher is better; 0.5 is chance).
    pub roc_auc: f64,
    /// Brier skill score against the training base rate, `1 - brier / base rate's brier`
    /// (positive: better than always answering the base rate; 0 for the base rate itself).
    pub brier_skill: f64,
    /// The same for log loss.
    pub log_loss_skill: f64,
    /// `(mean predicted, observed frequency, count)` per non-empty bin.
    pub reliability: Vec<(f64, f64, usize)>,
}

/// The whole evaluation of one dataset.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Dataset name.
    pub dataset: String,
    /// The forecasting model.
    pub model: String,
    /// Origins per fit of the model (the others absorb the observations before them).
    pub refit_every: usize,
    /// The planning rule, in words.
    pub planning_rule: String,
    /// Its lags in steps.
    pub rule: PlanningRule,
    /// Tolerance of the waste label.
    pub tolerance: f64,
    /// Sample paths per forecast.
    pub paths: usize,
    /// Backtested periods in all, in training and in evaluation.
    pub examples: usize,
    /// Training periods.
    pub train: usize,
    /// Evaluation periods.
    pub test: usize,
    /// Whether series were held out as well as time.
    pub held_out_series: bool,
    /// Waste frequency in training and in evaluation.
    pub waste_rate_train: f64,
    /// Waste frequency in the evaluation split.
    pub waste_rate_test: f64,
    /// (a) the flag.
    pub flag: PredictorScores,
    /// (b) the raw forecast probability.
    pub raw: PredictorScores,
    /// (c) the calibrated classifier.
    pub calibrated: PredictorScores,
    /// The training base rate, as a constant.
    pub base_rate: PredictorScores,
    /// Whether (c) beats (b) on Brier and on log loss.
    pub classifier_beats_raw: bool,
    /// What the flags use ([`choose_flag_source`]), refitted on every period.
    pub flag_source: FlagSource,
    /// The conclusion in words.
    pub verdict: String,
    /// The classifier fitted on the training split (what was evaluated).
    pub evaluated_classifier: RiskClassifier,
}

fn clip(p: f64) -> f64 {
    p.clamp(CLIP, 1.0 - CLIP)
}

/// Scores probabilities `p` of outcomes `y`, with skill against `reference`'s scores (none:
/// the probabilities are the reference, skill 0).
pub fn score(p: &[f64], y: &[bool], reference: Option<&PredictorScores>) -> PredictorScores {
    let n = p.len().max(1) as f64;
    let target = |b: bool| if b { 1.0 } else { 0.0 };
    let brier = p
        .iter()
        .zip(y)
        .map(|(p, &y)| (p - target(y)).powi(2))
        .sum::<f64>()
        / n;
    let log_loss = -p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            if y {
                clip(p).ln()
            } else {
                (1.0 - clip(p)).ln()
            }
        })
        .sum::<f64>()
        / n;
    let skill = |ours: f64, theirs: Option<f64>| match theirs {
        Some(theirs) if theirs > 0.0 => 1.0 - ours / theirs,
        _ => 0.0,
    };
    PredictorScores {
        brier,
        log_loss,
        roc_auc: roc_auc(p, y),
        brier_skill: skill(brier, reference.map(|r| r.brier)),
        log_loss_skill: skill(log_loss, reference.map(|r| r.log_loss)),
        reliability: reliability(p, y),
    }
}

/// ROC AUC as the Mann-Whitney statistic: the chance a random positive scores above a random
/// negative, ties counting half. NaN when one class is absent.
pub fn roc_auc(p: &[f64], y: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    // Average ranks over ties.
    let mut ranks = vec![0.0; p.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    let positives = y.iter().filter(|&&b| b).count() as f64;
    let negatives = y.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(y)
        .filter(|(_, b)| **b)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

fn reliability(p: &[f64], y: &[bool]) -> Vec<(f64, f64, usize)> {
    let mut bins = vec![(0.0, 0.0, 0usize); BINS];
    for (&p, &y) in p.iter().zip(y) {
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        bins[b].0 += p;
        bins[b].1 += if y { 1.0 } else { 0.0 };
        bins[b].2 += 1;
    }
    bins.into_iter()
        .filter(|b| b.2 > 0)
        .map(|(sp, sy, n)| (sp / n as f64, sy / n as f64, n))
        .collect()
}

/// The waste frequency of the periods at each flag level of their raw probability (default
/// thresholds), add-one smoothed: none, low, medium, high.
fn level_frequencies(set: &[&Example]) -> [f64; 4] {
    let mut counts = [(0usize, 0usize); 4];
    for e in set {
        let level = &mut counts[raw_flag(e) as usize];
        level.0 += usize::from(e.wasted);
        level.1 += 1;
    }
    counts.map(|(wasted, n)| (wasted as f64 + 1.0) / (n as f64 + 2.0))
}

/// A predictor the flags can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// (c), the calibrated classifier.
    Classifier,
    /// (b), the raw forecast probability.
    Raw,
    /// (a), the training frequency per flag level.
    LevelFrequency,
    /// None of them: the training base rate.
    BaseRate,
}

/// Which predictor the flags use: the first that beats always answering the training base
/// rate on both Brier score and log loss on the held-out periods, in the order (c) where it
/// also beat (b), (b), (c), (a); the base rate itself when none does. A flag must not claim
/// more than the frequency of waste already tells.
pub fn choose_flag_source(
    classifier_beats_raw: bool,
    raw: &PredictorScores,
    calibrated: &PredictorScores,
    level: &PredictorScores,
) -> Choice {
    let skilled = |p: &PredictorScores| p.brier_skill > 0.0 && p.log_loss_skill > 0.0;
    [
        (
            Choice::Classifier,
            classifier_beats_raw && skilled(calibrated),
        ),
        (Choice::Raw, skilled(raw)),
        (Choice::Classifier, skilled(calibrated)),
        (Choice::LevelFrequency, skilled(level)),
    ]
    .into_iter()
    .find(|(_, ok)| *ok)
    .map_or(Choice::BaseRate, |(choice, _)| choice)
}

/// Evaluates (a), (b), (c) on the held-out examples. Returns the evaluation and the classifier
/// refitted on every example, which is what gets stored.
pub fn evaluate(
    dataset: &str,
    options: &RiskOptions,
    plans: &PlanBacktest,
) -> Result<(Evaluation, RiskClassifier), Error> {
    let PlanBacktest {
        rule,
        refit_every,
        ref examples,
        held_out_series,
    } = *plans;
    let train: Vec<&Example> = examples.iter().filter(|e| e.train).collect();
    let test: Vec<&Example> = examples.iter().filter(|e| e.test).collect();
    if test.is_empty() {
        return Err(Error::Risk {
            message: "no held-out periods to evaluate on; use more --origins".into(),
        });
    }
    let classifier = fit_classifier(&train)?;
    let y: Vec<bool> = test.iter().map(|e| e.wasted).collect();
    let rate =
        |set: &[&Example]| set.iter().filter(|e| e.wasted).count() as f64 / set.len().max(1) as f64;
    let base = rate(&train);
    let train_frequencies = level_frequencies(&train);
    let flag_p: Vec<f64> = test
        .iter()
        .map(|e| train_frequencies[raw_flag(e) as usize])
        .collect();
    let raw_p: Vec<f64> = test.iter().map(|e| clip(e.raw_probability)).collect();
    let cal_p: Vec<f64> = test
        .iter()
        .map(|e| classifier.probability(&e.features))
        .collect();
    let base_p = vec![base; test.len()];
    let base_rate = score(&base_p, &y, None);
    let (flag, raw, calibrated) = (
        score(&flag_p, &y, Some(&base_rate)),
        score(&raw_p, &y, Some(&base_rate)),
        score(&cal_p, &y, Some(&base_rate)),
    );
    let beats = calibrated.brier < raw.brier && calibrated.log_loss < raw.log_loss;
    let mut verdict = if beats {
        format!(
            "The calibrated classifier beats the raw forecast probability on both Brier ({:.4} vs {:.4}) and log loss ({:.4} vs {:.4}) on held-out data: it earns its place.",
            calibrated.brier, raw.brier, calibrated.log_loss, raw.log_loss
        )
    } else {
        format!(
            "The calibrated classifier does NOT beat the raw forecast probability on both Brier ({:.4} vs {:.4}) and log loss ({:.4} vs {:.4}) on held-out data: by the issue's rule it does not earn its place on this dataset.",
            calibrated.brier, raw.brier, calibrated.log_loss, raw.log_loss
        )
    };
    let skill = |p: &PredictorScores| {
        format!(
            "{:+.1}% on Brier and {:+.1}% on log loss",
            100.0 * p.brier_skill,
            100.0 * p.log_loss_skill
        )
    };
    let _ = write!(
        verdict,
        " Against always answering the training base rate ({:.1}%), the classifier's skill is {} and the raw probability's {} (positive: better than the base rate).",
        100.0 * base,
        skill(&calibrated),
        skill(&raw)
    );
    if calibrated.brier_skill <= 0.0 || calibrated.log_loss_skill <= 0.0 {
        verdict.push_str(
            " The classifier adds no skill beyond the base rate here: its probabilities stay close to the base rate, which is honest, but this dataset's forecasts cannot tell wasteful plans from sound ones better than the frequency of waste does.",
        );
    }
    let all: Vec<&Example> = examples.iter().collect();
    let stored = fit_classifier(&all)?;
    // What was chosen on the held-out periods, refitted on every period as the classifier is.
    let flag_source = match choose_flag_source(beats, &raw, &calibrated, &flag) {
        Choice::Classifier => FlagSource::Classifier,
        Choice::Raw => FlagSource::Raw,
        Choice::LevelFrequency => FlagSource::LevelFrequency {
            thresholds: FlagThresholds::default(),
            frequencies: level_frequencies(&all),
        },
        Choice::BaseRate => FlagSource::BaseRate { rate: rate(&all) },
    };
    let _ = write!(
        verdict,
        " Flags use {}: {}.",
        match flag_source {
            FlagSource::Classifier => "the calibrated classifier (c)",
            FlagSource::Raw => "the raw forecast probability (b)",
            FlagSource::LevelFrequency { .. } => "the training frequency per flag level (a)",
            FlagSource::BaseRate { .. } => "the base rate",
        },
        if matches!(flag_source, FlagSource::BaseRate { .. }) {
            "no predictor beat always answering the training base rate on both Brier score and log loss, so every line gets the base rate and no forecast-based flag"
        } else {
            "the first predictor, in the order (c) where it beats (b), then (b), (c) and (a), that beats always answering the training base rate on both Brier score and log loss"
        }
    );
    Ok((
        Evaluation {
            dataset: dataset.to_owned(),
            model: options.model.to_string(),
            refit_every,
            planning_rule: rule.describe(),
            rule,
            tolerance: options.tolerance,
            paths: options.paths,
            examples: examples.len(),
            train: train.len(),
            test: test.len(),
            held_out_series,
            waste_rate_train: base,
            waste_rate_test: rate(&test),
            flag,
            raw,
            calibrated,
            base_rate,
            classifier_beats_raw: beats,
            flag_source,
            verdict,
            evaluated_classifier: classifier,
        },
        stored,
    ))
}

/// The report as Markdown.
pub fn markdown(e: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Waste-risk calibration: {}\n", e.dataset);
    let _ = writeln!(
        s,
        "Model `{}`, {}, {} sample paths per forecast; tolerance {}; planning rule: {}.\n",
        e.model,
        if e.refit_every <= 1 {
            "fitted afresh at every origin".to_owned()
        } else {
            format!(
                "fitted at every {}th origin and absorbing the observations up to the others",
                e.refit_every
            )
        },
        e.paths,
        e.tolerance,
        e.planning_rule
    );
    let _ = writeln!(
        s,
        "{} backtested periods: {} for training, {} held out ({}). Waste beyond tolerance happened in {:.1}% of training and {:.1}% of held-out periods.\n",
        e.examples,
        e.train,
        e.test,
        if e.held_out_series {
            "later periods of held-out series"
        } else {
            "later periods only: the dataset has too few series to hold some out"
        },
        100.0 * e.waste_rate_train,
        100.0 * e.waste_rate_test
    );
    let _ = writeln!(
        s,
        "| predictor | Brier | log loss | ROC AUC | Brier skill | log-loss skill |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for (name, p) in [
        ("(a) flag (training frequency per level)", &e.flag),
        ("(b) raw forecast probability", &e.raw),
        ("(c) calibrated classifier", &e.calibrated),
        ("training base rate (reference)", &e.base_rate),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.4} | {:.4} | {:.3} | {:+.1}% | {:+.1}% |",
            p.brier,
            p.log_loss,
            p.roc_auc,
            100.0 * p.brier_skill,
            100.0 * p.log_loss_skill
        );
    }
    let _ = writeln!(
        s,
        "\nSkill: 1 − score / the training base rate's score on the same held-out periods (positive: better than always answering the base rate).\n\n{}\n",
        e.verdict
    );
    let _ = writeln!(s, "![reliability diagram](reliability.svg)");
    s
}

/// The reliability diagram of (a), (b), (c) as SVG.
pub fn reliability_svg(e: &Evaluation) -> String {
    const SIZE: f64 = 360.0;
    const PAD: f64 = 50.0;
    let x = |p: f64| PAD + p * SIZE;
    let y = |p: f64| PAD + (1.0 - p) * SIZE;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<title>Reliability diagram: {name}</title>
<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#999"/>
<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4 4"/>
<text x="{cx}" y="{bottom}" text-anchor="middle">predicted waste probability</text>
<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">observed waste frequency</text>
<text x="{cx}" y="24" text-anchor="middle" font-size="14">{name}: held-out periods</text>
"##,
        w = SIZE + 2.0 * PAD + 170.0,
        h = SIZE + 2.0 * PAD,
        pad = PAD,
        size = SIZE,
        x0 = x(0.0),
        y0 = y(0.0),
        x1 = x(1.0),
        y1 = y(1.0),
        cx = PAD + SIZE / 2.0,
        cy = PAD + SIZE / 2.0,
        bottom = SIZE + PAD + 36.0,
        name = e.dataset,
    );
    for t in 0..=5 {
        let p = t as f64 / 5.0;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{p:.1}</text><text x="{}" y="{}" text-anchor="end">{p:.1}</text>"##,
            x(p),
            SIZE + PAD + 16.0,
            PAD - 6.0,
            y(p) + 4.0
        );
    }
    let series = [
        ("(a) flag", "#d95f02", &e.flag),
        ("(b) raw forecast", "#7570b3", &e.raw),
        ("(c) calibrated", "#1b9e77", &e.calibrated),
    ];
    let total = e.test.max(1) as f64;
    for (k, (name, colour, scores)) in series.iter().enumerate() {
        let points: Vec<String> = scores
            .reliability
            .iter()
            .map(|(p, f, _)| format!("{:.1},{:.1}", x(*p), y(*f)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        for (p, f, n) in &scores.reliability {
            let r = 2.5 + 9.0 * (*n as f64 / total).sqrt();
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="{colour}" fill-opacity="0.5"><title>{name}: predicted {p:.3}, observed {f:.3}, {n} periods</title></circle>"#,
                x(*p),
                y(*f)
            );
        }
        let ly = PAD + 20.0 + 22.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="14" fill="{colour}"/><text x="{}" y="{}">{name}</text>"#,
            SIZE + PAD + 20.0,
            ly - 11.0,
            SIZE + PAD + 40.0,
            ly
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="10">circle area: periods in the bin</text>"#,
        SIZE + PAD + 20.0,
        PAD + 100.0
    );
    s.push_str("</svg>\n");
    s
}

/// Writes evaluation.json, evaluation.md, reliability.svg, classifier.json and examples.csv.
pub fn write_report(
    out: &Path,
    evaluation: &Evaluation,
    classifier: &RiskClassifier,
    examples: &[Example],
) -> Result<(), Error> {
    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(Error::io(path))
    };
    write("evaluation.json", pretty(evaluation))?;
    write("classifier.json", pretty(classifier))?;
    write("evaluation.md", markdown(evaluation))?;
    write("reliability.svg", reliability_svg(evaluation))?;
    let mut csv = String::from(
        "series,origin,start,len,planned,actual,mean,raw_probability,gap_sd,horizon_steps,backtest_mase,day_of_year,wasted,has_backtest_error,train,test\n",
    );
    for e in examples {
        let f = &e.features;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            e.series_id,
            e.origin,
            e.start,
            e.len,
            e.planned,
            e.actual,
            e.mean,
            e.raw_probability,
            f.gap_sd,
            f.horizon_steps,
            f.backtest_mase,
            f.day_of_year,
            u8::from(e.wasted),
            u8::from(e.has_backtest_error),
            u8::from(e.train),
            u8::from(e.test)
        );
    }
    write("examples.csv", csv)
}

/// Pretty JSON. Serialising these plain structs of numbers and strings cannot fail (serde_json
/// writes a NaN as null).
fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_ranking_has_auc_one_and_ties_count_half() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            1.0
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            0.0
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert!(roc_auc(&[0.5], &[true]).is_nan());
    }

    #[test]
    fn brier_and_log_loss_of_known_cases() {
        let s = score(&[0.8, 0.3], &[true, false], None);
        assert!((s.brier - (0.04 + 0.09) / 2.0).abs() < 1e-12);
        assert!((s.log_loss - -(0.8f64.ln() + 0.7f64.ln()) / 2.0).abs() < 1e-12);
        assert_eq!((s.brier_skill, s.log_loss_skill), (0.0, 0.0));
        // A confident mistake is clipped, not infinite.
        let wrong = score(&[0.0], &[true], None);
        assert!((wrong.log_loss - -(CLIP.ln())).abs() < 1e-12);
    }

    #[test]
    fn skill_is_the_share_of_the_reference_score_saved() {
        let y = [true, false, false, false];
        let base = score(&[0.25; 4], &y, None);
        let sharp = score(&[0.9, 0.1, 0.1, 0.1], &y, Some(&base));
        assert!((sharp.brier_skill - (1.0 - 0.01 / base.brier)).abs() < 1e-12);
        assert!(sharp.log_loss_skill > 0.0);
        let wrong = score(&[0.1, 0.9, 0.9, 0.9], &y, Some(&base));
        assert!(wrong.brier_skill < 0.0 && wrong.log_loss_skill < 0.0);
    }

    #[test]
    fn reliability_bins_average_prediction_and_outcome() {
        let bins = reliability(&[0.05, 0.07, 0.95], &[false, true, true]);
        assert_eq!(bins.len(), 2);
        assert!((bins[0].0 - 0.06).abs() < 1e-12);
        assert_eq!((bins[0].1, bins[0].2), (0.5, 2));
        assert_eq!((bins[1].1, bins[1].2), (1.0, 1));
    }

    #[test]
    fn flags_use_the_first_predictor_with_skill_over_the_base_rate() {
        let scores = |brier_skill: f64, log_loss_skill: f64| PredictorScores {
            brier: 0.1,
            log_loss: 0.3,
            roc_auc: 0.7,
            brier_skill,
            log_loss_skill,
            reliability: Vec::new(),
        };
        let (good, half, bad) = (scores(0.2, 0.1), scores(0.1, -0.1), scores(-0.1, -0.2));
        // The classifier when it beat the raw probability and the base rate.
        assert_eq!(
            choose_flag_source(true, &good, &good, &good),
            Choice::Classifier
        );
        // Otherwise the raw probability, when it beats the base rate on both.
        assert_eq!(choose_flag_source(false, &good, &good, &good), Choice::Raw);
        assert_eq!(choose_flag_source(true, &good, &half, &good), Choice::Raw);
        // The classifier even where it lost to the raw probability, if the raw one has no
        // skill and it has.
        assert_eq!(
            choose_flag_source(false, &half, &good, &good),
            Choice::Classifier
        );
        // The electricity data of 2026-12-07: only the per-level frequency has skill on both.
        assert_eq!(
            choose_flag_source(false, &half, &half, &good),
            Choice::LevelFrequency
        );
        assert_eq!(
            choose_flag_source(true, &bad, &half, &half),
            Choice::BaseRate
        );
    }
}
