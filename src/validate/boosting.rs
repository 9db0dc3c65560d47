//! Gradient-boosted decision trees for a binary target: the stronger of the two models that
//! measure machine-learning utility (the one the benchmark scores "train on synthetic, test on
//! real" with).
//!
//! The method: additive trees fitted stage by stage to the gradient of the logistic loss
//! (Friedman 2001, "Greedy function approximation: a gradient boosting machine"), each tree
//! grown greedily level by level on the second-order expansion of the loss, with split gain
//! `G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda) - G^2 / (H + lambda)` and leaf value
//! `-G / (H + lambda)` (Chen and Guestrin 2016, "XGBoost: a scalable tree boosting system",
//! equations 5 and 7), over histograms of each feature cut at quantiles of the training rows
//! (as LightGBM does: Ke et al. 2017). Everything is deterministic: no row or feature sampling.

/// Boosting rounds (trees).
const ROUNDS: usize = 200;
/// Depth of each tree.
const DEPTH: usize = 5;
/// Shrinkage of each tree's values.
const LEARNING_RATE: f64 = 0.1;
/// L2 penalty on leaf values (`lambda` above).
const LAMBDA: f64 = 1.0;
/// Smallest hessian sum a child may hold: about 4 rows at p = 0.5, or more near 0 and 1.
const MIN_CHILD_HESSIAN: f64 = 1.0;
/// Most histogram bins per feature.
const MAX_BINS: usize = 32;

/// A split of a node: rows whose bin of `feature` is at most `bin` go left.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: u8,
}

/// One tree, complete to [`DEPTH`]: node `k` has children `2k + 1` and `2k + 2`; a node that
/// did not split sends every row left and its children carry its value on.
#[derive(Debug, Clone)]
struct Tree {
    splits: Vec<Option<Split>>,
    leaves: Vec<f64>,
}

impl Tree {
    fn leaf_of(&self, bins: &[u8]) -> usize {
        let mut node = 0;
        for _ in 0..DEPTH {
            node = match self.splits[node] {
                Some(split) if bins[split.feature] > split.bin => 2 * node + 2,
                _ => 2 * node + 1,
            };
        }
        node - self.splits.len()
    }
}

/// A fitted binary classifier.
#[derive(Debug, Clone)]
pub struct BoostedTrees {
    /// per feature, the increasing cut points between bins
    cuts: Vec<Vec<f32>>,
    base: f64,
    trees: Vec<Tree>,
}

/// Cut points of one feature: between consecutive distinct values when there are few, else at
/// quantiles of the values.
fn cuts_of(mut values: Vec<f32>) -> Vec<f32> {
    values.sort_by(f32::total_cmp);
    values.dedup();
    if values.len() <= MAX_BINS {
        return values.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    }
    let mut cuts: Vec<f32> = (1..MAX_BINS)
        .map(|k| values[k * values.len() / MAX_BINS])
        .collect();
    cuts.dedup();
    cuts
}

