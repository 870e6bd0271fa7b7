//! The host end of the command channel: the guest's second serial port
//! (ttyS1) carries one request line from the guest and one reply line back.
//! It lets a guest test ask the host to resize the device and wait for it.
//!
//! Requests and replies:
//!
//! ```text
//! resize BYTES [TIMEOUT_S]  ->  ok SIZE MS PEAK | timeout SIZE MS PEAK | error TEXT
//!                               (PEAK: the largest size seen while waiting)
//! wait-size BYTES TIMEOUT_S ->  ok SIZE MS PEAK | timeout SIZE MS PEAK | error TEXT
//!                               (waits like resize, without setting requested-size: setting it
//!                               raises a config-change interrupt, which would wake the driver)
//! size                      ->  ok SIZE
//! requested                 ->  ok SIZE
//! requests                  ->  ok PLUG UNPLUG UNPLUG_ALL
//!                               (requests the device has got since boot, from QEMU's trace)
//! wake-after-suspend TIMEOUT_S  ->  ok
//!                               (at once; then, beside the conversation, the host waits up to
//!                               TIMEOUT_S for QEMU's run state to be `suspended` and wakes the
//!                               guest with `system_wakeup`)
//! wake-result               ->  ok woken MS | ok cancelled | ok timeout | error TEXT
//!                               (how the last wake-after-suspend ended: woken MS after it was
//!                               asked, or not seen suspended: still waiting, which this stops,
//!                               or the wait ran out)
//! poke-after SECONDS        ->  ok, and SECONDS later the line "poke"
//!                               (a byte on the serial line, which can wake a guest in
//!                               suspend-to-idle that made its ttyS1 a wakeup source; the guest
//!                               reads the line before its next request)
//! hotplug REGION_BYTES      ->  ok | error TEXT
//!                               (adds the virtio-mem device to a guest that booted without one)
//! free-backend              ->  ok | error TEXT
//!                               (deletes the filler file that keeps the device's backend short)
//! storm SEED COUNT MAX BLOCK ->  ok LAST PEAK MS | error TEXT
//!                               (COUNT resizes to random multiples of BLOCK up to MAX, 20 to
//!                               100 ms apart, from SEED, without waiting for the device;
//!                               LAST: the final requested size; PEAK: the largest size seen)
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::harness::qmp::Monitor;

/// How long a resize waits for the device by default.
pub const DEFAULT_RESIZE_TIMEOUT: Duration = Duration::from_secs(120);

/// One request from the guest.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Set `requested-size` and wait until `size` matches.
    Resize { bytes: u64, timeout: Duration },
    /// Wait until `size` matches, leaving `requested-size` alone.
    WaitSize { bytes: u64, timeout: Duration },
    /// Read the device's plugged size.
    Size,
    /// Read the device's requested size.
    Requested,
    /// Count the requests the device has got.
    Requests,
    /// Wake the guest once it is suspended, beside the conversation.
    WakeAfterSuspend { timeout: Duration },
    /// How the last wake-up ended.
    WakeResult,
    /// Send the guest a line after a while.
    PokeAfter { delay: Duration },
    /// Hot-plug the virtio-mem device with a region of this size.
    Hotplug { region: u64 },
    /// Let the device's backend grow to its full size.
    FreeBackend,
    /// Resize many times in quick succession, without waiting for the device.
    Storm(Storm),
}

/// A storm of resizes: the host, not the guest, paces it, so that the gaps between two
/// requests are the host's milliseconds whatever the guest's speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storm {
    pub seed: u64,
    pub count: u64,
    pub max: u64,
    pub block: u64,
}

/// The shortest and longest gap between two requests of a storm.
const STORM_GAP_MS: (u64, u64) = (20, 100);

impl Storm {
    /// The requested sizes and the gap before each, from the seed (splitmix64).
    pub fn steps(&self) -> Vec<(u64, Duration)> {
        let mut state = self.seed;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let units = self.max / self.block + 1;
        let (lo, hi) = STORM_GAP_MS;
        (0..self.count)
            .map(|_| {
                let size = next() % units * self.block;
                let gap = Duration::from_millis(lo + next() % (hi - lo + 1));
                (size, gap)
            })
            .collect()
    }
}

