//! No forecast claims certainty where the data vary: on every bundled dataset, every
//! per-series model and the learned `linear` give a 95% band of positive, finite width at every
//! step of the last protocol window, for every series whose training data are not constant.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::ModelId;
use civicast_training::load_dataset;

const MODELS: [ModelId; 6] = [
    ModelId::Snaive,
    ModelId::Ets,
    ModelId::Mstl,
    ModelId::Theta,
    ModelId::Tsb,
    ModelId::Linear,
];

#[test]
fn every_bundled_dataset_gets_bands_of_positive_width_from_every_model() {
    let mut datasets: Vec<_> = std::fs::read_dir(common::datasets())
        .unwrap()
        .map(|entry| entry.unwrap().path().join("dataset.toml"))
        .filter(|manifest| manifest.exists())
        .collect();
    datasets.sort();
    assert!(datasets.len() >= 3, "{datasets:?}");
    for path in datasets {
        let dataset = load_dataset(&path).unwrap_or_else(|report| panic!("{report}"));
        let horizon = dataset.manifest.forecast.horizon;
        let input_size = dataset.manifest.forecast.input_size;
        let panel = &dataset.panel;
        let cutoffs: Vec<usize> = panel.series().iter().map(|s| s.len() - horizon).collect();
        for model in MODELS {
            let fitted = dataset
                .forecaster(model, input_size)
                .unwrap()
                .fit(panel, &cutoffs)
                .unwrap();
            let forecasts = fitted.forecast_in(panel, horizon, &[0.025, 0.975]).unwrap();
            for ((series, forecast), &cutoff) in panel.series().iter().zip(&forecasts).zip(&cutoffs)
            {
                // The part every model sees (learned ones see more); when it varies, so does the
                // series.
                let first = input_size.map_or(0, |size| cutoff.saturating_sub(size));
                let seen = &series.target[first..cutoff];
                if seen.iter().all(|&v| v == seen[0]) {
                    continue;
                }
                let (low, high) = (
                    forecast.quantile(0.025).unwrap(),
                    forecast.quantile(0.975).unwrap(),
                );
                for j in 0..horizon {
                    assert!(
                        low[j].is_finite() && high[j].is_finite() && high[j] > low[j],
                        "{}: {model} gives series {:?} a band of zero or infinite width at step {}",
                        path.display(),
                        series.id,
                        j + 1
                    );
                }
            }
        }
    }
}
