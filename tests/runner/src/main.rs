//! vmrs-runner: boots test guests for virtio-mem-rs under QEMU, drives the
//! virtio-mem device over QMP and checks what the guest reports.
//!
//! ```text
//! vmrs-runner check --bzimage F --initramfs F --logdir D [--driver c|rust]... [--case NAME]...
//!                   [--kernel normal|debug]
//! vmrs-runner run   --bzimage F --initramfs F --logdir D --driver c|rust
//! vmrs-runner bench --bzimage F --initramfs F --logdir D [--runs N] [--sizes GIB,...] [--hold S] [--only converge,scattered,grow] --ko-c F --ko-rust F
//! vmrs-runner soak  --bzimage F --initramfs F --logdir D [--ops N] [--driver c|rust]... [--seed N]
//! ```

mod bench;
mod check;
mod harness;
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

use check::cases::{self, Case, Driver};
use check::report;
use check::suite::{self, Env, Kernel, Outcome};
use harness::tap::Line;

struct Args {
    command: String,
    env: Env,
    drivers: Vec<Driver>,
    cases: Vec<&'static Case>,
    /// The seed of the cases that resize at random, passed to every guest.
    seed: u64,
    /// Bench runs per driver.
    runs: usize,
    /// Bench plug/unplug sizes in GiB, instead of the plan's.
    sizes_gib: Option<Vec<u64>>,
    /// The two modules, for their sizes in the bench.
    ko: (PathBuf, PathBuf),
    /// Soak operations per driver.
    ops: u64,
    /// Seconds the bench's converge guests hold the pressure (0: none).
    hold_s: u64,
    /// The bench boots only these guests of its first run (`--only converge,scattered,grow`);
    /// empty: every guest.
    only: Vec<bench::Only>,
}