/// Parses one request line; the error text is sent back to the guest.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().ok_or("empty request")?;
    let number = |w: Option<&str>, what: &str| -> Result<u64, String> {
        let w = w.ok_or(format!("{verb}: missing {what}"))?;
        w.parse().map_err(|_| format!("{verb}: bad {what} '{w}'"))
    };
    let request = match verb {
        "resize" => {
            let bytes = number(words.next(), "size")?;
            let timeout = match words.next() {
                Some(w) => Duration::from_secs(number(Some(w), "timeout")?),
                None => DEFAULT_RESIZE_TIMEOUT,
            };
            Request::Resize { bytes, timeout }
        }
        "wait-size" => Request::WaitSize {
            bytes: number(words.next(), "size")?,
            timeout: Duration::from_secs(number(words.next(), "timeout")?),
        },
        "size" => Request::Size,
        "requested" => Request::Requested,
        "requests" => Request::Requests,
        "wake-after-suspend" => Request::WakeAfterSuspend {
            timeout: Duration::from_secs(number(words.next(), "timeout")?),
        },
        "wake-result" => Request::WakeResult,
        "poke-after" => Request::PokeAfter {
            delay: Duration::from_secs(number(words.next(), "delay")?),
        },
        "hotplug" => Request::Hotplug {
            region: number(words.next(), "region size")?,
        },
        "free-backend" => Request::FreeBackend,
        "storm" => {
            let seed = number(words.next(), "seed")?;
            let count = number(words.next(), "count")?;
            let max = number(words.next(), "maximum")?;
            let block = number(words.next(), "block")?;
            if count == 0 || block == 0 || max < block {
                return Err(
                    "storm: need a count, a block and a maximum of a block or more".to_string(),
                );
            }
            Request::Storm(Storm {
                seed,
                count,
                max,
                block,
            })
        }
        _ => return Err(format!("unknown request '{verb}'")),
    };
    match words.next() {
        Some(extra) => Err(format!("{verb}: unexpected '{extra}'")),
        None => Ok(request),
    }
}

/// One resize the guest asked for, as the host saw it.
#[derive(Debug, Clone)]
pub struct ResizeRecord {
    pub requested: u64,
    pub reached: u64,
    pub settled: bool,
    pub elapsed: Duration,
}

/// Counts the plug, unplug and unplug-all requests in QEMU's trace of the device.
pub fn count_requests(trace: &str) -> [u64; 3] {
    let mut counts = [0; 3];
    for line in trace.lines() {
        // The log backend may put "PID@TIME:" before the event name.
        let event = line.split_whitespace().next().unwrap_or("");
        let event = event.rsplit(':').next().unwrap_or(event);
        if let Some(i) = crate::harness::qemu::REQUEST_TRACE_EVENTS
            .iter()
            .position(|e| *e == event)
        {
            counts[i] += 1;
        }
    }
    counts
}

fn requests(trace: &Path) -> io::Result<String> {
    // QEMU creates the file at the first event.
    let text = match std::fs::read_to_string(trace) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        other => other?,
    };
    let [plug, unplug, all] = count_requests(&text);
    Ok(format!("ok {plug} {unplug} {all}"))
}

/// What the host side of the conversation works with besides the monitor.
#[derive(Debug, Clone)]
pub struct HostSide {
    /// QEMU's trace of the device's requests.
    pub trace: PathBuf,
    /// A second QMP socket, for the wake-up that runs beside the conversation.
    pub bg_qmp: PathBuf,
    /// The filler file that keeps the device's backend short, as the host reaches it, in
    /// guests that have one.
    pub filler: Option<PathBuf>,
}

/// How a wake-after-suspend ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeOutcome {
    /// QEMU was seen suspended and `system_wakeup` went through this long after the request.
    Woken(Duration),
    /// The guest asked for the result before QEMU was seen suspended.
    Cancelled,
    /// QEMU was not seen suspended within the time given.
    TimedOut(Duration),
    /// QMP failed.
    Failed(String),
}

