//! `make soak`: the guest's `soak` case with SOAK_OPS operations, once per driver, and a table
//! of what each run found (with the same numbers as JSON).

use std::time::Duration;

use serde_json::{json, Value};

use crate::check::cases::{Case, Driver};
use crate::check::suite::Outcome;

/// What one driver's soak found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoakRun {
    pub driver: &'static str,
    /// From the guest's `soak-result` line; `None` when the guest never printed it.
    pub result: Option<SoakResult>,
    /// Kernel reports in the console log (the check's log scan).
    pub kernel_reports: usize,
    /// Why the run failed (the case's failures, the log scan's reports), empty when it passed.
    pub problems: Vec<String>,
    /// The case's known failure of the C driver, when this run is one (it does not fail the
    /// soak).
    pub known_failure: Option<&'static str>,
    pub seconds: u64,
}

/// The guest's `# soak-result key=value ...` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoakResult {
    pub ops: u64,
    pub pattern_errors: u64,
    pub mismatches: u64,
    /// The longest time a resize that settled took, in ms.
    pub longest_ms: u64,
    /// Resizes that had not settled within their time (ZONE_NORMAL memory that stays,
    /// offline memory the driver waits to see onlined).
    pub unsettled: u64,
    /// Of those, the ones with neither reason: a failure.
    pub stuck: u64,
    /// Onlining or offlining by hand that the kernel refused.
    pub refused: u64,
    /// Rebinds skipped because memory stayed plugged.
    pub skipped: u64,
    /// What was still plugged after the last unplug to 0, in MiB.
    pub left_mib: u64,
    /// 1 when the driver marked the device broken (the soak stops there).
    pub broken: u64,
}

impl SoakResult {
    /// Parses the guest's result line (its `# ` prefix included); `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("# soak-result ")?;
        let mut r = SoakResult::default();
        let mut seen = 0;
        for word in rest.split_whitespace() {
            let (key, value) = word.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            let field = match key {
                "ops" => &mut r.ops,
                "pattern_errors" => &mut r.pattern_errors,
                "mismatches" => &mut r.mismatches,
                "longest_ms" => &mut r.longest_ms,
                "unsettled" => &mut r.unsettled,
                "stuck" => &mut r.stuck,
                "refused" => &mut r.refused,
                "skipped" => &mut r.skipped,
                "left_mib" => &mut r.left_mib,
                "broken" => &mut r.broken,
                _ => continue,
            };
            *field = value;
            seen += 1;
        }
        (seen == 10).then_some(r)
    }
}

/// The soak case for `ops` operations, with time for them: the short soak's 900 s is for
/// 100; each operation takes a few seconds at most under TCG.
pub fn case_for(base: &Case, ops: u64) -> Case {
    let mut case = base.clone();
    case.timeout = Duration::from_secs(300 + 8 * ops);
    case
}

/// The `vmrs.args=` word that sets the count (the guest takes the last one given).
pub fn ops_word(ops: u64) -> String {
    format!("vmrs.args={ops}")
}

pub fn summarize(driver: Driver, outcome: &Outcome) -> SoakRun {
    SoakRun {
        driver: driver.name(),
        result: outcome
            .console
            .iter()
            .rev()
            .find_map(|l| SoakResult::parse(l)),
        kernel_reports: outcome.findings.len(),
        problems: outcome.problems.clone(),
        known_failure: None,
        seconds: outcome.elapsed.as_secs(),
    }
}

/// One row per driver; a run without a result line shows its columns as `-`.
pub fn table(runs: &[SoakRun]) -> String {
    let mut out = String::from(
        "| driver | operations | kernel reports | pattern errors | count mismatches | longest settle (ms) | unsettled resizes | stuck resizes | refused by the kernel | rebinds skipped | left plugged (MiB) | device broken | time (s) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for run in runs {
        let cols: Vec<String> = match &run.result {
            Some(r) => [
                r.ops,
                run.kernel_reports as u64,
                r.pattern_errors,
                r.mismatches,
                r.longest_ms,
                r.unsettled,
                r.stuck,
                r.refused,
                r.skipped,
                r.left_mib,
                r.broken,
            ]
            .iter()
            .map(u64::to_string)
            .collect(),
            None => {
                let mut c = vec!["-".to_string(); 11];
                c[1] = run.kernel_reports.to_string();
                c
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            run.driver,
            cols.join(" | "),
            run.seconds
        ));
    }
    out
}

pub fn to_json(seed: u64, ops: u64, kernel: &str, runs: &[SoakRun]) -> Value {
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let result = r.result.as_ref().map(|x| {
                json!({
                    "ops": x.ops, "pattern_errors": x.pattern_errors,
                    "mismatches": x.mismatches, "longest_settle_ms": x.longest_ms,
                    "unsettled": x.unsettled, "stuck": x.stuck, "refused": x.refused,
                    "rebinds_skipped": x.skipped, "left_mib": x.left_mib, "broken": x.broken == 1,
                })
            });
            json!({
                "driver": r.driver, "result": result, "kernel_reports": r.kernel_reports,
                "problems": r.problems, "seconds": r.seconds, "passed": r.problems.is_empty(),
                "known_failure_of_c": r.known_failure,
            })
        })
        .collect();
    json!({ "seed": seed, "ops_per_driver": ops, "kernel": kernel, "runs": runs })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "# soak-result ops=100 pattern_errors=0 mismatches=1 longest_ms=2340 \
                        unsettled=3 stuck=7 refused=4 skipped=5 left_mib=6 broken=1";

    #[test]
    fn the_result_line_parses_and_other_lines_do_not() {
        let r = SoakResult::parse(LINE).unwrap();
        assert_eq!(
            (r.ops, r.mismatches, r.longest_ms, r.left_mib),
            (100, 1, 2340, 6)
        );
        assert_eq!((r.unsettled, r.refused, r.skipped), (3, 4, 5));
        assert!(SoakResult::parse("# soak-op 3 resize settled=1 ms=10").is_none());
        // A field missing or not a number is no result.
        assert!(SoakResult::parse("# soak-result ops=100 pattern_errors=0").is_none());
        assert!(SoakResult::parse(&LINE.replace("=6", "=x")).is_none());
        assert_eq!(r.broken, 1);
    }

    #[test]
    fn the_table_has_a_row_per_driver_and_dashes_without_a_result() {
        let runs = [
            SoakRun {
                driver: "c",
                result: SoakResult::parse(LINE),
                kernel_reports: 2,
                problems: vec!["x".into()],
                known_failure: None,
                seconds: 60,
            },
            SoakRun {
                driver: "rust",
                result: None,
                kernel_reports: 1,
                problems: vec![],
                known_failure: None,
                seconds: 7,
            },
        ];
        let t = table(&runs);
        assert!(
            t.contains("| c | 100 | 2 | 0 | 1 | 2340 | 3 | 7 | 4 | 5 | 6 | 1 | 60 |"),
            "{t}"
        );
        assert!(
            t.contains("| rust | - | 1 | - | - | - | - | - | - | - | - | - | 7 |"),
            "{t}"
        );
        let j = to_json(9, 100, "normal", &runs);
        assert_eq!(j["runs"][0]["result"]["mismatches"], 1);
        assert_eq!(j["runs"][0]["passed"], false);
        assert!(j["runs"][1]["result"].is_null());
    }

    #[test]
    fn a_longer_soak_gets_more_time() {
        let base = crate::check::cases::find("soak").unwrap();
        assert!(case_for(base, 1000).timeout > case_for(base, 100).timeout);
        assert_eq!(ops_word(1000), "vmrs.args=1000");
    }
}