fn usage() -> String {
    "usage: vmrs-runner check|run|bench|soak --bzimage FILE --initramfs FILE --logdir DIR \
     [--driver c|rust]... [--case NAME]... [--kernel normal|debug] [--smp N] [--seed N] \
     [--runs N] [--sizes GIB,...] [--hold S] [--only converge,scattered,grow] [--ko-c FILE] \
     [--ko-rust FILE] [--ops N]"
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or_else(usage)?;
    if !["check", "run", "bench", "soak"].contains(&command.as_str()) {
        return Err(format!("unknown command '{command}'\n{}", usage()));
    }
    let (mut bzimage, mut initramfs, mut logdir) = (None, None, None);
    let mut drivers = Vec::new();
    let mut names = Vec::new();
    let mut smp = 2;
    // The kernel scripts/lib.sh builds is chosen by VMRS_KERNEL; the same variable is the
    // default here, so `VMRS_KERNEL=debug make check` needs no option passed.
    let mut kernel = match std::env::var("VMRS_KERNEL") {
        Ok(k) => {
            Kernel::parse(&k).ok_or(format!("VMRS_KERNEL must be normal or debug, not '{k}'"))?
        }
        Err(_) => Kernel::Normal,
    };
    let mut seed = None;
    let mut runs = 5;
    let mut ops = 1000;
    let mut sizes_gib = None;
    let mut hold_s = bench::HOLD_S;
    let mut only = Vec::new();
    let (mut ko_c, mut ko_rust) = (PathBuf::new(), PathBuf::new());
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bzimage" => bzimage = Some(PathBuf::from(value)),
            "--initramfs" => initramfs = Some(PathBuf::from(value)),
            "--logdir" => logdir = Some(PathBuf::from(value)),
            "--driver" => drivers.push(
                Driver::parse(&value)
                    .ok_or(format!("--driver must be c or rust, not '{value}'"))?,
            ),
            "--case" => names.push(value),
            "--kernel" => {
                kernel = Kernel::parse(&value)
                    .ok_or(format!("--kernel must be normal or debug, not '{value}'"))?;
            }
            "--smp" => smp = value.parse().map_err(|_| format!("bad --smp '{value}'"))?,
            "--runs" => match value.parse() {
                Ok(n) if n > 0 => runs = n,
                _ => return Err(format!("--runs must be a positive number, not '{value}'")),
            },
            "--sizes" => sizes_gib = Some(parse_sizes(&value)?),
            "--hold" => {
                hold_s = value
                    .parse()
                    .map_err(|_| format!("--hold must be a number of seconds, not '{value}'"))?;
            }
            "--only" => match bench::Only::parse_list(&value) {
                // Given more than once, the lists add up.
                Some(list) => {
                    for o in list {
                        if !only.contains(&o) {
                            only.push(o);
                        }
                    }
                }
                None => {
                    return Err(format!(
                        "--only takes converge, scattered or grow, comma-separated, not '{value}'"
                    ))
                }
            },
            "--ops" => match value.parse() {
                Ok(n) if n > 0 => ops = n,
                _ => return Err(format!("--ops must be a positive number, not '{value}'")),
            },
            "--ko-c" => ko_c = PathBuf::from(value),
            "--ko-rust" => ko_rust = PathBuf::from(value),
            "--seed" => {
                seed = Some(value.parse().map_err(|_| format!("bad --seed '{value}'"))?);
            }
            _ => return Err(format!("unknown option '{flag}'\n{}", usage())),
        }
    }
    let need = |v: Option<PathBuf>, what: &str| v.ok_or(format!("missing --{what}\n{}", usage()));
    let env = Env {
        bzimage: need(bzimage, "bzimage")?,
        initramfs: need(initramfs, "initramfs")?,
        logdir: need(logdir, "logdir")?,
        smp,
        kernel,
    };
    if drivers.is_empty() {
        drivers = vec![Driver::C, Driver::Rust];
    }
    let cases = if names.is_empty() {
        cases::CASES.iter().filter(|c| !c.opt_in).collect()
    } else {
        names
            .iter()
            .map(|n| cases::find(n).ok_or(format!("no case named '{n}'")))
            .collect::<Result<_, _>>()?
    };
    Ok(Args {
        command,
        env,
        drivers,
        cases,
        seed: seed.unwrap_or_else(fresh_seed),
        runs,
        sizes_gib,
        hold_s,
        only,
        ko: (ko_c, ko_rust),
        ops,
    })
}

/// `1,4,8`: sizes in GiB, each at least 1 and each once (a figure is per size).
fn parse_sizes(value: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--sizes must be distinct GiB counts like 1,4,8, not '{value}'");
    let mut sizes = Vec::new();
    for w in value.split(',') {
        match w.trim().parse() {
            Ok(g) if g > 0 && !sizes.contains(&g) => sizes.push(g),
            _ => return Err(bad()),
        }
    }
    Ok(sizes)
}

/// A seed from the clock, for runs that were not given one.
fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Small enough for the guest shell's arithmetic to square without trouble.
    (now.as_nanos() % 1_000_000_007) as u64
}

/// Whether the emulator failed before the guest printed its plan, so that nothing of the case
/// ran: QEMU died by a signal, or its monitor did not answer as QMP.
fn qemu_failed_before_the_case(outcome: &Outcome) -> bool {
    outcome.tap.plan.is_none()
        && outcome.problems.iter().any(|p| {
            p.starts_with("QEMU exited with signal") || p.starts_with("cannot talk to QEMU")
        })
}

/// Prints a guest line that matters to a reader, nested under the case.
fn echo(kind: &Line, line: &str) {
    match kind {
        Line::Point(_) | Line::Diagnostic(_) | Line::BailOut(_) => println!("#   {line}"),
        _ => {}
    }
}

fn print_failure(outcome: &Outcome) {
    for p in &outcome.problems {
        println!("#   problem: {p}");
    }
    println!(
        "#   console log: {} (its last lines:)",
        outcome.log.display()
    );
    let from = outcome.console.len().saturating_sub(25);
    for line in &outcome.console[from..] {
        println!("#   | {line}");
    }
}

