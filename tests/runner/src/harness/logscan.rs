//! Finds kernel reports in a guest's console log that fail a test run.

use std::fmt;

/// What a kernel report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bug,
    Warning,
    Oops,
    Panic,
    /// A call trace that is not part of an allocation-failure report.
    CallTrace,
    Lockdep,
    HungTask,
    Stall,
    /// `page allocation failure` (or vmalloc's `vmalloc error`): expected when a test pushes
    /// migration past the free memory or injects allocation failures, so it is counted on
    /// its own and only fails the cases that must not see it.
    AllocFailure,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Bug => "BUG",
            Kind::Warning => "WARNING",
            Kind::Oops => "Oops",
            Kind::Panic => "panic",
            Kind::CallTrace => "call trace",
            Kind::Lockdep => "lockdep report",
            Kind::HungTask => "hung task",
            Kind::Stall => "stall",
            Kind::AllocFailure => "allocation failure",
        })
    }
}

/// One report found in the log, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub line: usize,
    pub text: String,
}

/// Markers, checked in order: the first match names the line's kind.
const MARKERS: &[(&str, Kind)] = &[
    ("page allocation failure", Kind::AllocFailure),
    ("vmalloc error: size", Kind::AllocFailure),
    ("possible circular locking dependency", Kind::Lockdep),
    ("possible recursive locking", Kind::Lockdep),
    ("inconsistent lock state", Kind::Lockdep),
    ("suspicious RCU usage", Kind::Lockdep),
    ("possible irq lock inversion", Kind::Lockdep),
    ("blocked for more than", Kind::HungTask),
    ("detected stalls", Kind::Stall),
    ("Kernel panic", Kind::Panic),
    ("BUG:", Kind::Bug),
    ("WARNING:", Kind::Warning),
    ("Oops", Kind::Oops),
    ("Call Trace:", Kind::CallTrace),
];

/// A kernel console line starts with the printk timestamp; test output does
/// not, so a test description can never be mistaken for a kernel report.
fn kernel_message(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(|c: char| c != '[');
    let rest = rest.strip_prefix('[')?;
    let (stamp, msg) = rest.split_once(']')?;
    let stamp = stamp.trim();
    let is_stamp = !stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit() || c == '.');
    is_stamp.then_some(msg)
}

/// Whether `s` starts with a printk timestamp: `[`, spaces, seconds, `.`, six digits, `]`.
fn starts_with_stamp(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('[') else {
        return false;
    };
    let Some((stamp, _)) = rest.split_once(']') else {
        return false;
    };
    let Some((secs, micros)) = stamp.trim_start().split_once('.') else {
        return false;
    };
    !secs.is_empty()
        && secs.chars().all(|c| c.is_ascii_digit())
        && micros.len() == 6
        && micros.chars().all(|c| c.is_ascii_digit())
}

/// Splits a console line where a kernel message was printed into the middle of a guest
/// line ("1..8[    2.102302] input: ..."): the guest's part and each kernel message come
/// out as lines of their own, so the TAP parser sees the guest's line whole.
pub fn split_console_line(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, _) in line.match_indices('[') {
        if i > start && starts_with_stamp(&line[i..]) {
            parts.push(&line[start..i]);
            start = i;
        }
    }
    parts.push(&line[start..]);
    parts
}

/// The message `/init` writes to the kernel log (`/dev/kmsg`) before it crashes the kernel on
/// purpose (the kdump case). Through the kernel log it reaches the console before the panic
/// does; echoed to the console, its tail was lost in the crash.
pub const CRASH_MARKER: &str = "vmrs: crashing on purpose";

/// Leaves out the reports of a crash the guest caused on purpose: a kernel panic and its call
/// trace after the first kernel message that is [`CRASH_MARKER`] and before the banner (`Linux version`) of the
/// kernel that boots next, the capture kernel (or the end of the log, when none does).
/// Anything else in that stretch (a BUG, an Oops, a warning), and anything before or after it,
/// stays a finding.
pub fn without_deliberate_crash(log: &str, findings: Vec<Finding>) -> Vec<Finding> {
    let lines: Vec<&str> = log.lines().collect();
    let Some(marker) = lines
        .iter()
        .position(|l| kernel_message(l).is_some_and(|m| m.trim() == CRASH_MARKER))
    else {
        return findings;
    };
    let banner = lines[marker..]
        .iter()
        .position(|l| kernel_message(l).is_some_and(|m| m.contains("Linux version ")))
        .map_or(lines.len(), |i| marker + i);
    // Findings count lines from 1: the marker is line marker + 1, the banner line banner + 1.
    findings
        .into_iter()
        .filter(|f| {
            let inside = f.line > marker + 1 && f.line <= banner;
            !(inside && matches!(f.kind, Kind::Panic | Kind::CallTrace))
        })
        .collect()
}

