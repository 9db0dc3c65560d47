//! Fidelity of Adult releases at epsilon 1 and 3: `synthgate run pipelines/adult.toml` through
//! the library, with the pipeline's defaults and only `privacy.epsilon` changed, into a temporary
//! folder. Prints, for each epsilon, the median over the runs of column shapes, pair trends, the
//! ROC AUC of the income model trained on synthetic rows and on train rows (both tested on the
//! holdout), training seconds and whole-run seconds, and how many runs the gate released.
//! `cargo bench --bench quality`; the README records the latest figures.

use std::time::Instant;

use synthgate::{config, plan, run};

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
    let started = Instant::now();
    let outcome = run::run(plan, Some(format!("eps{epsilon}-{run}")), run::Start::Fresh)
        .await
        .unwrap();
    let total_seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.staging.join("report.json")).unwrap())
            .unwrap();
    let utility = &check(&report, "machine_learning_utility")["details"];
    Figures {
        shapes: check(&report, "column_shapes")["value"].as_f64().unwrap(),
        pairs: check(&report, "pair_trends")["value"].as_f64().unwrap(),
        auc_synthetic: utility["auc_trained_on_synthetic"].as_f64().unwrap(),
        auc_real: utility["auc_trained_on_real"].as_f64().unwrap(),
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
         epsilon | column shapes | pair trends | AUC trained on synthetic | AUC trained on real \
         | training s | run s | released | refused by (runs)"
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
            "{epsilon} | {shapes:.3} | {pairs:.3} | {auc_synthetic:.3} | {auc_real:.3} | \
             {training:.1} | {total:.1} | {released} of {runs} | {}",
            refusals.join(", ")
        );
    }
}
