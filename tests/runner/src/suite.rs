//! Boots one guest for one case and one driver, and judges the result.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use crate::cases::{Case, Driver};
use crate::channel::{self, ResizeRecord};
use crate::logscan::{self, Finding, Kind};
use crate::qemu::{Guest, GuestConfig};
use crate::qmp::Monitor;
use crate::tap::{Line, TapRun};

/// What every boot shares.
#[derive(Debug, Clone)]
pub struct Env {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    pub logdir: PathBuf,
    pub smp: u32,
}

/// The result of one boot.
#[derive(Debug)]
pub struct Outcome {
    /// Empty when the case passed.
    pub problems: Vec<String>,
    pub log: PathBuf,
    pub elapsed: Duration,
    pub tap: TapRun,
    pub findings: Vec<Finding>,
    pub resizes: Vec<ResizeRecord>,
    pub console: Vec<String>,
}

/// How long QEMU may take to exit after the case said it finished.
const EXIT_GRACE: Duration = Duration::from_secs(20);

/// Boots a guest for `case` with `driver`, passing each console line that
/// matters to a test reader to `echo` as it arrives.
pub fn boot(
    case: &Case,
    driver: Driver,
    env: &Env,
    extra_cmdline: &[String],
    mut echo: impl FnMut(&Line, &str),
) -> Outcome {
    let start = Instant::now();
    let tag = format!("{}-{}", case.name, driver.name());
    let log = env.logdir.join(format!("{tag}.log"));
    let dir = std::env::temp_dir().join(format!("vmrs-{}-{tag}", std::process::id()));
    let mut cmdline = vec![
        format!("vmrs.case={}", case.name),
        format!("vmrs.driver={}", driver.name()),
    ];
    cmdline.extend(case.cmdline.iter().map(|w| w.to_string()));
    cmdline.extend_from_slice(extra_cmdline);
    let config = GuestConfig {
        bzimage: env.bzimage.clone(),
        initramfs: env.initramfs.clone(),
        boot_mem: case.boot_mem,
        region: case.region,
        requested_at_boot: case.requested_at_boot,
        online: case.online,
        smp: env.smp,
        cmdline,
    };
    let mut outcome = Outcome {
        problems: Vec::new(),
        log: log.clone(),
        elapsed: Duration::ZERO,
        tap: TapRun::default(),
        findings: Vec::new(),
        resizes: Vec::new(),
        console: Vec::new(),
    };
    let mut guest = match Guest::start(&config, &dir, &log) {
        Ok(g) => g,
        Err(e) => {
            outcome.problems.push(e.to_string());
            return outcome;
        }
    };
    let server = Monitor::connect(&guest.qmp_path(), Duration::from_secs(30)).and_then(|m| {
        let ctl = UnixStream::connect(guest.ctl_path())?;
        let trace = guest.request_trace_path();
        Ok(thread::spawn(move || channel::serve(ctl, m, trace)))
    });
    let server = match server {
        Ok(s) => Some(s),
        Err(e) => {
            outcome.problems.push(format!("cannot talk to QEMU: {e}"));
            None
        }
    };

    let deadline = start + case.timeout;
    let mut finished_at = None;
    if server.is_some() {
        loop {
            let limit = match finished_at {
                Some(t) => t + EXIT_GRACE,
                None => deadline,
            };
            let wait = limit.saturating_duration_since(Instant::now());
            match guest.console.recv_timeout(wait) {
                Ok(line) => {
                    let kind = outcome.tap.feed(&line);
                    if matches!(kind, Line::Exit(_)) {
                        finished_at = Some(Instant::now());
                    }
                    echo(&kind, &line);
                    outcome.console.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    outcome.problems.push(match finished_at {
                        Some(_) => "QEMU did not exit after the case finished".to_string(),
                        None => format!(
                            "the guest did not finish within {} s",
                            case.timeout.as_secs()
                        ),
                    });
                    break;
                }
            }
        }
    }
    let status = guest.try_exit().ok().flatten();
    drop(guest);
    if let Some(status) = status.filter(|s| !s.success()) {
        outcome.problems.push(format!("QEMU exited with {status}"));
    }
    if let Some(server) = server {
        match server.join() {
            Ok(Ok(resizes)) => outcome.resizes = resizes,
            Ok(Err(e)) => outcome
                .problems
                .push(format!("command channel failed: {e}")),
            Err(_) => outcome
                .problems
                .push("command channel thread panicked".to_string()),
        }
    }
    outcome.problems.extend(outcome.tap.problems());
    outcome.findings = logscan::scan(&outcome.console.join("\n"));
    for f in &outcome.findings {
        if f.kind == Kind::AllocFailure && case.allow_alloc_failure {
            continue;
        }
        outcome.problems.push(format!(
            "kernel {} at log line {}: {}",
            f.kind, f.line, f.text
        ));
    }
    outcome.elapsed = start.elapsed();
    outcome
}