fn check(args: &Args) -> bool {
    let mut runs = Vec::new();
    for &driver in &args.drivers {
        for &case in &args.cases {
            // A kernel-only case runs once, with the first driver asked for.
            if !case.kernel_only || driver == args.drivers[0] {
                runs.push((case, driver));
            }
        }
    }
    println!("TAP version 13");
    println!("1..{}", runs.len());
    println!(
        "# seed {} (VMRS_SEED={} repeats the random resizes); {} kernel {}",
        args.seed,
        args.seed,
        args.env.kernel.name(),
        args.env.bzimage.display()
    );
    if args.env.kernel == Kernel::Debug {
        println!(
            "#   debug kernel: timeouts x{}, boot memory + region/8 (KASAN shadow) + region/64 (memmap)",
            suite::DEBUG_SLOWDOWN
        );
    }
    let extra = [format!("vmrs.seed={}", args.seed)];
    let (mut passed, mut failed) = (0, 0);
    let mut known: Vec<String> = Vec::new();
    for (i, (case, driver)) in runs.iter().enumerate() {
        println!("# {} [{}]: {}", case.name, driver.name(), case.summary);
        let mut outcome = suite::boot(case, *driver, &args.env, &extra, echo);
        if qemu_failed_before_the_case(&outcome) {
            // QEMU 7.2 under TCG has been seen to die by SIGSEGV while the guest kernel was
            // still enumerating PCI, and once to answer its first QMP connection with something
            // other than the greeting: failures of the emulator before any driver loaded, not
            // results. The case gets one more boot, and says so; a second failure fails it.
            println!("#   QEMU failed before the guest started the case; booting it once more");
            print_failure(&outcome);
            outcome = suite::boot(case, *driver, &args.env, &extra, echo);
        }
        let secs = outcome.elapsed.as_secs_f64();
        if let Some(k) = known_c_failure(case, *driver, &outcome) {
            println!(
                "not ok {} - {} [{}] ({secs:.1} s) # TODO known failure of the C driver: {}",
                i + 1,
                case.name,
                driver.name(),
                k.why
            );
            print_failure(&outcome);
            known.push(format!("{} [c]", case.name));
        } else if outcome.problems.is_empty() {
            passed += 1;
            println!(
                "ok {} - {} [{}] ({secs:.1} s)",
                i + 1,
                case.name,
                driver.name()
            );
        } else {
            failed += 1;
            println!(
                "not ok {} - {} [{}] ({secs:.1} s)",
                i + 1,
                case.name,
                driver.name()
            );
            print_failure(&outcome);
        }
    }
    if known.is_empty() {
        println!("# vm suite: {passed} passed, {failed} failed");
    } else {
        println!(
            "# vm suite: {passed} passed, {failed} failed; known failures of the C driver, not counted: {}",
            known.join(", ")
        );
    }
    failed == 0
}

/// The case's known failure of the C driver, when this is a C run that failed and shows it.
/// A kernel report (the log scan's findings that fail the case) or a guest that did not
/// finish is never excused: the known failure is a driver giving up, not a crash or a hang.
fn known_c_failure(case: &Case, driver: Driver, outcome: &Outcome) -> Option<cases::KnownFailure> {
    let k = case.c_known_failure?;
    let shows = outcome.console.iter().any(|l| l.contains(k.evidence));
    let worse = outcome.problems.iter().any(|p| {
        p.starts_with("kernel ")
            || p.starts_with("the guest did not finish")
            || p.starts_with("QEMU")
    });
    (driver == Driver::C && !outcome.problems.is_empty() && shows && !worse).then_some(k)
}

