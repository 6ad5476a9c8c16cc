//! Growing one tree leaf-wise on gradient histograms (the LightGBM recipe).
//!
//! The rows of each leaf are a contiguous range of one index array, partitioned in place when the
//! leaf splits. Each leaf keeps a histogram per feature: the sum of gradients and the row count in
//! every bin (the hessian of both losses is 1, so the count is the hessian). Only the smaller child
//! of a split is histogrammed from its rows; the larger child's histogram is the parent's minus the
//! smaller's, which roughly halves the work. The leaf with the largest gain splits next, until
//! `num_leaves` leaves exist or no split gains anything.
//!
//! Histograms are built feature by feature, in parallel with rayon; each feature's histogram is
//! summed by one thread in row order, so the result does not depend on the number of threads.

use rayon::prelude::*;

use super::binning::Binned;

/// Gradient sum and row count of one bin.
type Bin = [f64; 2];
/// The histogram of one feature; a `u8` bin index is always in bounds.
type FeatureHist = [Bin; 256];

/// Below this many (row, feature) cells a histogram is built on the calling thread: spawning rayon
/// tasks costs more than it saves for small leaves.
const PARALLEL_MIN_CELLS: usize = 64 * 1024;

/// Interleaved partial histograms per feature: consecutive rows often fall in the same bin
/// (calendar features have a handful), and one accumulator per bin would make every addition wait
/// for the previous one.
const LANES: usize = 4;

/// Fewer rows than this are summed in one lane: zeroing and merging the extra lanes would cost
/// more than the dependency chains they break.
const LANES_MIN_ROWS: usize = 2048;

/// Sets `hist` to the gradient sums and counts per bin of `rows` (with gradients `ordered`, in
/// the same order) on one feature's `column`. The lanes are merged in a fixed order, so the sums
/// depend only on the rows, not on how features are spread over threads.
fn accumulate(column: &[u8], rows: &[u32], ordered: &[f64], hist: &mut [Bin]) {
    hist.fill([0.0; 2]);
    if rows.len() < LANES_MIN_ROWS {
        let mut lane = [[0.0f64; 2]; 256];
        for (&i, &g) in rows.iter().zip(ordered) {
            let bin = &mut lane[usize::from(column[i as usize])];
            bin[0] += g;
            bin[1] += 1.0;
        }
        for (out, l) in hist.iter_mut().zip(&lane) {
            *out = *l;
        }
        return;
    }
    let mut lanes = [[[0.0f64; 2]; 256]; LANES];
    let mut row_chunks = rows.chunks_exact(LANES);
    let mut grad_chunks = ordered.chunks_exact(LANES);
    for (r, g) in (&mut row_chunks).zip(&mut grad_chunks) {
        for lane in 0..LANES {
            let bin = &mut lanes[lane][usize::from(column[r[lane] as usize])];
            bin[0] += g[lane];
            bin[1] += 1.0;
        }
    }
    for (&i, &g) in row_chunks.remainder().iter().zip(grad_chunks.remainder()) {
        let bin = &mut lanes[0][usize::from(column[i as usize])];
        bin[0] += g;
        bin[1] += 1.0;
    }
    for (b, out) in hist.iter_mut().enumerate() {
        let [l0, l1, l2, l3] = [lanes[0][b], lanes[1][b], lanes[2][b], lanes[3][b]];
        *out = [
            (l0[0] + l1[0]) + (l2[0] + l3[0]),
            (l0[1] + l1[1]) + (l2[1] + l3[1]),
        ];
    }
}

/// How a tree is grown.
#[derive(Clone, Copy, Debug)]
pub(super) struct GrowConfig {
    /// Most leaves of the tree.
    pub(super) num_leaves: usize,
    /// Fewest rows in a leaf.
    pub(super) min_data_in_leaf: usize,
    /// L2 penalty on leaf values (added to the hessian sum).
    pub(super) lambda: f64,
    /// Smallest loss reduction worth a split.
    pub(super) min_gain: f64,
}

