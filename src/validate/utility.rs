//! Machine-learning utility: would a model trained on the synthetic rows serve as well as one
//! trained on the real ones? The same model (multinomial logistic regression, fitted by Adam in
//! candle on one fixed feature map) is trained once on the synthetic rows and once on the train
//! rows, and both are tested on the holdout rows, which neither saw: "train on synthetic, test
//! on real" (TSTR) against "train on real, test on real" (TRTR). The score is ROC AUC: for a
//! binary target the AUC of the second class's probability, for more classes the mean of the
//! one-against-the-rest AUCs (macro average) over the classes the holdout holds.
//!
//! The feature map is fitted on the train rows: numbers standardised (clipped to +-5 standard
//! deviations) with a null flag, categories one-hot with a null slot (unseen ones all zero).
//! Classes are the target's values in the train rows; rows whose target is null or unseen are
//! left out. Everything is seeded by construction: the weights start at zero and the full-batch
//! fit is deterministic.

use std::collections::{BTreeSet, HashMap};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;

use super::distance::{as_f64, as_strings};
use super::{CheckKind, CheckResult, ValidateError};

/// Full-batch Adam steps of each fit.
const STEPS: usize = 300;

/// Adam's learning rate.
const LEARNING_RATE: f64 = 0.05;

/// L2 penalty on the weights, per row: keeps separable synthetic classes from driving them to
/// infinity.
const L2: f64 = 1e-4;

/// Standardised numbers are clipped here, so one extreme value cannot dominate a fit.
const CLIP: f64 = 5.0;

fn failed(what: &str) -> impl Fn(candle_core::Error) -> ValidateError + '_ {
    move |_| ValidateError::Execution {
        what: what.to_owned(),
    }
}

enum Feature {
    Numeric { mean: f64, sd: f64 },
    Categorical { index: HashMap<String, usize> },
}

/// The fixed map of rows to model inputs, fitted on the train rows.
struct FeatureMap {
    columns: Vec<(String, Feature)>,
    width: usize,
}

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a std::sync::Arc<dyn Array>, ValidateError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ValidateError::BadShape {
            check: "machine-learning utility".to_owned(),
            reason: format!("a table has no column `{name}`"),
        })
}

impl FeatureMap {
    fn fit(train: &RecordBatch, columns: &[(String, bool)]) -> Result<Self, ValidateError> {
        let mut features = Vec::new();
        let mut width = 0;
        for (name, numeric) in columns {
            let array = column(train, name)?;
            if *numeric {
                let values: Vec<f64> = as_f64(array)?
                    .iter()
                    .flatten()
                    .filter(|v| v.is_finite())
                    .collect();
                let n = values.len().max(1) as f64;
                let mean = values.iter().sum::<f64>() / n;
                let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                let sd = if variance > 0.0 { variance.sqrt() } else { 1.0 };
                features.push((name.clone(), Feature::Numeric { mean, sd }));
                width += 2;
            } else {
                let strings = as_strings(array)?;
                let seen: BTreeSet<&str> = strings.iter().flatten().collect();
                let index = seen
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (v.to_owned(), i))
                    .collect::<HashMap<_, _>>();
                width += index.len() + 1;
                features.push((name.clone(), Feature::Categorical { index }));
            }
        }
        Ok(Self {
            columns: features,
            width,
        })
    }

    /// Row-major `rows x width` inputs of `batch`'s rows at `rows`.
    fn inputs(&self, batch: &RecordBatch, rows: &[usize]) -> Result<Vec<f32>, ValidateError> {
        let mut out = vec![0.0f32; rows.len() * self.width];
        let mut offset = 0;
        for (name, feature) in &self.columns {
            let array = column(batch, name)?;
            match feature {
                Feature::Numeric { mean, sd } => {
                    let values = as_f64(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let cell = &mut out[r * self.width + offset..];
                        if values.is_null(row) || !values.value(row).is_finite() {
                            cell[1] = 1.0;
                        } else {
                            cell[0] = ((values.value(row) - mean) / sd).clamp(-CLIP, CLIP) as f32;
                        }
                    }
                    offset += 2;
                }
                Feature::Categorical { index } => {
                    let values = as_strings(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let slot = if values.is_null(row) {
                            Some(index.len())
                        } else {
                            index.get(values.value(row)).copied()
                        };
                        if let Some(slot) = slot {
                            out[r * self.width + offset + slot] = 1.0;
                        }
                    }
                    offset += index.len() + 1;
                }
            }
        }
        Ok(out)
    }
}

/// The rows of `batch` whose target is one of `classes`, and their class indices.
fn labelled(
    batch: &RecordBatch,
    target: &str,
    classes: &[String],
) -> Result<(Vec<usize>, Vec<u32>), ValidateError> {
    let strings = as_strings(column(batch, target)?)?;
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for row in 0..strings.len() {
        if strings.is_null(row) {
            continue;
        }
        if let Some(class) = classes.iter().position(|c| c == strings.value(row)) {
            rows.push(row);
            labels.push(class as u32);
        }
    }
    Ok((rows, labels))
}