impl WakeOutcome {
    fn reply(&self) -> String {
        match self {
            WakeOutcome::Woken(t) => format!("ok woken {}", t.as_millis()),
            WakeOutcome::Cancelled => "ok cancelled".to_string(),
            WakeOutcome::TimedOut(_) => "ok timeout".to_string(),
            WakeOutcome::Failed(e) => format!("error {e}"),
        }
    }

    /// Why this wake-up fails the case when the guest never asked how it ended: the guest
    /// stayed suspended, or QMP failed.
    fn problem(&self) -> Option<String> {
        match self {
            WakeOutcome::TimedOut(t) => Some(format!(
                "wake-after-suspend: QEMU was not seen suspended within {} s",
                t.as_secs()
            )),
            WakeOutcome::Failed(e) => Some(format!("wake-after-suspend failed: {e}")),
            _ => None,
        }
    }
}

/// A wake-up waiting beside the conversation.
struct Waker {
    cancel: Arc<AtomicBool>,
    thread: JoinHandle<WakeOutcome>,
}

/// How often QEMU's run state is read while waiting for the guest to suspend.
const WAKE_POLL: Duration = Duration::from_millis(50);

impl Waker {
    fn start(bg_qmp: PathBuf, timeout: Duration) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut monitor = match Monitor::connect(&bg_qmp, Duration::from_secs(10)) {
                Ok(m) => m,
                Err(e) => return WakeOutcome::Failed(e.to_string()),
            };
            loop {
                if stop.load(Ordering::SeqCst) {
                    return WakeOutcome::Cancelled;
                }
                match monitor.status() {
                    Ok(qapi::qmp::RunState::suspended) => {
                        return match monitor.wakeup() {
                            Ok(()) => WakeOutcome::Woken(start.elapsed()),
                            Err(e) => WakeOutcome::Failed(e.to_string()),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return WakeOutcome::Failed(e.to_string()),
                }
                if start.elapsed() >= timeout {
                    return WakeOutcome::TimedOut(timeout);
                }
                thread::sleep(WAKE_POLL);
            }
        });
        Self { cancel, thread }
    }

    /// Stops the wait if it is still going, and says how it ended.
    fn finish(self) -> WakeOutcome {
        self.cancel.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .unwrap_or_else(|_| WakeOutcome::Failed("the waking thread panicked".to_string()))
    }
}

/// What the conversation left for the judgement of the case.
#[derive(Debug, Default)]
pub struct Served {
    /// The resizes carried out.
    pub resizes: Vec<ResizeRecord>,
    /// Things that went wrong on the host's side of a request the guest could not see.
    pub problems: Vec<String>,
}

/// The state of one conversation.
struct Session {
    monitor: Monitor,
    host: HostSide,
    served: Served,
    waker: Option<Waker>,
    /// The guest's end of the channel, for lines sent unasked.
    stream: UnixStream,
}