/// A split of a tree being grown, on bins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct BinNode {
    /// Feature tested.
    pub(super) feature: usize,
    /// Rows whose bin is `<= bin` go left; the missing bin goes to the default side.
    pub(super) bin: usize,
    /// Where missing values go.
    pub(super) default_left: bool,
    /// Left child (node index, or `!leaf`).
    pub(super) left: i32,
    /// Right child (node index, or `!leaf`).
    pub(super) right: i32,
    /// Loss reduction.
    pub(super) gain: f64,
}

/// A leaf of a grown tree: its rows are `indices[start..end]` of the grower's index array.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct GrownLeaf {
    /// First row position.
    pub(super) start: usize,
    /// One past the last row position.
    pub(super) end: usize,
    /// Sum of the gradients of its rows.
    pub(super) sum_grad: f64,
}

/// A grown tree on bins.
#[derive(Clone, Debug, Default)]
pub(super) struct Grown {
    /// Splits in creation order (children after parents).
    pub(super) nodes: Vec<BinNode>,
    /// Leaves, indexed as the nodes' `!leaf` references.
    pub(super) leaves: Vec<GrownLeaf>,
}

#[derive(Clone, Copy, Debug)]
struct Split {
    feature: usize,
    bin: usize,
    default_left: bool,
    gain: f64,
    left_grad: f64,
}

struct Leaf {
    start: usize,
    end: usize,
    sum_grad: f64,
    hist: Vec<FeatureHist>,
    best: Option<Split>,
    /// The node whose child this leaf is, and whether it is the left child.
    parent: Option<(usize, bool)>,
}

/// The search for the best split of one leaf. Candidates are compared on their children's score
/// `G_L^2 / (n_L + lambda) + G_R^2 / (n_R + lambda)`; the gain is that minus the parent's score.
struct Scan {
    total_grad: f64,
    total_count: f64,
    min_data: f64,
    lambda: f64,
    /// Score to beat: the best so far, or the parent's plus `min_gain`.
    best_score: f64,
    /// The best split so far, its `gain` holding the score.
    best: Option<Split>,
}

impl Scan {
    #[inline]
    fn score(&self, left_grad: f64, left_count: f64) -> f64 {
        let right_grad = self.total_grad - left_grad;
        let right_count = self.total_count - left_count;
        left_grad * left_grad / (left_count + self.lambda)
            + right_grad * right_grad / (right_count + self.lambda)
    }

    /// Thresholds of a feature without missing values in this leaf: missing values met later
    /// follow the larger side.
    fn without_missing(&mut self, feature: usize, values: &[Bin]) {
        let (mut left_grad, mut left_count) = (0.0, 0.0);
        for (t, bin) in values.iter().enumerate() {
            if bin[1] == 0.0 {
                // Same partition as the previous threshold.
                continue;
            }
            left_grad += bin[0];
            left_count += bin[1];
            if left_count < self.min_data {
                continue;
            }
            if self.total_count - left_count < self.min_data {
                // The right side only shrinks from here on.
                break;
            }
            let score = self.score(left_grad, left_count);
            if score > self.best_score {
                self.best_score = score;
                self.best = Some(Split {
                    feature,
                    bin: t,
                    default_left: 2.0 * left_count >= self.total_count,
                    gain: score,
                    left_grad,
                });
            }
        }
    }

    /// Thresholds of a feature with missing values (gradient sum `missing_grad` over
    /// `missing_count` rows), which go right and then left.
    fn with_missing(
        &mut self,
        feature: usize,
        values: &[Bin],
        missing_grad: f64,
        missing_count: f64,
    ) {
        let (mut left_grad, mut left_count) = (0.0, 0.0);
        for (t, bin) in values.iter().enumerate() {
            if bin[1] == 0.0 {
                continue;
            }
            left_grad += bin[0];
            left_count += bin[1];
            if left_count + missing_count < self.min_data {
                continue;
            }
            if self.total_count - left_count < self.min_data {
                break;
            }
            for (lg, lc, default_left) in [
                (left_grad, left_count, false),
                (left_grad + missing_grad, left_count + missing_count, true),
            ] {
                if lc < self.min_data || self.total_count - lc < self.min_data {
                    continue;
                }
                let score = self.score(lg, lc);
                if score > self.best_score {
                    self.best_score = score;
                    self.best = Some(Split {
                        feature,
                        bin: t,
                        default_left,
                        gain: score,
                        left_grad: lg,
                    });
                }
            }
        }
    }
}

