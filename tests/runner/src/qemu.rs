//! Starting and stopping one QEMU guest with a virtio-mem-pci device.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

const MIB: u64 = 1 << 20;

/// QEMU's trace events for the requests a virtio-mem device gets.
pub const REQUEST_TRACE_EVENTS: [&str; 3] = [
    "virtio_mem_plug_request",
    "virtio_mem_unplug_request",
    "virtio_mem_unplug_all_request",
];

/// The file in a guest's socket directory that QEMU writes those events to.
pub const REQUEST_TRACE: &str = "requests.trace";

/// How one guest is put together.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    pub boot_mem: u64,
    /// Size of the device's memory region, the most it can plug.
    pub region: u64,
    /// `requested-size` when the guest boots.
    pub requested_at_boot: u64,
    /// `memhp_default_state`: how the kernel onlines hot-plugged memory.
    pub online: &'static str,
    pub smp: u32,
    /// Extra words for the kernel command line (the case, the driver).
    pub cmdline: Vec<String>,
}

/// `tcg` unless VMRS_ACCEL says otherwise (KVM hangs in the BIOS on the
/// machines this was written on, but works elsewhere).
fn accel() -> String {
    std::env::var("VMRS_ACCEL").unwrap_or_else(|_| "tcg".to_string())
}

impl GuestConfig {
    /// The QEMU command line; sockets go into `dir`.
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        let append = [
            "console=ttyS0",
            &format!("memhp_default_state={}", self.online),
            // A panic ends the run at once instead of hanging until the deadline.
            "panic=-1",
        ]
        .into_iter()
        .map(String::from)
        .chain(self.cmdline.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
        cmd.args([
            "-accel",
            &accel(),
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-smp", &self.smp.to_string()])
        .args([
            "-m",
            &format!(
                "{}M,maxmem={}M",
                self.boot_mem / MIB,
                (self.boot_mem + self.region) / MIB
            ),
        ])
        // reserve=off: the host commits only what the guest touches.
        .args([
            "-object",
            &format!(
                "memory-backend-ram,id=vmem0,size={},reserve=off",
                self.region
            ),
        ])
        .args([
            "-device",
            &format!(
                "virtio-mem-pci,id={},memdev=vmem0,requested-size={}",
                crate::qmp::DEVICE,
                self.requested_at_boot
            ),
        ])
        .arg("-kernel")
        .arg(&self.bzimage)
        .arg("-initrd")
        .arg(&self.initramfs)
        .args(["-append", &append])
        // ttyS0: the console, on QEMU's stdout.
        .args([
            "-chardev",
            "stdio,id=con0,signal=off",
            "-serial",
            "chardev:con0",
        ])
        // ttyS1: the command channel.
        .args([
            "-chardev",
            &format!(
                "socket,id=ctl,path={},server=on,wait=off",
                dir.join("ctl.sock").display()
            ),
            "-serial",
            "chardev:ctl",
        ])
        .args([
            "-qmp",
            &format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()),
        ])
        // The device's own record of the requests it got, whichever driver sent them.
        .args(REQUEST_TRACE_EVENTS.iter().flat_map(|e| ["-trace", e]))
        .arg("-D")
        .arg(dir.join(REQUEST_TRACE))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }
}

/// A running guest. Dropping it kills the QEMU process it started, and only
/// that one.
pub struct Guest {
    child: Child,
    dir: PathBuf,
    /// Console lines as they arrive; closed when QEMU exits.
    pub console: Receiver<String>,
}

impl Guest {
    /// Starts QEMU, copying its console into `log`.
    pub fn start(config: &GuestConfig, dir: &Path, log: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        // A guest booted again in the same directory counts its own requests only.
        match fs::remove_file(dir.join(REQUEST_TRACE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut child = config.command(dir).spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start qemu-system-x86_64: {e}"))
        })?;
        let (tx, rx) = mpsc::channel();
        let mut file = File::create(log)?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let tx_err = tx.clone();
        let mut err_file = file.try_clone()?;
        thread::spawn(move || {
            // QEMU's own complaints go into the same log, marked.
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let line = format!("qemu: {}", String::from_utf8_lossy(&line));
                let _ = writeln!(err_file, "{line}");
                let _ = tx_err.send(line);
            }
        });
        thread::spawn(move || {
            for raw in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                let raw = String::from_utf8_lossy(&raw);
                for line in crate::logscan::split_console_line(raw.trim_end_matches('\r')) {
                    let _ = writeln!(file, "{line}");
                    if tx.send(line.to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Self {
            child,
            dir: dir.to_path_buf(),
            console: rx,
        })
    }

    pub fn qmp_path(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }

    pub fn ctl_path(&self) -> PathBuf {
        self.dir.join("ctl.sock")
    }

    pub fn request_trace_path(&self) -> PathBuf {
        self.dir.join(REQUEST_TRACE)
    }

    /// Whether QEMU has exited, and with which status.
    pub fn try_exit(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
