//! A fitted regression tree as one flat array of nodes, and the checks that make it safe to walk.
//!
//! Nodes are stored in creation order; a child reference is a node index when non-negative and
//! `!leaf` (bitwise not) when negative, as in LightGBM's model files. Every child node comes after
//! its parent, so a walk always terminates, and [`Tree::check`] verifies this (and every index) on
//! deserialisation: a tree read from a corrupt file is an error, never an out-of-bounds panic.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// One split: rows with `x[feature] <= threshold` go left, missing (non-finite) values go to the
/// default side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Node {
    /// Column index of the feature tested.
    pub(super) feature: u32,
    /// Finite threshold; `x <= threshold` goes left.
    pub(super) threshold: f64,
    /// Where NaN and ±inf go.
    pub(super) default_left: bool,
    /// Left child: a node index, or `!leaf` when negative.
    pub(super) left: i32,
    /// Right child: a node index, or `!leaf` when negative.
    pub(super) right: i32,
    /// Loss reduction of the split (for importances).
    pub(super) gain: f64,
}

/// A regression tree: `nodes.len() + 1` leaves; a tree without nodes is a single leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Tree {
    /// Internal nodes, root first.
    pub(super) nodes: Vec<Node>,
    /// Leaf outputs (already multiplied by the learning rate).
    pub(super) leaves: Vec<f64>,
}

impl Tree {
    /// The output of the tree for `row`; `row` must have more columns than any node's feature,
    /// which [`Tree::check`] and the caller's column-count check guarantee.
    #[inline]
    pub(super) fn predict_row(&self, row: &[f64]) -> f64 {
        let mut child = if self.nodes.is_empty() { !0 } else { 0 };
        while child >= 0 {
            let node = &self.nodes[child as usize];
            let x = row[node.feature as usize];
            let left = if x.is_finite() {
                x <= node.threshold
            } else {
                node.default_left
            };
            child = if left { node.left } else { node.right };
        }
        self.leaves[!child as usize]
    }

    /// Checks the invariants [`Tree::predict_row`] relies on, for a model of `n_cols` features.
    pub(super) fn check(&self, n_cols: usize) -> Result<(), ModelError> {
        let bad = |reason: String| {
            Err(ModelError::Corrupt {
                what: "GBM tree",
                reason,
            })
        };
        let n_nodes = self.nodes.len();
        if self.leaves.len() != n_nodes + 1 {
            return bad(format!(
                "{n_nodes} nodes need {} leaves, got {}",
                n_nodes + 1,
                self.leaves.len()
            ));
        }
        if n_nodes > i32::MAX as usize {
            return bad(format!("{n_nodes} nodes are too many"));
        }
        if let Some(v) = self.leaves.iter().find(|v| !v.is_finite()) {
            return bad(format!("leaf value {v} is not finite"));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.feature as usize >= n_cols {
                return bad(format!(
                    "node {i} tests feature {} of {n_cols}",
                    node.feature
                ));
            }
            if !node.threshold.is_finite() {
                return bad(format!("node {i} has threshold {}", node.threshold));
            }
            for child in [node.left, node.right] {
                let ok = if child >= 0 {
                    (child as usize) > i && (child as usize) < n_nodes
                } else {
                    (!child as usize) < self.leaves.len()
                };
                if !ok {
                    return bad(format!("node {i} has child {child}"));
                }
            }
        }
        Ok(())
    }
}
