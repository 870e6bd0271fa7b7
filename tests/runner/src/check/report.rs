//! The readable report `make run` prints: one row per resize step.

use crate::check::suite::Outcome;

const MIB: u64 = 1 << 20;

/// What the guest measured for one step, from its `# report ...` line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GuestStep {
    pub requested: u64,
    pub memtotal_kb: u64,
    pub settle_ms: u64,
}

/// Parses `report requested=B memtotal_kb=K settle_ms=M` (a TAP diagnostic).
pub fn parse_step(line: &str) -> Option<GuestStep> {
    let rest = line.strip_prefix("# report ")?;
    let mut step = GuestStep::default();
    for word in rest.split_whitespace() {
        let (key, value) = word.split_once('=')?;
        let value = value.parse().ok()?;
        match key {
            "requested" => step.requested = value,
            "memtotal_kb" => step.memtotal_kb = value,
            "settle_ms" => step.settle_ms = value,
            _ => return None,
        }
    }
    Some(step)
}

pub fn print(outcome: &Outcome) {
    let steps: Vec<_> = outcome
        .console
        .iter()
        .filter_map(|l| parse_step(l))
        .collect();
    println!();
    println!(
        "{:>4}  {:>10}  {:>10}  {:>14}  {:>12}  {:>14}",
        "step", "requested", "plugged", "guest MemTotal", "device done", "MemTotal done"
    );
    for (i, r) in outcome.resizes.iter().enumerate() {
        let guest = steps.iter().find(|s| s.requested == r.requested);
        let (memtotal, settle) = match guest {
            Some(s) => (
                format!("{} MiB", s.memtotal_kb / 1024),
                format!("{:.2} s", s.settle_ms as f64 / 1000.0),
            ),
            None => ("?".to_string(), "?".to_string()),
        };
        println!(
            "{:>4}  {:>6} MiB  {:>6} MiB  {:>14}  {:>12}  {:>14}",
            i + 1,
            r.requested / MIB,
            r.reached / MIB,
            memtotal,
            if r.settled {
                format!("{:.2} s", r.elapsed.as_secs_f64())
            } else {
                "timed out".to_string()
            },
            settle
        );
    }
    println!();
    println!(
        "requested: what the device asked for over QMP; plugged: the device's size when the \
         step ended;\ndevice done: from the QMP resize until size == requested; MemTotal done: \
         until the guest's\nMemTotal matched (measured in the guest). Times are under TCG \
         emulation: compare, don't quote."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_lines() {
        assert_eq!(
            parse_step("# report requested=1073741824 memtotal_kb=2000000 settle_ms=450"),
            Some(GuestStep {
                requested: 1 << 30,
                memtotal_kb: 2_000_000,
                settle_ms: 450
            })
        );
        assert_eq!(parse_step("# report requested=x"), None);
        assert_eq!(parse_step("# report colour=blue"), None);
        assert_eq!(parse_step("ok 1 - report requested=1"), None);
    }
}