/// Scans a whole console log.
pub fn scan(log: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    // The call trace that an allocation-failure report prints belongs to it.
    let mut in_alloc_report = false;
    for (i, line) in log.lines().enumerate() {
        let Some(msg) = kernel_message(line) else {
            continue;
        };
        let Some(&(_, kind)) = MARKERS.iter().find(|(m, _)| msg.contains(m)) else {
            continue;
        };
        match kind {
            Kind::AllocFailure => in_alloc_report = true,
            Kind::CallTrace if in_alloc_report => {
                in_alloc_report = false;
                continue;
            }
            _ => in_alloc_report = false,
        }
        findings.push(Finding {
            kind,
            line: i + 1,
            text: msg.trim().to_string(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(log: &str) -> Vec<Kind> {
        scan(log).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn clean_log_has_no_findings() {
        let log = "[    0.000000] Linux version 6.12.117\n\
                   [    1.5] virtio_mem virtio0: plugged size: 0x0\n\
                   ok 1 - load virtio_mem\n";
        assert!(scan(log).is_empty());
    }

    #[test]
    fn finds_each_kind() {
        let log = "[    2.1] BUG: unable to handle page fault for address: 0\n\
                   [    2.2] Oops: general protection fault\n\
                   [    2.3] WARNING: CPU: 1 PID: 7 at mm/page_alloc.c:10 f+0x1\n\
                   [    2.4] Call Trace:\n\
                   [    2.5] WARNING: possible circular locking dependency detected\n\
                   [    2.6] INFO: task kworker/0:1:12 blocked for more than 120 seconds.\n\
                   [    2.7] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:\n\
                   [    2.8] Kernel panic - not syncing: Fatal exception\n";
        assert_eq!(
            kinds(log),
            vec![
                Kind::Bug,
                Kind::Oops,
                Kind::Warning,
                Kind::CallTrace,
                Kind::Lockdep,
                Kind::HungTask,
                Kind::Stall,
                Kind::Panic
            ]
        );
    }

    #[test]
    fn allocation_failure_owns_its_call_trace() {
        let log = "[ 9.0] kworker/0:2: page allocation failure: order:0, mode:0x140cca\n\
                   [ 9.1] CPU: 0 UID: 0 PID: 40 Comm: kworker/0:2\n\
                   [ 9.2] Call Trace:\n\
                   [ 9.3]  <TASK>\n\
                   [ 9.4]  </TASK>\n\
                   [ 9.5] Call Trace:\n";
        let found = scan(log);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::AllocFailure);
        assert_eq!(found[0].line, 1);
        // A second trace is not part of the report any more.
        assert_eq!(found[1].kind, Kind::CallTrace);
        assert_eq!(found[1].line, 6);
    }

    #[test]
    fn a_vmalloc_failure_is_an_allocation_failure_with_its_trace() {
        let log = "[ 9.0] vmalloc error: size 16777216, page order 0, failed to allocate pages\n\
                   [ 9.2] Call Trace:\n";
        let found = scan(log);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::AllocFailure);
    }

    #[test]
    fn test_output_is_not_scanned() {
        let log = "not ok 3 - WARNING: this is only a test name\n\
                   # BUG: neither is a diagnostic\n";
        assert!(scan(log).is_empty());
    }

    #[test]
    fn kernel_messages_inside_guest_lines_are_split_off() {
        assert_eq!(
            split_console_line("1..8[    2.102302] input: ImExPS/2 Generic Explorer Mouse"),
            [
                "1..8",
                "[    2.102302] input: ImExPS/2 Generic Explorer Mouse"
            ]
        );
        assert_eq!(
            split_console_line("ok 1 - a[ 1.000000] x[ 2.000000] y"),
            ["ok 1 - a", "[ 1.000000] x", "[ 2.000000] y"]
        );
        // Whole lines, and brackets that are not timestamps, stay as they are.
        for line in [
            "[    2.131890] virtio_mem virtio0: start address: 0x100000000",
            "ok 1 - plug [c] (4.3 s)",
            "# seen [12.5] and [1.0000000]",
            "",
        ] {
            assert_eq!(split_console_line(line), [line]);
        }
    }

    #[test]
    fn a_deliberate_crash_is_left_out_and_nothing_else() {
        let log = "[ 1.0] BUG: before the marker\n\
                   [ 1.9] vmrs: crashing on purpose\n\
                   [ 2.0] Kernel panic - not syncing: sysrq triggered crash\n\
                   [ 2.1] Call Trace:\n\
                   [ 2.2] WARNING: CPU: 0 PID: 1 at kernel/exit.c:1 f+0x1\n\
                   [ 0.000000] Linux version 6.12.117 (capture)\n\
                   [ 3.0] Kernel panic - not syncing: in the capture kernel\n";
        let kept = without_deliberate_crash(log, scan(log));
        let kinds: Vec<_> = kept.iter().map(|f| (f.kind, f.line)).collect();
        assert_eq!(
            kinds,
            vec![(Kind::Bug, 1), (Kind::Warning, 5), (Kind::Panic, 7)]
        );
        // Without the marker, every report stays; so it does when the marker is a guest's
        // line (anybody could print it), not a kernel message.
        let plain = "[ 2.0] Kernel panic - not syncing: x\n[ 2.1] Call Trace:\n";
        assert_eq!(without_deliberate_crash(plain, scan(plain)).len(), 2);
        let echoed = "vmrs: crashing on purpose\n[ 2.0] Kernel panic - not syncing: x\n";
        assert_eq!(without_deliberate_crash(echoed, scan(echoed)).len(), 1);
    }

    #[test]
    fn kernel_line_after_garbage_is_scanned() {
        // A guest line the kernel interrupted mid-way still shows the report.
        assert_eq!(
            kinds("ok 1 - lo[    3.0] BUG: soft lockup\n"),
            vec![Kind::Bug]
        );
    }
}