impl Session {
    fn answer(&mut self, request: Request) -> String {
        let monitor = &mut self.monitor;
        let result = match request {
            Request::Resize { bytes, timeout } => {
                let start = Instant::now();
                monitor
                    .set_requested_size(bytes)
                    .and_then(|()| monitor.wait_size(bytes, timeout))
                    .map(|wait| {
                        let elapsed = start.elapsed();
                        self.served.resizes.push(ResizeRecord {
                            requested: bytes,
                            reached: wait.size,
                            settled: wait.settled,
                            elapsed,
                        });
                        let word = if wait.settled { "ok" } else { "timeout" };
                        format!("{word} {} {} {}", wait.size, elapsed.as_millis(), wait.peak)
                    })
            }
            Request::WaitSize { bytes, timeout } => {
                let start = Instant::now();
                monitor.wait_size(bytes, timeout).map(|wait| {
                    let word = if wait.settled { "ok" } else { "timeout" };
                    let ms = start.elapsed().as_millis();
                    format!("{word} {} {ms} {}", wait.size, wait.peak)
                })
            }
            Request::Size => monitor.size().map(|s| format!("ok {s}")),
            Request::Requested => monitor.requested_size().map(|s| format!("ok {s}")),
            Request::Requests => requests(&self.host.trace),
            Request::WakeAfterSuspend { timeout } => {
                // A wake-up nobody asked about is judged now.
                self.collect_waker();
                self.waker = Some(Waker::start(self.host.bg_qmp.clone(), timeout));
                Ok("ok".to_string())
            }
            Request::WakeResult => Ok(match self.waker.take() {
                Some(w) => w.finish().reply(),
                None => "error no wake-after-suspend was asked for".to_string(),
            }),
            Request::PokeAfter { delay } => self.stream.try_clone().map(|mut s| {
                // The guest is asleep meanwhile and sends nothing; should QEMU be gone by then,
                // the write fails and nobody is there to mind.
                thread::spawn(move || {
                    thread::sleep(delay);
                    let _ = s.write_all(b"poke\n");
                });
                "ok".to_string()
            }),
            Request::Hotplug { region } => monitor.hotplug_device(region).map(|()| "ok".into()),
            Request::FreeBackend => match &self.host.filler {
                Some(filler) => std::fs::remove_file(filler)
                    .map(|()| "ok".to_string())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", filler.display()))),
                None => Ok("error this guest's backend has no filler".to_string()),
            },
            Request::Storm(storm) => {
                let start = Instant::now();
                let mut peak = 0;
                let mut last = None;
                let mut result = Ok(());
                for (size, gap) in storm.steps() {
                    thread::sleep(gap);
                    result = monitor
                        .set_requested_size(size)
                        .and_then(|()| monitor.size())
                        .map(|now| peak = peak.max(now));
                    if result.is_err() {
                        break;
                    }
                    last = Some(size);
                }
                result.map(|()| {
                    let ms = start.elapsed().as_millis();
                    format!("ok {} {peak} {ms}", last.unwrap_or(0))
                })
            }
        };
        result.unwrap_or_else(|e| format!("error {e}"))
    }

    /// Ends a pending wake-up that the guest did not ask about; how it ended can fail the case.
    fn collect_waker(&mut self) {
        if let Some(w) = self.waker.take() {
            if let Some(p) = w.finish().problem() {
                self.served.problems.push(p);
            }
        }
    }
}

