//! `report.html`: the internal report of a run, rendered from its `report.json` alone, so
//! `synthgate report RUN_DIR` rebuilds it from a staged run.
//!
//! Guarantees: the page is self-contained (inline CSS and SVG, no script, no link to anything
//! outside it) and shows only aggregates: shares in bins and released categories, correlation
//! and similarity scores, check values, attack rates and the privacy ledger. A user SQL check
//! shows its verdict without its value, since its query may return a row value.

use std::fmt::Write;

use serde_json::Value;

use super::distributions::ColumnDistribution;

/// Colours of the two tables in every chart.
const REAL_COLOUR: &str = "#3b6ea8";
const SYNTHETIC_COLOUR: &str = "#e08a3c";

/// Text with `&`, `<`, `>` and quotes escaped for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64()
}

/// A number in at most four significant digits without trailing zeros; a dash for none.
fn figure(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(v) if !v.is_finite() => "not measured".to_owned(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e9 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1e5 || v.abs() < 1e-3 => format!("{v:.3e}"),
        Some(v) => {
            let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
            let text = format!("{v:.digits$}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

/// Epsilon spent: six decimals, so a run just under its target does not read as the target.
fn precise(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let text = format!("{v:.6}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        other => figure(other),
    }
}

/// A risk or a rate: four decimals, as `synthgate evaluate` prints them.
fn rate(value: Option<f64>) -> String {
    match value {
        // -0.00001 reads as 0, not as a negative risk
        Some(v) if v.is_finite() => format!("{:.4}", if v.abs() < 5e-5 { 0.0 } else { v }),
        Some(_) => "not measured".to_owned(),
        None => "–".to_owned(),
    }
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px;
  color: #1d232b; background: #fff; font-size: 14px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px;
  border-bottom: 1px solid #d5dae0; padding-bottom: 4px; } h3 { font-size: 14px; margin: 6px 0; }
.internal { background: #fff4d6; border: 1px solid #e6c35c; padding: 8px 12px; margin: 12px 0; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: bold; color: #fff; }
.released { background: #2e7d32; } .refused { background: #b3261e; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #d5dae0;
  padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #f1f3f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.limit { white-space: nowrap; }
.pass { color: #2e7d32; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }
.inconclusive { color: #8a6d00; font-weight: bold; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; } .chart { border: 1px solid #e3e6ea; padding: 8px; }
.bars { width: 440px; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
.muted { color: #5b6570; }
";

/// The whole page for a run's `report.json`.
pub fn render(report: &Value) -> String {
    let mut page = String::new();
    let title = format!(
        "synthgate report: {} / {}",
        report["pipeline"].as_str().unwrap_or("?"),
        report["run_id"].as_str().unwrap_or("?")
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    page.push_str(&header(report));
    page.push_str(&privacy(&report["privacy"]));
    let checks: Vec<Value> = report["verdict"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    page.push_str(&check_tables(&checks));
    page.push_str(&columns(report, &checks));
    page.push_str(&correlations(&checks));
    page.push_str("</body></html>\n");
    page
}

fn header(report: &Value) -> String {
    let released = report["verdict"]["passed"].as_bool().unwrap_or(false);
    let (class, word) = if released {
        ("released", "passed: released")
    } else {
        ("refused", "refused: nothing was published")
    };
    format!(
        "<h1>synthgate report</h1>\
         <p class=\"muted\">pipeline <b>{}</b>, run <b>{}</b>, created {}</p>\
         <p><span class=\"verdict {class}\">gate {word}</span></p>\
         <div class=\"internal\">Internal: this page shows aggregates of the real rows (shares, \
         correlations, check values). It is not differentially private. Do not publish it.</div>\
         <table><tr><th>synthetic rows</th><th>train rows</th><th>holdout rows</th>\
         <th>training seconds</th></tr><tr><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table>\n",
        escape(report["pipeline"].as_str().unwrap_or("?")),
        escape(report["run_id"].as_str().unwrap_or("?")),
        escape(report["created_at"].as_str().unwrap_or("?")),
        figure(number(&report["rows"])),
        figure(number(&report["train_rows"])),
        figure(number(&report["holdout_rows"])),
        figure(number(&report["training_seconds"])),
    )
}

fn privacy(privacy: &Value) -> String {
    let mut out = String::from("<h2>Privacy ledger</h2>");
    let _ = write!(
        out,
        "<table><tr><th>epsilon spent</th><th>epsilon target</th><th>delta</th>\
         <th>accountant</th><th>noise multiplier</th><th>DP-SGD steps</th><th>sampling rate</th>\
         <th>clipping norm</th></tr><tr><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table>",
        precise(number(&privacy["epsilon"])),
        figure(number(&privacy["epsilon_target"])),
        figure(number(&privacy["delta"])),
        escape(privacy["accountant"].as_str().unwrap_or("?")),
        figure(number(&privacy["noise_multiplier"])),
        figure(number(&privacy["steps"])),
        figure(number(&privacy["sampling_rate"])),
        figure(number(&privacy["max_grad_norm"])),
    );
    out.push_str("<table><tr><th>charged for</th><th>mechanism</th><th>parameters</th></tr>");
    for entry in privacy["ledger"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let parameters: Vec<String> = entry
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| *key != "purpose" && *key != "mechanism")
            .map(|(key, value)| format!("{} = {}", escape(key), figure(number(value))))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(entry["purpose"].as_str().unwrap_or("?")),
            escape(entry["mechanism"].as_str().unwrap_or("?")),
            parameters.join(", ")
        );
    }
    out.push_str("</table>\n");
    out
}

fn status(check: &Value) -> String {
    let status = check["status"].as_str().unwrap_or("fail");
    let word = if status == "fail" { "FAIL" } else { status };
    format!("<td class=\"{}\">{}</td>", escape(status), escape(word))
}

fn threshold(check: &Value) -> String {
    match (number(&check["min"]), number(&check["max"])) {
        (Some(min), Some(max)) => format!("{} to {}", figure(Some(min)), figure(Some(max))),
        (Some(min), None) => format!("at least {}", figure(Some(min))),
        (None, Some(max)) => format!("at most {}", figure(Some(max))),
        (None, None) => "–".to_owned(),
    }
}

const FIDELITY_KINDS: [&str; 5] = [
    "column_shapes",
    "pair_trends",
    "workload",
    "machine_learning_utility",
    "user_sql",
];

fn check_tables(checks: &[Value]) -> String {
    let mut out = String::from(
        "<h2>Fidelity and user checks</h2><table><tr><th>verdict</th><th>check</th>\
         <th>value</th><th>threshold</th><th>notes</th></tr>",
    );
    for check in checks
        .iter()
        .filter(|c| FIDELITY_KINDS.contains(&c["kind"].as_str().unwrap_or("")))
    {
        let user = check["kind"] == "user_sql";
        let value = if user {
            "hidden (a query may return a row value)".to_owned()
        } else {
            figure(number(&check["value"]))
        };
        let details = &check["details"];
        let note = if let Some(real) = number(&details["auc_trained_on_real"]) {
            format!(
                "ROC AUC trained on synthetic rows; trained on real rows: {}",
                figure(Some(real))
            )
        } else if let Some(groups) = number(&details["groups_compared"]) {
            format!(
                "mean relative error over {} groups of 30 or more real rows",
                figure(Some(groups))
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr>{}<td>{}</td><td class=\"num\">{value}</td><td class=\"limit\">{}</td><td>{}</td></tr>",
            status(check),
            escape(check["name"].as_str().unwrap_or("?")),
            threshold(check),
            escape(&note)
        );
    }
    out.push_str("</table>");
    out.push_str(
        "<h2>Attacks</h2><p class=\"muted\">Risk = (success on train people - success on holdout \
         people) / (1 - success on holdout people), with its 95 % interval; the gate compares \
         the upper end. Inconclusive: the attack did no better against the synthetic table than \
         against its baseline (each column shuffled on its own).</p><table><tr><th>verdict</th>\
         <th>attack</th><th>risk</th><th>95 % interval</th><th>success on train</th>\
         <th>success against baseline</th><th>threshold</th></tr>",
    );
    for check in checks
        .iter()
        .filter(|c| !FIDELITY_KINDS.contains(&c["kind"].as_str().unwrap_or("")))
    {
        let risk = &check["risk"];
        let (risk_value, interval) = if risk.is_object() {
            (
                rate(number(&risk["value"])),
                format!(
                    "[{}, {}]",
                    rate(number(&risk["low"])),
                    rate(number(&risk["high"]))
                ),
            )
        } else {
            (rate(number(&check["value"])), "–".to_owned())
        };
        let rates = check["rates"].as_array();
        let rate = |i: usize| rate(rates.and_then(|r| r.get(i)).and_then(Value::as_f64));
        let _ = write!(
            out,
            "<tr>{}<td>{}</td><td class=\"num\">{risk_value}</td><td class=\"num\">{interval}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"limit\">{}</td></tr>",
            status(check),
            escape(check["name"].as_str().unwrap_or("?")),
            rate(0),
            rate(1),
            threshold(check)
        );
    }
    out.push_str("</table>\n");
    out
}

/// Compact axis labels: 12, 1.5, 2.5e4.
fn tick(value: f64) -> String {
    if value.abs() >= 1e4 {
        format!("{value:.1e}")
    } else if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// A grouped bar chart of real against synthetic shares.
fn bar_chart(distribution: &ColumnDistribution) -> String {
    // categories need room for their slanted labels under the axis
    let bottom = if distribution.range.is_some() {
        24.0
    } else {
        78.0
    };
    let (width, left, top) = (440.0, 44.0, 12.0);
    let right = 22.0;
    let height = 150.0 + top + bottom;
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let bars = distribution.real.len().max(1);
    let highest = distribution
        .real
        .iter()
        .chain(&distribution.synthetic)
        .fold(0.0f64, |m, &v| m.max(v))
        .max(1e-9)
        * 1.08;
    let slot = plot_width / bars as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\"><g font-size=\"10\" fill=\"#1d232b\">"
    );
    for k in 0..=4 {
        let share = highest * f64::from(k) / 4.0;
        let y = top + plot_height * (1.0 - f64::from(k) / 4.0);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ea\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            width - right,
            left - 4.0,
            y + 3.0,
            share * 100.0
        );
    }
    for (i, (real, synthetic)) in distribution
        .real
        .iter()
        .zip(&distribution.synthetic)
        .enumerate()
    {
        let x = left + slot * i as f64;
        for (offset, share, colour) in
            [(0.1, real, REAL_COLOUR), (0.5, synthetic, SYNTHETIC_COLOUR)]
        {
            let h = plot_height * share / highest;
            let _ = write!(
                svg,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\" fill=\"{colour}\">\
                 <title>{:.2}%</title></rect>",
                x + slot * offset,
                top + plot_height - h,
                slot * 0.4,
                share * 100.0
            );
        }
    }
    let baseline = top + plot_height;
    let _ = write!(
        svg,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{baseline}\" y2=\"{baseline}\" stroke=\"#5b6570\"/>",
        width - right
    );
    match distribution.range {
        Some((low, high)) => {
            for k in 0..=4 {
                let x = left + plot_width * f64::from(k) / 4.0;
                let value = low + (high - low) * f64::from(k) / 4.0;
                let _ = write!(
                    svg,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    baseline + 14.0,
                    escape(&tick(value))
                );
            }
        }
        None => {
            for (i, label) in distribution.labels.iter().enumerate() {
                let x = left + slot * (i as f64 + 0.5);
                let short: String = label.chars().take(14).collect();
                let short = if short.len() < label.len() {
                    format!("{short}…")
                } else {
                    short
                };
                let _ = write!(
                    svg,
                    "<text transform=\"translate({x:.1},{:.1}) rotate(-45)\" text-anchor=\"end\">\
                     {}<title>{}</title></text>",
                    baseline + 10.0,
                    escape(&short),
                    escape(label)
                );
            }
        }
    }
    svg.push_str("</g></svg>");
    svg
}

fn columns(report: &Value, checks: &[Value]) -> String {
    let distributions: Vec<ColumnDistribution> =
        serde_json::from_value(report["columns"].clone()).unwrap_or_default();
    let mut scores = std::collections::HashMap::new();
    for check in checks.iter().filter(|c| c["kind"] == "column_shapes") {
        for shape in check["details"]["columns"].as_array().into_iter().flatten() {
            scores.insert(
                shape["column"].as_str().unwrap_or("").to_owned(),
                (
                    shape["metric"].as_str().unwrap_or("").to_owned(),
                    number(&shape["score"]),
                ),
            );
        }
    }
    let mut out = format!(
        "<h2>Columns: real against synthetic</h2><p class=\"legend\"><span style=\"background:\
         {REAL_COLOUR}\"></span>real (train rows)<span style=\"background:{SYNTHETIC_COLOUR}\">\
         </span>synthetic. Numeric ranges are the released bounds (public or DP), never the \
         real minimum and maximum; categories are the released ones, other values count under \
         \"other\".</p><div class=\"grid\">"
    );
    for distribution in &distributions {
        let score = scores
            .get(&distribution.column)
            .map(|(metric, score)| format!("{} {}", metric.replace('_', " "), figure(*score)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<div class=\"chart bars\"><h3>{}</h3><div class=\"muted\">{} column, {} metadata; {}; \
             nulls: real {:.1}%, synthetic {:.1}%</div>{}</div>",
            escape(&distribution.column),
            escape(&distribution.kind),
            if distribution.metadata == "dp" {
                "DP"
            } else {
                "public"
            },
            escape(&score),
            distribution.real_nulls * 100.0,
            distribution.synthetic_nulls * 100.0,
            bar_chart(distribution)
        );
    }
    out.push_str("</div>\n");
    out
}

/// A colour for `value` in [0, 1] from white to `to` (r, g, b).
fn shade(value: f64, to: (f64, f64, f64)) -> String {
    let t = value.clamp(0.0, 1.0);
    let mix = |c: f64| (255.0 + (c - 255.0) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(to.0), mix(to.1), mix(to.2))
}

/// Blue for negative, red for positive correlations.
fn diverging(value: f64) -> String {
    if value < 0.0 {
        shade(-value, (33.0, 102.0, 172.0))
    } else {
        shade(value, (178.0, 24.0, 43.0))
    }
}

/// A square heatmap of `cells[i][j]` (None: blank) with `names` on both axes.
fn heatmap(
    title: &str,
    names: &[String],
    cells: &[Vec<Option<f64>>],
    colour: &dyn Fn(f64) -> String,
) -> String {
    let n = names.len();
    let cell = (420.0 / n.max(1) as f64).clamp(12.0, 30.0);
    let longest = names
        .iter()
        .map(|name| name.chars().count().min(18))
        .max()
        .unwrap_or(1) as f64;
    let margin = 6.5 * longest + 10.0;
    let size = margin + cell * n as f64 + 4.0;
    let mut svg = format!(
        "<div class=\"chart\"><h3>{}</h3><svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{size:.0}\" height=\"{size:.0}\" role=\"img\"><g font-size=\"10\" fill=\"#1d232b\">",
        escape(title)
    );
    for (i, name) in names.iter().enumerate() {
        let short: String = name.chars().take(18).collect();
        let middle = margin + cell * (i as f64 + 0.5);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <text transform=\"translate({middle:.1},{:.1}) rotate(-90)\">{}</text>",
            margin - 4.0,
            middle + 3.0,
            escape(&short),
            margin - 4.0,
            escape(&short)
        );
    }
    for (i, row) in cells.iter().enumerate() {
        for (j, value) in row.iter().enumerate() {
            let (fill, label) = match value {
                Some(v) => (colour(*v), figure(Some(*v))),
                None => ("#f1f3f5".to_owned(), "undefined".to_owned()),
            };
            let (x, y) = (margin + cell * j as f64, margin + cell * i as f64);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" \
                 fill=\"{fill}\" stroke=\"#fff\"><title>{} × {}: {label}</title></rect>",
                escape(&names[i]),
                escape(&names[j])
            );
            if let Some(v) = value.filter(|_| cell >= 26.0) {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"8\">\
                     {v:.2}</text>",
                    x + cell / 2.0,
                    y + cell / 2.0 + 3.0
                );
            }
        }
    }
    svg.push_str("</g></svg></div>");
    svg
}

fn correlations(checks: &[Value]) -> String {
    let pairs: Vec<&Value> = checks
        .iter()
        .filter(|c| c["kind"] == "pair_trends")
        .flat_map(|c| c["details"]["pairs"].as_array().into_iter().flatten())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for pair in &pairs {
        for key in ["first", "second"] {
            let name = pair[key].as_str().unwrap_or("").to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let numeric: Vec<String> = names
        .iter()
        .filter(|name| {
            pairs.iter().any(|p| {
                p["metric"] == "correlation_similarity"
                    && (p["first"] == name.as_str() || p["second"] == name.as_str())
            })
        })
        .cloned()
        .collect();
    let lookup = |a: &str, b: &str, field: &str| -> Option<f64> {
        pairs
            .iter()
            .find(|p| {
                (p["first"] == a && p["second"] == b) || (p["first"] == b && p["second"] == a)
            })
            .and_then(|p| number(&p[field]))
    };
    let matrix = |names: &[String], field: &str, diagonal: f64| -> Vec<Vec<Option<f64>>> {
        names
            .iter()
            .map(|a| {
                names
                    .iter()
                    .map(|b| {
                        if a == b {
                            Some(diagonal)
                        } else {
                            lookup(a, b, field)
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let mut out = String::from(
        "<h2>Correlations and pair trends</h2><p class=\"muted\">Pearson correlations of the \
         numeric columns in each table and their absolute difference; then every pair's trend \
         score, 1 - |difference of correlations| / 2 for two numbers, else 1 - the total \
         variation distance of the two-way table (numbers in ten bins).</p><div class=\"grid\">",
    );
    if numeric.len() >= 2 {
        let real = matrix(&numeric, "real", 1.0);
        let synthetic = matrix(&numeric, "synthetic", 1.0);
        let difference: Vec<Vec<Option<f64>>> = real
            .iter()
            .zip(&synthetic)
            .map(|(r, s)| {
                r.iter()
                    .zip(s)
                    .map(|(a, b)| Some((a.as_ref()? - b.as_ref()?).abs()))
                    .collect()
            })
            .collect();
        out.push_str(&heatmap(
            "correlation, real (blue -1, red +1)",
            &numeric,
            &real,
            &diverging,
        ));
        out.push_str(&heatmap(
            "correlation, synthetic",
            &numeric,
            &synthetic,
            &diverging,
        ));
        out.push_str(&heatmap("|difference|", &numeric, &difference, &|v| {
            shade(v, (178.0, 24.0, 43.0))
        }));
    }
    if names.len() >= 2 {
        let scores = matrix(&names, "score", 1.0);
        out.push_str(&heatmap(
            "pair trend score (darker: worse)",
            &names,
            &scores,
            &|v| shade((1.0 - v) * 2.0, (178.0, 24.0, 43.0)),
        ));
    }
    out.push_str("</div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn figures_keep_four_significant_digits() {
        assert_eq!(figure(Some(0.98765)), "0.9877");
        assert_eq!(figure(Some(12.3456)), "12.35");
        assert_eq!(figure(Some(1303.0)), "1303");
        assert_eq!(figure(Some(0.05)), "0.05");
        assert_eq!(figure(Some(0.8086746)), "0.8087");
        assert_eq!(figure(Some(1e-6)), "1.000e-6");
        assert_eq!(figure(Some(f64::NAN)), "not measured");
        assert_eq!(figure(None), "–");
    }

    #[test]
    fn shades_run_from_white_to_the_colour() {
        assert_eq!(shade(0.0, (0.0, 0.0, 0.0)), "#ffffff");
        assert_eq!(shade(1.0, (178.0, 24.0, 43.0)), "#b2182b");
        assert_eq!(diverging(-1.0), "#2166ac");
    }
}
