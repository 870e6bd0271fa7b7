//! The host end of the command channel: the guest's second serial port
//! (ttyS1) carries one request line from the guest and one reply line back.
//! It lets a guest test ask the host to resize the device and wait for it.
//!
//! Requests and replies:
//!
//! ```text
//! resize BYTES [TIMEOUT_S]  ->  ok SIZE MS PEAK | timeout SIZE MS PEAK | error TEXT
//!                               (PEAK: the largest size seen while waiting)
//! size                      ->  ok SIZE
//! requested                 ->  ok SIZE
//! requests                  ->  ok PLUG UNPLUG UNPLUG_ALL
//!                               (requests the device has got since boot, from QEMU's trace)
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::qmp::Monitor;

/// How long a resize waits for the device by default.
pub const DEFAULT_RESIZE_TIMEOUT: Duration = Duration::from_secs(120);

/// One request from the guest.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Set `requested-size` and wait until `size` matches.
    Resize { bytes: u64, timeout: Duration },
    /// Read the device's plugged size.
    Size,
    /// Read the device's requested size.
    Requested,
    /// Count the requests the device has got.
    Requests,
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
        "size" => Request::Size,
        "requested" => Request::Requested,
        "requests" => Request::Requests,
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
        if let Some(i) = crate::qemu::REQUEST_TRACE_EVENTS
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

fn answer(
    monitor: &mut Monitor,
    trace: &Path,
    request: Request,
    log: &mut Vec<ResizeRecord>,
) -> String {
    let result = match request {
        Request::Resize { bytes, timeout } => {
            let start = Instant::now();
            monitor
                .set_requested_size(bytes)
                .and_then(|()| monitor.wait_size(bytes, timeout))
                .map(|wait| {
                    let elapsed = start.elapsed();
                    log.push(ResizeRecord {
                        requested: bytes,
                        reached: wait.size,
                        settled: wait.settled,
                        elapsed,
                    });
                    let word = if wait.settled { "ok" } else { "timeout" };
                    format!("{word} {} {} {}", wait.size, elapsed.as_millis(), wait.peak)
                })
        }
        Request::Size => monitor.size().map(|s| format!("ok {s}")),
        Request::Requested => monitor.requested_size().map(|s| format!("ok {s}")),
        Request::Requests => requests(trace),
    };
    result.unwrap_or_else(|e| format!("error {e}"))
}

/// Serves the guest's requests until the guest side closes (QEMU exited).
/// Returns the resizes it carried out.
pub fn serve(
    stream: UnixStream,
    mut monitor: Monitor,
    trace: PathBuf,
) -> io::Result<Vec<ResizeRecord>> {
    let mut writer = stream.try_clone()?;
    let mut log = Vec::new();
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
            Ok(request) => answer(&mut monitor, &trace, request, &mut log),
            Err(e) => format!("error {e}"),
        };
        if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
            break;
        }
    }
    Ok(log)
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
