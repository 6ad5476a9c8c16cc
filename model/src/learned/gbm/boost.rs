//! The boosting loop: gradients, row and feature sampling, leaf values and the running prediction.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::binning::Binned;
use super::grow::{GrowConfig, Grower, Grown};
use super::tree::{Node, Tree};
use super::{GbmLoss, GbmParams};
use crate::learned::Rows;

/// The fitted ensemble: a constant plus the sum of the trees.
pub(super) struct Ensemble {
    pub(super) base_score: f64,
    pub(super) trees: Vec<Tree>,
}

/// Boosts `params.n_trees` trees on checked inputs (`y.len() == x.n_rows() > 0`, finite `y`).
pub(super) fn boost(params: &GbmParams, x: Rows<'_>, y: &[f64], seed: u64) -> Ensemble {
    let n_rows = y.len();
    let n_cols = x.n_cols;
    let binned = Binned::new(x, params.max_bins);
    let mut grower = Grower::new(
        &binned,
        GrowConfig {
            num_leaves: params.num_leaves,
            min_data_in_leaf: params.min_data_in_leaf,
            lambda: params.lambda,
            min_gain: params.min_gain_to_split,
        },
    );
    let base_score = match params.loss {
        GbmLoss::L2 => mean(y),
        GbmLoss::Quantile { alpha } => quantile(&mut y.to_vec(), alpha),
    };
    let mut pred = vec![base_score; n_rows];
    let mut grad = vec![0.0; n_rows];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut indices: Vec<u32> = Vec::with_capacity(n_rows);
    let mut in_bag = vec![true; n_rows];
    let mut feature_order: Vec<usize> = (0..n_cols).collect();
    let mut active = vec![true; n_cols];
    let mut residuals = Vec::new();
    let mut trees = Vec::with_capacity(params.n_trees);

    for _ in 0..params.n_trees {
        match params.loss {
            GbmLoss::L2 => {
                for ((g, p), t) in grad.iter_mut().zip(&pred).zip(y) {
                    *g = p - t;
                }
            }
            // The pinball loss's gradient; at p == t either side is a subgradient.
            GbmLoss::Quantile { alpha } => {
                for ((g, p), t) in grad.iter_mut().zip(&pred).zip(y) {
                    *g = if p >= t { 1.0 - alpha } else { -alpha };
                }
            }
        }
        sample_rows(&mut rng, params.row_subsample, &mut indices, &mut in_bag);
        sample_features(
            &mut rng,
            params.feature_fraction,
            &mut feature_order,
            &mut active,
        );

        let grown = grower.grow(&mut indices, &grad, &active);
        let values: Vec<f64> = grown
            .leaves
            .iter()
            .map(|leaf| {
                let rows = &indices[leaf.start..leaf.end];
                let raw = match params.loss {
                    GbmLoss::L2 => -leaf.sum_grad / (rows.len() as f64 + params.lambda),
                    // LightGBM's leaf renewal: the step that puts the leaf at the alpha-quantile of
                    // its residuals, which the constant pinball gradients cannot express.
                    GbmLoss::Quantile { alpha } => {
                        residuals.clear();
                        residuals.extend(rows.iter().map(|&i| y[i as usize] - pred[i as usize]));
                        quantile(&mut residuals, alpha)
                    }
                };
                params.learning_rate * raw
            })
            .collect();
        let tree = to_tree(&grown, values, &binned);

        for (leaf, &v) in grown.leaves.iter().zip(&tree.leaves) {
            for &i in &indices[leaf.start..leaf.end] {
                pred[i as usize] += v;
            }
        }
        if indices.len() < n_rows {
            for (i, p) in pred.iter_mut().enumerate() {
                if !in_bag[i] {
                    *p += tree.predict_row(x.row(i));
                }
            }
        }
        trees.push(tree);
    }
    Ensemble { base_score, trees }
}

/// Fills `indices` with the rows of this tree's bag (each row kept with probability `fraction`;
/// all rows when `fraction >= 1` or the draw comes out empty), in increasing order.
fn sample_rows(rng: &mut ChaCha8Rng, fraction: f64, indices: &mut Vec<u32>, in_bag: &mut [bool]) {
    indices.clear();
    if fraction < 1.0 {
        for (i, b) in in_bag.iter_mut().enumerate() {
            *b = rng.random::<f64>() < fraction;
            if *b {
                indices.push(i as u32);
            }
        }
    }
    if indices.is_empty() {
        in_bag.fill(true);
        indices.extend((0..in_bag.len()).map(|i| i as u32));
    }
}

/// Marks `ceil(fraction * n)` features (at least one) active for this tree.
fn sample_features(rng: &mut ChaCha8Rng, fraction: f64, order: &mut [usize], active: &mut [bool]) {
    if fraction >= 1.0 {
        return;
    }
    let n = order.len();
    let k = ((fraction * n as f64).ceil() as usize).clamp(1, n);
    // A partial Fisher-Yates shuffle: the first k entries become a uniform sample.
    for i in 0..k {
        let j = rng.random_range(i..n);
        order.swap(i, j);
    }
    active.fill(false);
    for &f in &order[..k] {
        active[f] = true;
    }
}

/// The grown tree with raw-value thresholds and the given leaf values.
fn to_tree(grown: &Grown, leaves: Vec<f64>, binned: &Binned) -> Tree {
    let nodes = grown
        .nodes
        .iter()
        .map(|n| Node {
            feature: n.feature as u32,
            // bin < number of value bins, so the upper bound exists and is finite.
            threshold: binned.features[n.feature].uppers[n.bin],
            default_left: n.default_left,
            left: n.left,
            right: n.right,
            gain: n.gain,
        })
        .collect();
    Tree { nodes, leaves }
}

/// The mean, with one correction pass so that a constant target gives exactly that constant.
fn mean(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let m = y.iter().sum::<f64>() / n;
    m + y.iter().map(|v| v - m).sum::<f64>() / n
}

/// The `alpha`-quantile of non-empty `values` (linear interpolation between order statistics);
/// reorders `values`.
pub(super) fn quantile(values: &mut [f64], alpha: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else {
        return 0.0;
    };
    let pos = alpha.clamp(0.0, 1.0) * last as f64;
    let lo = (pos.floor() as usize).min(last);
    let (_, &mut below, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let frac = pos - lo as f64;
    match above.iter().copied().min_by(f64::total_cmp) {
        Some(next) if frac > 0.0 => below + frac * (next - below),
        _ => below,
    }
}
