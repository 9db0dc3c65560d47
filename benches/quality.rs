//! Fidelity of Adult releases at epsilon 1 and 3: `synthgate run pipelines/adult.toml` through
//! the library, with the pipeline's defaults and only `privacy.epsilon` changed, into a temporary
//! folder. Prints, for each epsilon, the median over the runs of column shapes, pair trends and
//! their mean (SDMetrics' quality score), the ROC AUC of the gate's income model (logistic
//! regression) trained on synthetic rows and on train rows (both tested on the holdout), the
//! AUC on Adult's test split of gradient-boosted trees trained on the synthetic rows (TSTR),
//! training seconds and whole-run seconds, and how many runs the gate released.
//! `cargo bench --bench quality`; the README records the latest figures.

use std::time::Instant;

use synthgate::{config, evaluate, plan, run};

/// Runs per epsilon; `SYNTHGATE_BENCH_RUNS` overrides.
const RUNS: usize = 3;

const EPSILONS: [f64; 2] = [1.0, 3.0];

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One run's figures from its `report.json`.
struct Figures {
    shapes: f64,
    pairs: f64,
    auc_synthetic: f64,
    auc_real: f64,
    boosted_test_auc: f64,
    training_seconds: f64,
    total_seconds: f64,
    released: bool,
    failed: Vec<String>,
}

fn check<'a>(report: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    report["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check"))
}

async fn one_run(epsilon: f64, run: usize, dir: &std::path::Path) -> Figures {
    let overrides = vec![
        format!("privacy.epsilon={epsilon}"),
        format!("output.url={}", dir.join("out").display()),
        format!("output.staging_url={}", dir.join("staging").display()),
    ];
    let pipeline = config::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/adult.toml"),
        &overrides,
    )
    .unwrap();
    let plan = plan::make_plan(pipeline).await.unwrap();
    let columns = plan.schema.learned_columns();
    let started = Instant::now();
    let outcome = run::run(plan, Some(format!("eps{epsilon}-{run}")), run::Start::Fresh)
        .await
        .unwrap();
    let total_seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.staging.join("report.json")).unwrap())
            .unwrap();
    let utility = &check(&report, "machine_learning_utility")["details"];
    let here = std::path::Path::new(".");
    let synthetic = evaluate::read_table(
        outcome.staging.join("synthetic.parquet").to_str().unwrap(),
        here,
    )
    .await
    .unwrap();
    let test = evaluate::read_table(
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/adult/adult_test.parquet"),
        here,
    )
    .await
    .unwrap();
    let boosted_test_auc =
        synthgate::validate::utility::boosted_auc(&synthetic, &test, &columns, "income")
            .unwrap()
            .unwrap();
    Figures {
        shapes: check(&report, "column_shapes")["value"].as_f64().unwrap(),
        pairs: check(&report, "pair_trends")["value"].as_f64().unwrap(),
        auc_synthetic: utility["auc_trained_on_synthetic"].as_f64().unwrap(),
        auc_real: utility["auc_trained_on_real"].as_f64().unwrap(),
        boosted_test_auc,
        training_seconds: outcome.training_seconds,
        total_seconds,
        released: outcome.released,
        failed: outcome.failed_checks,
    }
}

#[tokio::main]
async fn main() {
    let runs = std::env::var("SYNTHGATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    println!(
        "Adult, {runs} runs per epsilon, medians\n\
         epsilon | column shapes | pair trends | quality | logistic AUC trained on synthetic \
         | on real | boosted TSTR AUC on the test split | training s | run s | released \
         | refused by (runs)"
    );
    for epsilon in EPSILONS {
        let dir = tempfile::tempdir().unwrap();
        let mut figures = Vec::new();
        for run in 0..runs {
            figures.push(one_run(epsilon, run, dir.path()).await);
        }
        let of = |f: fn(&Figures) -> f64| median(&mut figures.iter().map(f).collect::<Vec<_>>());
        let (shapes, pairs) = (of(|f| f.shapes), of(|f| f.pairs));
        let (auc_synthetic, auc_real) = (of(|f| f.auc_synthetic), of(|f| f.auc_real));
        let quality = of(|f| (f.shapes + f.pairs) / 2.0);
        let boosted = of(|f| f.boosted_test_auc);
        let (training, total) = (of(|f| f.training_seconds), of(|f| f.total_seconds));
        let released = figures.iter().filter(|f| f.released).count();
        let mut refusals = std::collections::BTreeMap::<&str, usize>::new();
        for name in figures.iter().flat_map(|f| &f.failed) {
            *refusals.entry(name.as_str()).or_default() += 1;
        }
        let refusals: Vec<String> = refusals
            .iter()
            .map(|(name, n)| format!("{name} ({n})"))
            .collect();
        println!(
            "{epsilon} | {shapes:.3} | {pairs:.3} | {quality:.3} | {auc_synthetic:.3} | \
             {auc_real:.3} | {boosted:.3} | {training:.1} | {total:.1} | {released} of {runs} | {}",
            refusals.join(", ")
        );
    }
}