/// Serves the guest's requests until the guest side closes (QEMU exited).
pub fn serve(stream: UnixStream, monitor: Monitor, host: HostSide) -> io::Result<Served> {
    let mut writer = stream.try_clone()?;
    let mut session = Session {
        monitor,
        host,
        served: Served::default(),
        waker: None,
        stream: writer.try_clone()?,
    };
    for line in BufReader::new(stream).lines() {
        let line = match line {
            Ok(l) => l,
            // QEMU going away resets the socket: the end of the conversation.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        };
        let line = line.trim_matches(|c: char| c == '\r' || c.is_whitespace());
        if line.is_empty() {
            continue;
        }
        let reply = match parse_request(line) {
            Ok(request) => session.answer(request),
            Err(e) => format!("error {e}"),
        };
        if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
            break;
        }
    }
    session.collect_waker();
    Ok(session.served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resize_with_default_timeout() {
        assert_eq!(
            parse_request("resize 1073741824"),
            Ok(Request::Resize {
                bytes: 1 << 30,
                timeout: DEFAULT_RESIZE_TIMEOUT
            })
        );
    }

    #[test]
    fn storm_parses_and_steps_are_seeded_multiples_of_the_block() {
        let storm = Storm {
            seed: 7,
            count: 200,
            max: 4 << 30,
            block: 2 << 20,
        };
        assert_eq!(
            parse_request("storm 7 200 4294967296 2097152"),
            Ok(Request::Storm(storm))
        );
        assert!(parse_request("storm 7 0 4294967296 2097152").is_err());
        assert!(parse_request("storm 7 10 1 2097152").is_err());
        let steps = storm.steps();
        assert_eq!(steps.len(), 200);
        assert_eq!(steps, storm.steps(), "the same seed gives the same storm");
        assert_ne!(steps, Storm { seed: 8, ..storm }.steps());
        for (size, gap) in &steps {
            assert!(*size <= storm.max && size % storm.block == 0, "{size}");
            assert!((20..=100).contains(&gap.as_millis()), "{gap:?}");
        }
        // Sizes spread over the range, both up and down.
        assert!(steps.iter().any(|(s, _)| *s < storm.max / 4));
        assert!(steps.iter().any(|(s, _)| *s > storm.max / 4 * 3));
    }

    #[test]
    fn parses_resize_with_timeout() {
        assert_eq!(
            parse_request(" resize 0 30 "),
            Ok(Request::Resize {
                bytes: 0,
                timeout: Duration::from_secs(30)
            })
        );
    }

    #[test]
    fn parses_queries() {
        assert_eq!(parse_request("size"), Ok(Request::Size));
        assert_eq!(parse_request("requested"), Ok(Request::Requested));
        assert_eq!(parse_request("requests"), Ok(Request::Requests));
        assert_eq!(parse_request("wake-result"), Ok(Request::WakeResult));
        assert_eq!(parse_request("free-backend"), Ok(Request::FreeBackend));
    }

    #[test]
    fn parses_wake_and_hotplug() {
        assert_eq!(
            parse_request("wake-after-suspend 60"),
            Ok(Request::WakeAfterSuspend {
                timeout: Duration::from_secs(60)
            })
        );
        assert_eq!(
            parse_request("hotplug 8589934592"),
            Ok(Request::Hotplug { region: 8 << 30 })
        );
        assert_eq!(
            parse_request("wait-size 0 150"),
            Ok(Request::WaitSize {
                bytes: 0,
                timeout: Duration::from_secs(150)
            })
        );
        assert!(parse_request("wait-size 0").is_err());
        assert_eq!(
            parse_request("poke-after 5"),
            Ok(Request::PokeAfter {
                delay: Duration::from_secs(5)
            })
        );
        assert!(parse_request("wake-after-suspend").is_err());
        assert!(parse_request("hotplug").is_err());
        assert!(parse_request("hotplug 1 2").is_err());
    }

    #[test]
    fn only_a_lost_wake_up_is_a_problem() {
        assert_eq!(
            WakeOutcome::Woken(Duration::from_millis(1500)).reply(),
            "ok woken 1500"
        );
        assert_eq!(WakeOutcome::Cancelled.reply(), "ok cancelled");
        assert!(WakeOutcome::Woken(Duration::ZERO).problem().is_none());
        assert!(WakeOutcome::Cancelled.problem().is_none());
        assert!(WakeOutcome::TimedOut(Duration::from_secs(60))
            .problem()
            .is_some());
        assert!(WakeOutcome::Failed("x".into()).problem().is_some());
    }

    #[test]
    fn counts_requests_in_the_trace() {
        let trace = "virtio_mem_plug_request addr=0x140000000 nb_blocks=64\n\
                     1234@1700000000.000001:virtio_mem_plug_request addr=0x148000000 nb_blocks=64\n\
                     virtio_mem_send_response type=0x0000\n\
                     virtio_mem_unplug_request addr=0x148000000 nb_blocks=1\n\
                     virtio_mem_unplug_all_request\n\
                     virtio_mem_plug_request_typo addr=0x0\n";
        assert_eq!(count_requests(trace), [2, 1, 1]);
        assert_eq!(count_requests(""), [0, 0, 0]);
    }

    #[test]
    fn rejects_bad_requests() {
        assert!(parse_request("").is_err());
        assert!(parse_request("resize").is_err());
        assert!(parse_request("resize -1").is_err());
        assert!(parse_request("resize 1G").is_err());
        assert!(parse_request("resize 1 2 3").is_err());
        assert!(parse_request("size now").is_err());
        assert!(parse_request("reboot").is_err());
    }
}