/// Grows trees on one binned matrix, reusing its buffers from tree to tree.
pub(super) struct Grower<'a> {
    binned: &'a Binned,
    config: GrowConfig,
    spare: Vec<Vec<FeatureHist>>,
    ordered: Vec<f64>,
    scratch: Vec<u32>,
}

impl<'a> Grower<'a> {
    /// A grower for `binned`.
    pub(super) fn new(binned: &'a Binned, config: GrowConfig) -> Self {
        Grower {
            binned,
            config,
            spare: Vec::new(),
            ordered: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Grows a tree on the rows `indices` (distinct row numbers; reordered so that each leaf's rows
    /// are contiguous) with per-row gradients `grad`, splitting only on the features where
    /// `active` is true.
    ///
    /// One loop over the frontier, kept whole because the histogram subtraction (the larger
    /// child's histogram is its parent's minus its sibling's) ties each split to the next.
    pub(super) fn grow(&mut self, indices: &mut [u32], grad: &[f64], active: &[bool]) -> Grown {
        let active: Vec<bool> = active
            .iter()
            .zip(&self.binned.features)
            .map(|(&a, f)| a && f.splittable())
            .collect();
        let mut root_hist = self.take_hist();
        self.build(indices, grad, &active, &mut root_hist);
        let sum_grad = indices.iter().map(|&i| grad[i as usize]).sum();
        let mut root = Leaf {
            start: 0,
            end: indices.len(),
            sum_grad,
            hist: root_hist,
            best: None,
            parent: None,
        };
        root.best = self.best_split(&root, &active);
        let mut leaves = vec![root];
        let mut nodes: Vec<BinNode> = Vec::new();

        while leaves.len() < self.config.num_leaves {
            // The best leaf to split; the first one on ties, so growth is deterministic.
            let mut chosen: Option<(usize, Split)> = None;
            for (l, leaf) in leaves.iter().enumerate() {
                if let Some(s) = leaf.best
                    && chosen.is_none_or(|(_, c)| s.gain > c.gain)
                {
                    chosen = Some((l, s));
                }
            }
            let Some((l, split)) = chosen else { break };
            let new_leaf = leaves.len();
            let node = nodes.len();
            let (start, end, parent_grad, parent) = {
                let leaf = &leaves[l];
                (leaf.start, leaf.end, leaf.sum_grad, leaf.parent)
            };
            if let Some((p, is_left)) = parent {
                let link = node as i32;
                if is_left {
                    nodes[p].left = link;
                } else {
                    nodes[p].right = link;
                }
            }
            nodes.push(BinNode {
                feature: split.feature,
                bin: split.bin,
                default_left: split.default_left,
                left: !(l as i32),
                right: !(new_leaf as i32),
                gain: split.gain,
            });
            let mid = self.partition(indices, start, end, &split);

            // Histogram the smaller child; the parent's histogram becomes the larger one's.
            let mut parent_hist = std::mem::take(&mut leaves[l].hist);
            let mut small_hist = self.take_hist();
            let left_smaller = mid - start <= end - mid;
            let small_rows = if left_smaller {
                &indices[start..mid]
            } else {
                &indices[mid..end]
            };
            self.build(small_rows, grad, &active, &mut small_hist);
            self.subtract(&mut parent_hist, &small_hist, &active);
            let (left_hist, right_hist) = if left_smaller {
                (small_hist, parent_hist)
            } else {
                (parent_hist, small_hist)
            };

            let mut left = Leaf {
                start,
                end: mid,
                sum_grad: split.left_grad,
                hist: left_hist,
                best: None,
                parent: Some((node, true)),
            };
            let mut right = Leaf {
                start: mid,
                end,
                sum_grad: parent_grad - split.left_grad,
                hist: right_hist,
                best: None,
                parent: Some((node, false)),
            };
            // A leaf already at the leaf budget's end is never split; skip its search.
            if leaves.len() + 1 < self.config.num_leaves {
                left.best = self.best_split(&left, &active);
                right.best = self.best_split(&right, &active);
            }
            leaves[l] = left;
            leaves.push(right);
        }

        let grown = Grown {
            nodes,
            leaves: leaves
                .iter()
                .map(|l| GrownLeaf {
                    start: l.start,
                    end: l.end,
                    sum_grad: l.sum_grad,
                })
                .collect(),
        };
        for leaf in leaves {
            self.spare.push(leaf.hist);
        }
        grown
    }

    fn take_hist(&mut self) -> Vec<FeatureHist> {
        let n = self.binned.features.len();
        match self.spare.pop() {
            Some(h) if h.len() == n => h,
            _ => vec![[[0.0; 2]; 256]; n],
        }
    }

    /// Fills `hist` (for the active features) from the rows `rows`.
    fn build(&mut self, rows: &[u32], grad: &[f64], active: &[bool], hist: &mut [FeatureHist]) {
        // Gradients in row order, read sequentially by every feature.
        self.ordered.clear();
        self.ordered.extend(rows.iter().map(|&i| grad[i as usize]));
        let ordered = &self.ordered;
        let binned = self.binned;
        let one = |(f, h): (usize, &mut FeatureHist)| {
            if !active[f] {
                return;
            }
            let n_bins = binned.features[f].missing_bin() + 1;
            accumulate(binned.column(f), rows, ordered, &mut h[..n_bins]);
        };
        let n_active = active.iter().filter(|&&a| a).count();
        if rows.len() * n_active >= PARALLEL_MIN_CELLS {
            hist.par_iter_mut().enumerate().for_each(one);
        } else {
            hist.iter_mut().enumerate().for_each(one);
        }
    }

    /// `parent -= small`, bin by bin, for the active features.
    fn subtract(&self, parent: &mut [FeatureHist], small: &[FeatureHist], active: &[bool]) {
        for (f, (p, s)) in parent.iter_mut().zip(small).enumerate() {
            if !active[f] {
                continue;
            }
            let n_bins = self.binned.features[f].missing_bin() + 1;
            for (pb, sb) in p[..n_bins].iter_mut().zip(&s[..n_bins]) {
                pb[0] -= sb[0];
                pb[1] -= sb[1];
            }
        }
    }

    /// The split of `leaf` with the largest gain, if any gains more than `min_gain`.
    fn best_split(&self, leaf: &Leaf, active: &[bool]) -> Option<Split> {
        let GrowConfig {
            min_data_in_leaf,
            lambda,
            min_gain,
            ..
        } = self.config;
        let min_data = min_data_in_leaf.max(1) as f64;
        let total_count = (leaf.end - leaf.start) as f64;
        if total_count < 2.0 * min_data {
            return None;
        }
        let total_grad = leaf.sum_grad;
        let parent_score = total_grad * total_grad / (total_count + lambda);
        let mut scan = Scan {
            total_grad,
            total_count,
            min_data,
            lambda,
            best_score: parent_score + min_gain,
            best: None,
        };
        for (f, hist) in leaf.hist.iter().enumerate() {
            if !active[f] {
                continue;
            }
            let n_value_bins = self.binned.features[f].missing_bin();
            let (values, missing) = hist.split_at(n_value_bins);
            match missing.first() {
                Some(&[g, c]) if c > 0.0 => scan.with_missing(f, values, g, c),
                _ => scan.without_missing(f, values),
            }
        }
        scan.best.map(|mut s| {
            s.gain -= parent_score;
            s
        })
    }

    /// Reorders `indices[start..end]` so the rows going left come first (stably); returns the
    /// position of the first right row.
    fn partition(&mut self, indices: &mut [u32], start: usize, end: usize, split: &Split) -> usize {
        let column = self.binned.column(split.feature);
        let missing = self.binned.features[split.feature].missing_bin();
        self.scratch.clear();
        let mut write = start;
        for k in start..end {
            let i = indices[k];
            let bin = usize::from(column[i as usize]);
            let left = if bin == missing {
                split.default_left
            } else {
                bin <= split.bin
            };
            if left {
                indices[write] = i;
                write += 1;
            } else {
                self.scratch.push(i);
            }
        }
        indices[write..end].copy_from_slice(&self.scratch);
        write
    }
}