fn bin_of(cuts: &[f32], value: f32) -> u8 {
    cuts.partition_point(|&c| c < value) as u8
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl BoostedTrees {
    /// Fits on `inputs` (row-major, `width` features per row) with `labels` (true: positive).
    pub fn fit(inputs: &[f32], labels: &[bool], width: usize) -> Self {
        let rows = labels.len();
        let cuts: Vec<Vec<f32>> = (0..width)
            .map(|f| cuts_of((0..rows).map(|r| inputs[r * width + f]).collect()))
            .collect();
        // feature-major bins: one feature's bins of all rows are contiguous for the histograms
        let mut binned = vec![0u8; rows * width];
        for f in 0..width {
            for r in 0..rows {
                binned[f * rows + r] = bin_of(&cuts[f], inputs[r * width + f]);
            }
        }
        let positives = labels.iter().filter(|&&y| y).count() as f64;
        let rate = (positives / rows.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
        let base = (rate / (1.0 - rate)).ln();
        let mut scores = vec![base; rows];
        let mut trees = Vec::with_capacity(ROUNDS);
        let mut gradients = vec![0.0; rows];
        let mut hessians = vec![0.0; rows];
        for _ in 0..ROUNDS {
            for r in 0..rows {
                let p = sigmoid(scores[r]);
                gradients[r] = p - f64::from(u8::from(labels[r]));
                hessians[r] = (p * (1.0 - p)).max(1e-12);
            }
            let (tree, leaf_of_row) = grow(&binned, rows, width, &cuts, &gradients, &hessians);
            for (score, &leaf) in scores.iter_mut().zip(&leaf_of_row) {
                *score += tree.leaves[leaf];
            }
            trees.push(tree);
        }
        Self { cuts, base, trees }
    }

    /// The positive class's probability for each row of `inputs` (row-major, the fit's width).
    pub fn probabilities(&self, inputs: &[f32]) -> Vec<f64> {
        let width = self.cuts.len();
        inputs
            .chunks_exact(width)
            .map(|row| {
                let bins: Vec<u8> = row
                    .iter()
                    .zip(&self.cuts)
                    .map(|(&v, cuts)| bin_of(cuts, v))
                    .collect();
                let score: f64 = self.trees.iter().map(|t| t.leaves[t.leaf_of(&bins)]).sum();
                sigmoid(self.base + score)
            })
            .collect()
    }
}

/// Grows one tree on the rows' gradients and hessians; returns it and each row's leaf.
fn grow(
    binned: &[u8],
    rows: usize,
    width: usize,
    cuts: &[Vec<f32>],
    gradients: &[f64],
    hessians: &[f64],
) -> (Tree, Vec<usize>) {
    let inner = (1 << DEPTH) - 1;
    let mut splits: Vec<Option<Split>> = vec![None; inner];
    // node of each row at the current level, counted from the level's first node
    let mut node_of_row = vec![0usize; rows];
    for level in 0..DEPTH {
        let nodes = 1 << level;
        let first = nodes - 1;
        let mut totals = vec![(0.0f64, 0.0f64); nodes];
        for r in 0..rows {
            let t = &mut totals[node_of_row[r]];
            t.0 += gradients[r];
            t.1 += hessians[r];
        }
        let mut best: Vec<Option<(f64, Split)>> = vec![None; nodes];
        let mut histogram = vec![(0.0f64, 0.0f64); nodes * (MAX_BINS + 1)];
        for f in 0..width {
            let bins_of_feature = cuts[f].len() + 1;
            if bins_of_feature < 2 {
                continue;
            }
            histogram.iter_mut().for_each(|h| *h = (0.0, 0.0));
            let column = &binned[f * rows..(f + 1) * rows];
            for r in 0..rows {
                let h = &mut histogram[node_of_row[r] * (MAX_BINS + 1) + column[r] as usize];
                h.0 += gradients[r];
                h.1 += hessians[r];
            }
            for node in 0..nodes {
                let (g, h) = totals[node];
                let parent = g * g / (h + LAMBDA);
                let (mut gl, mut hl) = (0.0, 0.0);
                for bin in 0..bins_of_feature - 1 {
                    let cell = histogram[node * (MAX_BINS + 1) + bin];
                    gl += cell.0;
                    hl += cell.1;
                    let (gr, hr) = (g - gl, h - hl);
                    if hl < MIN_CHILD_HESSIAN || hr < MIN_CHILD_HESSIAN {
                        continue;
                    }
                    let gain = gl * gl / (hl + LAMBDA) + gr * gr / (hr + LAMBDA) - parent;
                    if gain > 1e-9 && best[node].is_none_or(|(b, _)| gain > b) {
                        best[node] = Some((
                            gain,
                            Split {
                                feature: f,
                                bin: bin as u8,
                            },
                        ));
                    }
                }
            }
        }
        for (node, choice) in best.iter().enumerate() {
            splits[first + node] = choice.map(|(_, split)| split);
        }
        for r in 0..rows {
            let node = node_of_row[r];
            let right = splits[first + node].is_some_and(|s| binned[s.feature * rows + r] > s.bin);
            node_of_row[r] = 2 * node + usize::from(right);
        }
    }
    let mut sums = vec![(0.0f64, 0.0f64); 1 << DEPTH];
    for r in 0..rows {
        let s = &mut sums[node_of_row[r]];
        s.0 += gradients[r];
        s.1 += hessians[r];
    }
    let leaves = sums
        .iter()
        .map(|&(g, h)| -LEARNING_RATE * g / (h + LAMBDA))
        .collect();
    (Tree { splits, leaves }, node_of_row)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::validate::utility::roc_auc;

    /// Rows of two features where the label is `x0 * x1 > 0` (XOR of signs), which no linear
    /// model separates, with `noise` of the labels flipped.
    fn xor(rows: usize, noise: f64, seed: u64) -> (Vec<f32>, Vec<bool>) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut inputs = Vec::with_capacity(2 * rows);
        let mut labels = Vec::with_capacity(rows);
        for _ in 0..rows {
            let (a, b) = (rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5);
            inputs.extend([a, b]);
            labels.push((a * b > 0.0) != (rng.random::<f64>() < noise));
        }
        (inputs, labels)
    }

    #[test]
    fn trees_learn_an_interaction_and_reach_the_noise_ceiling() {
        let (train_x, train_y) = xor(4000, 0.1, 1);
        let (test_x, test_y) = xor(4000, 0.1, 2);
        let model = BoostedTrees::fit(&train_x, &train_y, 2);
        let auc = roc_auc(&model.probabilities(&test_x), &test_y).unwrap();
        // with 10 % of labels flipped, a perfect score of the sign pattern has AUC 0.9
        assert!(auc > 0.85 && auc <= 0.91, "AUC {auc}");
    }

    #[test]
    fn labels_unrelated_to_the_inputs_give_chance() {
        let (train_x, _) = xor(4000, 0.0, 3);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let train_y: Vec<bool> = (0..4000).map(|_| rng.random::<bool>()).collect();
        let (test_x, test_y) = xor(4000, 0.0, 5);
        let model = BoostedTrees::fit(&train_x, &train_y, 2);
        let auc = roc_auc(&model.probabilities(&test_x), &test_y).unwrap();
        assert!((auc - 0.5).abs() < 0.05, "AUC {auc}");
    }

    #[test]
    fn cuts_separate_few_values_and_cap_many_at_the_bin_limit() {
        assert_eq!(cuts_of(vec![1.0, 0.0, 1.0, 3.0]), vec![0.5, 2.0]);
        let many = cuts_of((0..1000).map(|v| v as f32).collect());
        assert_eq!(many.len(), MAX_BINS - 1);
        assert_eq!(bin_of(&many, -1.0), 0);
        assert_eq!(bin_of(&many, 2000.0) as usize, MAX_BINS - 1);
    }
}
