//! Development figures for the GBM regressor: fit time and validation RMSE on dumped matrices.
//!
//! `cargo run --release -p civicast-model --example gbm_dev -- DIR [PARAMS_JSON] [DATASET...]`
//!
//! `DIR` holds `{name}_{train,valid}_{x,y}.f64` (raw little-endian f64, row-major x) and
//! `{name}_names.txt` (one column name per line). `PARAMS_JSON`, if it starts with `{`, overrides
//! [`GbmParams`] fields, e.g. `'{"lambda": 0, "num_leaves": 63}'`. Not a test: it prints figures.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use civicast_model::learned::gbm::{FittedGbm, GbmParams};
use civicast_model::learned::{Regressor, RegressorParams, Rows};

fn read_f64(path: &Path) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn rmse(p: &[f64], y: &[f64]) -> f64 {
    let s: f64 = p.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    (s / y.len() as f64).sqrt()
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: gbm_dev DIR [PARAMS_JSON] [DATASET...]")?;
    let dir = Path::new(&dir);
    let mut params = GbmParams::default();
    let mut sets: Vec<String> = Vec::new();
    for a in args {
        if a.starts_with('{') {
            params = serde_json::from_str(&a)?;
        } else {
            sets.push(a);
        }
    }
    if sets.is_empty() {
        sets = ["bikeshare", "elec", "chicago"].map(String::from).to_vec();
    }
    println!(
        "threads {} params {}",
        rayon_threads(),
        serde_json::to_string(&params)?
    );
    for name in sets {
        let names: Vec<String> = std::fs::read_to_string(dir.join(format!("{name}_names.txt")))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let n_cols = names.len();
        let xt = read_f64(&dir.join(format!("{name}_train_x.f64")))?;
        let yt = read_f64(&dir.join(format!("{name}_train_y.f64")))?;
        let xv = read_f64(&dir.join(format!("{name}_valid_x.f64")))?;
        let yv = read_f64(&dir.join(format!("{name}_valid_y.f64")))?;
        let (train, valid) = (Rows::new(&xt, n_cols)?, Rows::new(&xv, n_cols)?);

        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        let model = params.fit(train, &yt, &names, 0)?;
        let fit_secs = start.elapsed().as_secs_f64();
        let fit_cpu = cpu_seconds() - cpu_start;
        let start = Instant::now();
        let pv = model.predict(valid)?;
        let per_row_us = start.elapsed().as_secs_f64() * 1e6 / yv.len() as f64;
        let json = serde_json::to_string(&model)?;
        let back: FittedGbm = serde_json::from_str(&json)?;
        let same = back
            .predict(valid)?
            .iter()
            .zip(&pv)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        let zero = vec![0.0; yv.len()];
        let mut top: Vec<(&str, f64)> = model.feature_importance();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<&str> = top.iter().take(5).map(|t| t.0).collect();
        println!(
            "{name:9} {}x{n_cols}: fit {fit_secs:6.2}s (cpu {fit_cpu:.2}s)  \
             valid RMSE {:.4} (zero {:.4}, train {:.4})  predict {per_row_us:.1} us/row  \
             json {} KB round-trip identical {same}  top {top:?}",
            yt.len(),
            rmse(&pv, &yv),
            rmse(&zero, &yv),
            rmse(&model.predict(train)?, &yt),
            json.len() / 1024,
        );
    }
    Ok(())
}

/// User + system CPU seconds of this process (Linux; 0 elsewhere). Wall time on a shared machine
/// overstates the work, so both are printed.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    // USER_HZ is 100 on every Linux this runs on.
    ticks.iter().sum::<f64>() / 100.0
}

fn rayon_threads() -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
}
