//! The release decision.
//!
//! Guarantee: the verdict passes only when every check ran and passed; a check whose value is
//! not a finite number fails.

use serde::Serialize;

use crate::validate::{CheckResult, Status};

/// The gate's decision over all checks.
#[derive(Debug, Clone, Serialize)]
pub struct GateVerdict {
    /// whether the release may go out
    pub passed: bool,
    /// every check with its value and threshold
    pub checks: Vec<CheckResult>,
}

impl GateVerdict {
    /// The verdict of `checks`. With no checks at all the verdict fails: nothing was shown safe.
    pub fn from_checks(checks: Vec<CheckResult>) -> Self {
        let passed = !checks.is_empty() && checks.iter().all(|c| c.passed);
        Self { passed, checks }
    }

    /// One line per check: verdict, name, value and threshold (and the risk's interval). A user
    /// SQL check shows only its verdict, since its query may return a row value.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let verdict = match check.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Inconclusive => "inconclusive",
            };
            let mut line = format!("{verdict:<5} {}", check.name);
            if check.kind != crate::validate::CheckKind::UserSql {
                line.push_str(&format!(": {:.4}", check.value));
                if let Some(risk) = &check.risk {
                    line.push_str(&format!(
                        " (risk {:.4}, 95 % interval [{:.4}, {:.4}])",
                        risk.value, risk.low, risk.high
                    ));
                }
                if let Some((rate, baseline)) = check.rates {
                    line.push_str(&format!(
                        ", success on train {rate:.4} vs baseline {baseline:.4}"
                    ));
                }
                if let Some(real) = check
                    .details
                    .get("auc_trained_on_real")
                    .and_then(|v| v.as_f64())
                {
                    line.push_str(&format!(" (trained on real rows: {real:.4})"));
                }
                if let Some(max) = check.max {
                    line.push_str(&format!(", at most {}", threshold(max)));
                }
                if let Some(min) = check.min {
                    line.push_str(&format!(", at least {}", threshold(min)));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(if self.passed {
            "verdict: pass\n"
        } else {
            "verdict: refused\n"
        });
        out
    }

    /// The verdict as JSON, with the same redaction as [`GateVerdict::describe`].
    pub fn summary(&self) -> serde_json::Value {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|check| {
                let mut entry = serde_json::json!({
                    "name": check.name,
                    "kind": check.kind,
                    "passed": check.passed,
                    "status": check.status,
                });
                if check.kind != crate::validate::CheckKind::UserSql {
                    entry["value"] = check.value.into();
                    entry["max"] = check.max.into();
                }
                entry
            })
            .collect();
        serde_json::json!({ "passed": self.passed, "checks": checks })
    }

    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// A threshold as written in the pipeline (`0.05`), or to four decimals when computed (the
/// utility check's real AUC less the allowed loss).
fn threshold(value: f64) -> String {
    let text = value.to_string();
    if text.len() > 8 {
        format!("{value:.4}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::CheckKind;

    fn check(name: &str, passed: bool) -> CheckResult {
        CheckResult {
            name: name.to_owned(),
            kind: CheckKind::UserSql,
            value: 0.0,
            min: None,
            max: Some(1.0),
            passed,
            status: if passed { Status::Pass } else { Status::Fail },
            risk: None,
            rates: None,
            details: serde_json::Map::new(),
        }
    }

    #[test]
    fn thresholds_print_as_written_or_to_four_decimals() {
        assert_eq!(threshold(0.05), "0.05");
        assert_eq!(threshold(5.0), "5");
        assert_eq!(threshold(0.8086746328952009), "0.8087");
    }

    #[test]
    fn one_failure_refuses_the_release() {
        assert!(GateVerdict::from_checks(vec![check("a", true), check("b", true)]).passed);
        let verdict = GateVerdict::from_checks(vec![check("a", true), check("b", false)]);
        assert!(!verdict.passed);
        assert_eq!(verdict.failed(), vec!["b"]);
        assert!(!GateVerdict::from_checks(vec![]).passed);
    }
}