/// A fitted multinomial logistic regression: `inputs x weights + bias`.
struct Model {
    weights: Tensor,
    bias: Tensor,
}

impl Model {
    /// Fits on `inputs: (rows, width)` with labels in `0..classes`.
    fn fit(
        inputs: &[f32],
        labels: &[u32],
        width: usize,
        classes: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let rows = labels.len();
        let xs = Tensor::from_slice(inputs, (rows, width), device)?;
        let ys = Tensor::from_slice(labels, rows, device)?;
        let weights = Var::zeros((width, classes), DType::F32, device)?;
        let bias = Var::zeros(classes, DType::F32, device)?;
        let mut adam = AdamW::new(
            vec![weights.clone(), bias.clone()],
            ParamsAdamW {
                lr: LEARNING_RATE,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        for _ in 0..STEPS {
            let logits = xs
                .matmul(weights.as_tensor())?
                .broadcast_add(bias.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &ys)?;
            let penalty = (weights.as_tensor().sqr()?.sum_all()? * L2)?;
            adam.backward_step(&(loss + penalty)?)?;
        }
        Ok(Self {
            weights: weights.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        })
    }

    /// Class probabilities of `inputs: (rows, width)`, row-major `(rows, classes)`.
    fn probabilities(
        &self,
        inputs: &[f32],
        rows: usize,
        width: usize,
        device: &Device,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let xs = Tensor::from_slice(inputs, (rows, width), device)?;
        let logits = xs.matmul(&self.weights)?.broadcast_add(&self.bias)?;
        candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()
    }
}

/// The ROC AUC of `scores` for the positives in `labels`, by the Mann-Whitney statistic with
/// tied scores sharing their mean rank (Hanley and McNeil 1982); `None` without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // ranks start..=end (1-based: start + 1 ..= end + 1) share their mean
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * order[start..=end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Binary: the AUC of the second class; more classes: the mean one-against-the-rest AUC over
/// the classes with both positives and negatives in `labels`.
fn auc_of(probabilities: &[Vec<f32>], labels: &[u32], classes: usize) -> Option<f64> {
    let of_class = |class: usize| {
        let scores: Vec<f64> = probabilities.iter().map(|p| f64::from(p[class])).collect();
        let positive: Vec<bool> = labels.iter().map(|&l| l as usize == class).collect();
        roc_auc(&scores, &positive)
    };
    if classes == 2 {
        return of_class(1);
    }
    let aucs: Vec<f64> = (0..classes).filter_map(of_class).collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// The two AUCs on the holdout: trained on `train` and trained on `synthetic`.
pub(super) fn utility_check(
    tables: (&RecordBatch, &RecordBatch, &RecordBatch),
    columns: &[(String, bool)],
    target: &str,
    max_auc_loss: f64,
) -> Result<CheckResult, ValidateError> {
    let (train, holdout, synthetic) = tables;
    let what = "machine-learning utility";
    let name = format!("machine-learning utility ({target})");
    let inputs: Vec<(String, bool)> = columns
        .iter()
        .filter(|(c, _)| c != target)
        .cloned()
        .collect();
    let classes: Vec<String> = as_strings(column(train, target)?)?
        .iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let map = FeatureMap::fit(train, &inputs)?;
    let device = Device::Cpu;
    let (test_rows, test_labels) = labelled(holdout, target, &classes)?;
    let test_inputs = map.inputs(holdout, &test_rows)?;
    let auc_trained_on = |table: &RecordBatch| -> Result<Option<f64>, ValidateError> {
        let (rows, labels) = labelled(table, target, &classes)?;
        if rows.is_empty() || test_rows.is_empty() || classes.len() < 2 {
            return Ok(None);
        }
        let model = Model::fit(
            &map.inputs(table, &rows)?,
            &labels,
            map.width,
            classes.len(),
            &device,
        )
        .map_err(failed(what))?;
        let probabilities = model
            .probabilities(&test_inputs, test_rows.len(), map.width, &device)
            .map_err(failed(what))?;
        Ok(auc_of(&probabilities, &test_labels, classes.len()))
    };
    let real = auc_trained_on(train)?;
    let synthetic = auc_trained_on(synthetic)?;
    let (value, min) = match (real, synthetic) {
        (Some(real), Some(synthetic)) => (synthetic, Some(real - max_auc_loss)),
        _ => (f64::NAN, None),
    };
    let mut result =
        CheckResult::bounded(name, CheckKind::MachineLearningUtility, value, min, None);
    result
        .details
        .insert("auc_trained_on_real".into(), real.into());
    result
        .details
        .insert("auc_trained_on_synthetic".into(), synthetic.into());
    result
        .details
        .insert("classes".into(), classes.len().into());
    result
        .details
        .insert("test_rows".into(), test_rows.len().into());
    Ok(result)
}

/// ROC AUC on `test` of gradient-boosted trees ([`super::boosting`]) trained on `training`
/// ("train on synthetic, test on real" when `training` is synthetic), with `columns` other than
/// `target` as inputs through the feature map fitted on `training`. Binary targets score the
/// second class (in sorted order); more classes take the mean one-against-the-rest AUC. `None`
/// when a side lacks two classes.
pub fn boosted_auc(
    training: &RecordBatch,
    test: &RecordBatch,
    columns: &[(String, bool)],
    target: &str,
) -> Result<Option<f64>, ValidateError> {
    let inputs: Vec<(String, bool)> = columns
        .iter()
        .filter(|(c, _)| c != target)
        .cloned()
        .collect();
    let classes: Vec<String> = as_strings(column(training, target)?)?
        .iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if classes.len() < 2 {
        return Ok(None);
    }
    let map = FeatureMap::fit(training, &inputs)?;
    let (rows, labels) = labelled(training, target, &classes)?;
    let (test_rows, test_labels) = labelled(test, target, &classes)?;
    let (train_x, test_x) = (map.inputs(training, &rows)?, map.inputs(test, &test_rows)?);
    let positives: Vec<u32> = if classes.len() == 2 {
        vec![1]
    } else {
        (0..classes.len() as u32).collect()
    };
    let aucs: Vec<f64> = positives
        .into_iter()
        .filter_map(|class| {
            let y: Vec<bool> = labels.iter().map(|&l| l == class).collect();
            let model = super::boosting::BoostedTrees::fit(&train_x, &y, map.width);
            let truth: Vec<bool> = test_labels.iter().map(|&l| l == class).collect();
            roc_auc(&model.probabilities(&test_x), &truth)
        })
        .collect();
    Ok((!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    #[test]
    fn auc_of_worked_examples() {
        // scikit-learn's roc_auc_score example: 3 of the 4 positive-negative pairs in order
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // a tie between a positive and a negative counts a half
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.2, 0.9, 0.1], &[false, true, false]), Some(1.0));
        assert_eq!(roc_auc(&[0.2, 0.9], &[true, true]), None);
    }

    fn table(x: Vec<f64>, c: Vec<&str>, y: Vec<&str>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
            ("c", Arc::new(StringArray::from(c)) as ArrayRef),
            ("y", Arc::new(StringArray::from(y)) as ArrayRef),
        ])
        .unwrap()
    }

    /// y is "yes" exactly when x > 0; c is noise.
    fn separable(n: usize, flip: bool) -> RecordBatch {
        let x: Vec<f64> = (0..n)
            .map(|i| (i as f64 - n as f64 / 2.0 + 0.5) / n as f64)
            .collect();
        let c: Vec<&str> = (0..n).map(|i| ["u", "v", "w"][i * 7 % 3]).collect();
        let y: Vec<&str> = x
            .iter()
            .map(|&v| if (v > 0.0) != flip { "yes" } else { "no" })
            .collect();
        table(x, c, y)
    }

    #[test]
    fn a_model_learns_a_separable_target_and_not_a_reversed_one() {
        let columns = [
            ("x".to_owned(), true),
            ("c".to_owned(), false),
            ("y".to_owned(), false),
        ];
        let (train, holdout) = (separable(200, false), separable(101, false));
        let same = utility_check(
            (&train, &holdout, &separable(150, false)),
            &columns,
            "y",
            0.1,
        )
        .unwrap();
        assert!(same.passed, "{same:?}");
        assert!(same.value > 0.99 && same.details["auc_trained_on_real"].as_f64().unwrap() > 0.99);
        // synthetic rows whose target is reversed teach the opposite rule
        let reversed = utility_check(
            (&train, &holdout, &separable(150, true)),
            &columns,
            "y",
            0.1,
        )
        .unwrap();
        assert!(!reversed.passed);
        assert!(reversed.value < 0.01, "{reversed:?}");
    }

    #[test]
    fn three_classes_take_the_mean_one_against_the_rest_auc() {
        // each class scores highest on its own row: every one-against-the-rest AUC is 1
        let probabilities = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.7, 0.2],
            vec![0.2, 0.2, 0.6],
        ];
        assert_eq!(auc_of(&probabilities, &[0, 1, 2], 3), Some(1.0));
        // class 2 ranked last for its own row: its AUC is 0, the others 1
        let probabilities = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.7, 0.2],
            vec![0.5, 0.4, 0.05],
        ];
        let auc = auc_of(&probabilities, &[0, 1, 2], 3).unwrap();
        assert!((auc - 2.0 / 3.0).abs() < 1e-12, "{auc}");
    }
}
