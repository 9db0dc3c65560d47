//! The release decision.
//!
//! Guarantee: the verdict passes only when every check ran and passed; a check whose value is
//! not a finite number fails.

use serde::Serialize;

use crate::validate::CheckResult;

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

    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
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
            risk: None,
            details: serde_json::Map::new(),
        }
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
