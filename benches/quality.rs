//! Fidelity of Adult releases at epsilon 1 and 3: `synthgate run pipelines/adult.toml` through
//! the library, with the pipeline's defaults and only `privacy.epsilon` changed, into a temporary
//! folder. Prints, for each epsilon, the median over the runs of column shapes, pair trends and
//! their mean (SDMetrics' quality score), the ROC AUC of the gate's income model (logistic
//! regression) trained on synthetic rows and on train rows (both tested on the holdout), the
//! AUC on Adult's test split of gradient-boosted trees trained on the synthetic rows (TSTR),
//! training seconds and whole-run seconds, and how many runs the gate released. When Python's
//! `sdmetrics` imports, each table is also scored by SDMetrics' own QualityReport against the
//! whole Adult training file (`benches/sdmetrics_quality.py`). Each run's figures are printed as
//! it ends, then the medians.
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
    /// SDMetrics' QualityReport: (quality, pair trends), when it could be run
    sdmetrics: Option<(f64, f64)>,
    training_seconds: f64,
    total_seconds: f64,
    released: bool,
    failed: Vec<String>,
}

/// SDMetrics' own quality score and pair trends of `synthetic` against Adult's training file,
/// or `None` when Python or its `sdmetrics` package is not there.
fn sdmetrics_scores(synthetic: &std::path::Path) -> Option<(f64, f64)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("benches/sdmetrics_quality.py"))
        .arg(root.join("data/adult/adult_train.parquet"))
        .arg(synthetic)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let scores: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    Some((scores["quality"].as_f64()?, scores["pair_trends"].as_f64()?))
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
        sdmetrics: sdmetrics_scores(&outcome.staging.join("synthetic.parquet")),
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

fn verdict(f: &Figures) -> String {
    if f.released {
        "released".to_owned()
    } else {
        format!("refused by {}", f.failed.join(", "))
    }
}

fn print_figures(label: &str, f: &Figures, epochs: f64, verdict: &str) {
    let sdmetrics = f
        .sdmetrics
        .map_or("n/a | n/a".to_owned(), |(quality, pairs)| {
            format!("{quality:.3} | {pairs:.3}")
        });
    println!(
        "{label} | {:.3} | {:.3} | {:.3} | {sdmetrics} | {:.3} | {:.3} | {:.3} | {:.1} ({:.2} \
         per epoch) | {:.1} | {verdict}",
        f.shapes,
        f.pairs,
        (f.shapes + f.pairs) / 2.0,
        f.auc_synthetic,
        f.auc_real,
        f.boosted_test_auc,
        f.training_seconds,
        f.training_seconds / epochs,
        f.total_seconds,
    );
}

#[tokio::main]
async fn main() {
    let runs = std::env::var("SYNTHGATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let defaults: toml::Value = toml::from_str(config::DEFAULTS_TOML).unwrap();
    let epochs = defaults["training"]["epochs"].as_integer().unwrap() as f64;
    println!(
        "Adult, {runs} runs per epsilon\n\
         run | column shapes | pair trends | quality | SDMetrics report: quality | its pair \
         trends | logistic AUC trained on synthetic | on real | boosted TSTR AUC on the test \
         split | training s | run s | verdict"
    );
    for epsilon in EPSILONS {
        let dir = tempfile::tempdir().unwrap();
        let mut figures = Vec::new();
        for run in 0..runs {
            let f = one_run(epsilon, run, dir.path()).await;
            let label = format!("epsilon {epsilon}, run {}", run + 1);
            print_figures(&label, &f, epochs, &verdict(&f));
            figures.push(f);
        }
        let of = |f: fn(&Figures) -> f64| median(&mut figures.iter().map(f).collect::<Vec<_>>());
        let sdmetrics = if figures.iter().all(|f| f.sdmetrics.is_some()) {
            Some((
                of(|f| f.sdmetrics.map_or(f64::NAN, |s| s.0)),
                of(|f| f.sdmetrics.map_or(f64::NAN, |s| s.1)),
            ))
        } else {
            None
        };
        let medians = Figures {
            shapes: of(|f| f.shapes),
            pairs: of(|f| f.pairs),
            auc_synthetic: of(|f| f.auc_synthetic),
            auc_real: of(|f| f.auc_real),
            boosted_test_auc: of(|f| f.boosted_test_auc),
            sdmetrics,
            training_seconds: of(|f| f.training_seconds),
            total_seconds: of(|f| f.total_seconds),
            released: false,
            failed: Vec::new(),
        };
        let released = figures.iter().filter(|f| f.released).count();
        let label = format!("epsilon {epsilon}, medians");
        print_figures(
            &label,
            &medians,
            epochs,
            &format!("{released} of {runs} released"),
        );
    }
}