fn run(args: &Args) -> bool {
    let driver = args.drivers[0];
    println!(
        "booting a guest with the {} driver ({}); console log in {}",
        driver.name(),
        match driver {
            Driver::C => "upstream virtio_mem.ko",
            Driver::Rust => "our virtio_mem_rs.ko",
        },
        args.env.logdir.display()
    );
    let outcome = suite::boot(&cases::DEMO, driver, &args.env, &[], |kind, line| {
        if matches!(kind, Line::Point(_) | Line::BailOut(_)) {
            println!("  {line}");
        }
    });
    report::print(&outcome);
    if !outcome.problems.is_empty() {
        print_failure(&outcome);
    }
    outcome.problems.is_empty()
}

/// Measures both drivers, alternately, and writes the table, the JSON and the plot into the
/// log directory.
fn bench(args: &Args) -> bool {
    let mut plan = bench::Plan::new(args.runs, bench::host_mem());
    if let Some(sizes) = &args.sizes_gib {
        plan.sizes_gib.clone_from(sizes);
    }
    plan.hold_s = args.hold_s;
    plan.only.clone_from(&args.only);
    if plan.guests_for(1).is_empty() {
        eprintln!("vmrs-runner: --only converge with --hold 0 measures nothing");
        return false;
    }
    println!(
        "bench: {} runs per driver in the order C, rust, rust, C, ...; sizes {:?} GiB, in Big Block Mode {:?} GiB; logs in {}",
        plan.runs,
        plan.sizes_gib,
        plan.bbm_sizes_gib,
        args.env.logdir.display()
    );
    let (samples, failures) = bench::collect(&plan, &args.env, |line| println!("  {line}"));
    let size = |p: &PathBuf| (bench::file_size(p), bench::loaded_size(p));
    let ko = (size(&args.ko.0), size(&args.ko.1));
    let figures = bench::report::figures(&samples, &plan.sizes_gib, &plan.bbm_sizes_gib, ko);
    let phases = bench::report::phase_rows(&samples, &plan.sizes_gib, &plan.bbm_sizes_gib);
    let mut table = bench::report::markdown(&figures, plan.runs);
    table.push_str(&bench::report::phase_markdown(&phases));
    let dir = &args.env.logdir;
    let json = bench::report::to_json(&samples, &figures, &phases, plan.runs);
    let written = std::fs::write(dir.join("bench.md"), &table)
        .and_then(|()| std::fs::write(dir.join("bench.json"), json.to_string()));
    if let Err(e) = written {
        eprintln!("vmrs-runner: cannot write the results: {e}");
        return false;
    }
    if let Err(e) = bench::plot::draw(&dir.join("bench.svg"), &samples, &plan.sizes_gib) {
        eprintln!("vmrs-runner: cannot draw the plot: {e}");
        return false;
    }
    println!();
    print!("{table}");
    println!(
        "\nwritten: {0}/bench.md, {0}/bench.json, {0}/bench.svg",
        dir.display()
    );
    if failures > 0 {
        println!("{failures} guest(s) failed; their measurements are left out");
    }
    failures == 0
}

/// The soak case with `--ops` operations, C first, then ours, on one seed; the table and
/// `soak.json` go into the log directory.
fn soak(args: &Args) -> bool {
    let Some(base) = cases::find("soak") else {
        eprintln!("vmrs-runner: no soak case");
        return false;
    };
    let case = soak::case_for(base, args.ops);
    println!(
        "soak: {} operations per driver, seed {} (VMRS_SEED={} replays it), {} kernel; logs in {}",
        args.ops,
        args.seed,
        args.seed,
        args.env.kernel.name(),
        args.env.logdir.display()
    );
    let extra = [format!("vmrs.seed={}", args.seed), soak::ops_word(args.ops)];
    let mut runs = Vec::new();
    for &driver in &args.drivers {
        println!("soak [{}]", driver.name());
        let outcome = suite::boot(&case, driver, &args.env, &extra, |kind, line| {
            // The progress lines, not one line per operation.
            if matches!(kind, Line::Diagnostic(_)) && line.contains("# soak:") {
                println!("  {line}");
            } else if matches!(kind, Line::Point(_) | Line::BailOut(_)) {
                println!("  {line}");
            }
        });
        if !outcome.problems.is_empty() {
            print_failure(&outcome);
        }
        let mut run = soak::summarize(driver, &outcome);
        if let Some(k) = known_c_failure(&case, driver, &outcome) {
            println!("  a known failure of the C driver: {}", k.why);
            run.known_failure = Some(k.why);
        }
        runs.push(run);
    }
    let table = soak::table(&runs);
    let json = soak::to_json(args.seed, args.ops, args.env.kernel.name(), &runs);
    let dir = &args.env.logdir;
    let written = std::fs::write(dir.join("soak.md"), &table)
        .and_then(|()| std::fs::write(dir.join("soak.json"), json.to_string()));
    if let Err(e) = written {
        eprintln!("vmrs-runner: cannot write the results: {e}");
        return false;
    }
    println!();
    print!("{table}");
    println!("\nwritten: {0}/soak.md, {0}/soak.json", dir.display());
    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| !r.problems.is_empty() && r.known_failure.is_none())
        .map(|r| r.driver)
        .collect();
    if !failed.is_empty() {
        println!("soak failed for: {}", failed.join(", "));
    }
    failed.is_empty()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vmrs-runner: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.env.logdir) {
        eprintln!(
            "vmrs-runner: cannot create {}: {e}",
            args.env.logdir.display()
        );
        return ExitCode::from(2);
    }
    let ok = match args.command.as_str() {
        "check" => check(&args),
        "bench" => bench(&args),
        "soak" => soak(&args),
        _ => run(&args),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(problem: &str, console: &[&str]) -> Outcome {
        let mut tap = harness::tap::TapRun::default();
        for line in console {
            tap.feed(line);
        }
        Outcome {
            problems: vec![problem.to_string()],
            log: PathBuf::new(),
            elapsed: std::time::Duration::ZERO,
            tap,
            findings: Vec::new(),
            resizes: Vec::new(),
            console: console.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn only_emulator_failures_before_the_plan_are_booted_again() {
        let qmp = "cannot talk to QEMU: no QMP greeting, got \"\"";
        let signal = "QEMU exited with signal: 11 (SIGSEGV)";
        assert!(qemu_failed_before_the_case(&outcome(qmp, &[])));
        assert!(qemu_failed_before_the_case(&outcome(signal, &[])));
        assert!(!qemu_failed_before_the_case(&outcome(signal, &["1..3"])));
        assert!(!qemu_failed_before_the_case(&outcome(
            "the guest did not finish within 300 s",
            &[]
        )));
    }

    #[test]
    fn a_c_failure_is_known_only_with_its_evidence() {
        let case = cases::find("alloc-faults").unwrap();
        let k = case.c_known_failure.unwrap();
        let broken = ["1..3", k.evidence];
        let failed = outcome("not ok 11 - a resize settles", &broken);
        assert!(known_c_failure(case, Driver::C, &failed).is_some());
        // Ours is never excused, nor C failing some other way, nor C passing.
        assert!(known_c_failure(case, Driver::Rust, &failed).is_none());
        let other = outcome("not ok 11 - a resize settles", &["1..3"]);
        assert!(known_c_failure(case, Driver::C, &other).is_none());
        let mut passed = outcome("", &broken);
        passed.problems.clear();
        assert!(known_c_failure(case, Driver::C, &passed).is_none());
        // Nor a run that also has a kernel report or did not finish.
        let mut crashed = outcome("not ok 11 - a resize settles", &broken);
        crashed
            .problems
            .push("kernel BUG at log line 9: BUG: x".to_string());
        assert!(known_c_failure(case, Driver::C, &crashed).is_none());
        let hung = outcome("the guest did not finish within 300 s", &broken);
        assert!(known_c_failure(case, Driver::C, &hung).is_none());
        // A case without a known failure excuses nothing.
        let plug = cases::find("plug").unwrap();
        assert!(known_c_failure(plug, Driver::C, &failed).is_none());
    }
}
