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

/// How the guest's memory and its virtio-mem device are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Boot memory, and the device with a RAM backend.
    Plain,
    /// Boot memory and room for hot-added memory (`maxmem`), but no virtio-mem device: the
    /// guest asks for it (`hotplug` over the command channel).
    NoDevice,
    /// Two NUMA nodes, half the boot memory each, numbered so that an ACPI proximity domain
    /// differs from the Linux node id: QEMU writes its node ids into ACPI SRAT as proximity
    /// domains, and Linux numbers its nodes in the order it meets their PXMs there, CPU
    /// entries first (in CPU order), then memory. QEMU 7.2 refuses sparse node ids ("numa: Node
    /// ID missing: 1"), so the order does it: the CPUs are all on QEMU node 1 and node 0 has
    /// memory only, so PXM 1 (the CPUs' entries) becomes Linux node 0 and PXM 0 Linux node 1.
    /// (CPUs on both nodes would also do, but QEMU's default topology makes them share a
    /// last-level cache, which Linux's topology check warns about with a call trace.) The device is on
    /// QEMU node 0 (`node=0`): its memory belongs to Linux node 1. A driver that takes the
    /// device's `node_id` (a PXM under `VIRTIO_MEM_F_ACPI_PXM`) for a Linux node id puts it in
    /// node 0, and so does one that goes by the address (QEMU's SRAT gives the whole
    /// hot-plug area the last node, PXM 1).
    SwappedNuma,
    /// The device's backend is a file on a tmpfs mounted for this QEMU alone (a mount
    /// namespace of its own), too small for the whole backend, and a filler file takes part
    /// of it: the device preallocates what it plugs (`prealloc=on`), and a plug it cannot back
    /// gets `BUSY`. The filler's size is the tmpfs's less [`TIGHT_BACKEND_ROOM`]; deleting it
    /// (the channel's `free-backend`) leaves room for [`TIGHT_BACKEND_FREED`].
    TightBackend,
}

/// What the device can plug in [`Layout::TightBackend`] while the filler is there.
pub const TIGHT_BACKEND_ROOM: u64 = 512 * MIB;
/// The size of its tmpfs: once the filler is gone, room for 1 GiB and some to spare.
pub const TIGHT_BACKEND_FREED: u64 = 1280 * MIB;

/// Where a [`Layout::TightBackend`] guest's tmpfs is mounted, inside its directory.
const BACKEND_DIR: &str = "backend";
/// The filler file inside it.
const FILLER: &str = "filler";

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
    /// The device's `block-size`, 0 for QEMU's default.
    pub block_size: u64,
    /// `memhp_default_state`: how the kernel onlines hot-plugged memory.
    pub online: &'static str,
    pub smp: u32,
    /// Extra words for the kernel command line (the case, the driver).
    pub cmdline: Vec<String>,
    pub layout: Layout,
}

/// A size as QEMU's size options take it, in the largest unit that divides it (`1G`), so that
/// the command line in a log reads as the case says.
fn size_arg(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % MIB == 0 => format!("{}M", b / MIB),
        b => b.to_string(),
    }
}

/// `tcg` unless VMRS_ACCEL says otherwise (KVM hangs in the BIOS on the
/// machines this was written on, but works elsewhere).
fn accel() -> String {
    std::env::var("VMRS_ACCEL").unwrap_or_else(|_| "tcg".to_string())
}

/// Whether we run as root, which may mount in a mount namespace of its own without also
/// making a user namespace.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Mounts the small tmpfs in the new mount namespace (`unshare -m` makes its mounts private),
/// fills part of it with [`FILLER`] and becomes QEMU (the same process: `unshare` and `sh`
/// exec, so the host's `/proc/PID/root` reaches the mount).
const TIGHT_BACKEND_WRAPPER: &str = "set -e; dir=$1; size=$2; filler=$3; shift 3; \
     mount -t tmpfs -o size=$size vmrs-backend \"$dir\"; \
     fallocate -l $filler \"$dir/filler\"; \
     exec qemu-system-x86_64 \"$@\"";

impl GuestConfig {
    /// The QEMU command line; sockets go into `dir`.
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = match self.layout {
            Layout::TightBackend => {
                let mut cmd = Command::new("unshare");
                cmd.arg(if is_root() { "-m" } else { "-rm" })
                    .args(["sh", "-c", TIGHT_BACKEND_WRAPPER, "sh"])
                    .arg(dir.join(BACKEND_DIR))
                    .arg(TIGHT_BACKEND_FREED.to_string())
                    .arg((TIGHT_BACKEND_FREED - TIGHT_BACKEND_ROOM).to_string());
                cmd
            }
            _ => Command::new("qemu-system-x86_64"),
        };
        cmd.args(self.qemu_args(dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The memory and the virtio-mem device.
    fn memory_args(&self, dir: &Path) -> Vec<String> {
        let mut args = vec![
            "-m".to_string(),
            format!(
                "{}M,maxmem={}M",
                self.boot_mem / MIB,
                (self.boot_mem + self.region) / MIB
            ),
        ];
        let mut device = format!(
            "virtio-mem-pci,id={},memdev={},requested-size={}",
            crate::harness::qmp::DEVICE,
            crate::harness::qmp::BACKEND,
            self.requested_at_boot
        );
        if self.block_size != 0 {
            device.push_str(&format!(",block-size={}", size_arg(self.block_size)));
        }
        // reserve=off: the host commits only what the guest touches.
        let mut backend = format!(
            "memory-backend-ram,id={},size={},reserve=off",
            crate::harness::qmp::BACKEND,
            self.region
        );
        match self.layout {
            Layout::Plain => {}
            Layout::NoDevice => return args,
            Layout::SwappedNuma => {
                let half = self.boot_mem / 2 / MIB;
                let cpus = match self.smp {
                    0 | 1 => ",cpus=0".to_string(),
                    n => format!(",cpus=0-{}", n - 1),
                };
                for (node, cpus) in [(0, ""), (1, cpus.as_str())] {
                    args.extend([
                        "-object".to_string(),
                        format!("memory-backend-ram,id=m{node},size={half}M"),
                        "-numa".to_string(),
                        format!("node,nodeid={node},memdev=m{node}{cpus}"),
                    ]);
                }
                device.push_str(",node=0");
            }
            Layout::TightBackend => {
                backend = format!(
                    "memory-backend-file,id={},mem-path={},size={},share=on,prealloc=off",
                    crate::harness::qmp::BACKEND,
                    dir.join(BACKEND_DIR).join("vmem").display(),
                    self.region
                );
                device.push_str(",prealloc=on");
            }
        }
        args.extend([
            "-object".to_string(),
            backend,
            "-device".to_string(),
            device,
        ]);
        args
    }

    fn qemu_args(&self, dir: &Path) -> Vec<String> {
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
        let socket = |name: &str| dir.join(name).display().to_string();
        let mut args: Vec<String> = [
            "-accel",
            &accel(),
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-smp",
            &self.smp.to_string(),
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.extend(self.memory_args(dir));
        let path = |p: &Path| p.display().to_string();
        args.extend([
            "-kernel".to_string(),
            path(&self.bzimage),
            "-initrd".to_string(),
            path(&self.initramfs),
            "-append".to_string(),
            append,
            // ttyS0: the console, on QEMU's stdout.
            "-chardev".to_string(),
            "stdio,id=con0,signal=off".to_string(),
            "-serial".to_string(),
            "chardev:con0".to_string(),
            // ttyS1: the command channel.
            "-chardev".to_string(),
            format!(
                "socket,id=ctl,path={},server=on,wait=off",
                socket("ctl.sock")
            ),
            "-serial".to_string(),
            "chardev:ctl".to_string(),
            "-qmp".to_string(),
            format!("unix:{},server=on,wait=off", socket("qmp.sock")),
            // A second monitor for what runs beside a channel request (waking a suspended guest).
            "-qmp".to_string(),
            format!("unix:{},server=on,wait=off", socket(BG_QMP)),
        ]);
        // The device's own record of the requests it got, whichever driver sent them.
        for e in REQUEST_TRACE_EVENTS {
            args.extend(["-trace".to_string(), e.to_string()]);
        }
        args.extend(["-D".to_string(), socket(REQUEST_TRACE)]);
        args
    }
}

/// The second QMP socket in a guest's directory.
const BG_QMP: &str = "qmp-bg.sock";

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
        if config.layout == Layout::TightBackend {
            fs::create_dir_all(dir.join(BACKEND_DIR))?;
        }
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
                for line in crate::harness::logscan::split_console_line(raw.trim_end_matches('\r'))
                {
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

    pub fn bg_qmp_path(&self) -> PathBuf {
        self.dir.join(BG_QMP)
    }

    /// The filler file of a [`Layout::TightBackend`] guest, reached through QEMU's own view
    /// of the file system (its tmpfs is mounted in its mount namespace only).
    pub fn filler_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.child.id()))
            .join(self.dir.strip_prefix("/").unwrap_or(&self.dir))
            .join(BACKEND_DIR)
            .join(FILLER)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(block_size: u64) -> GuestConfig {
        GuestConfig {
            bzimage: PathBuf::from("bzImage"),
            initramfs: PathBuf::from("initramfs"),
            boot_mem: 1 << 30,
            region: 4 << 30,
            requested_at_boot: 0,
            block_size,
            online: "online_movable",
            smp: 2,
            cmdline: Vec::new(),
            layout: Layout::Plain,
        }
    }

    fn device_arg(config: &GuestConfig) -> String {
        let args = config.memory_args(Path::new("/tmp/x"));
        let at = args.iter().position(|a| a == "-device").expect("a -device");
        args[at + 1].clone()
    }

    #[test]
    fn the_device_gets_the_cases_block_size() {
        assert!(device_arg(&config(1 << 30)).ends_with(",block-size=1G"));
        assert!(device_arg(&config(4 * MIB)).ends_with(",block-size=4M"));
        // 0: QEMU chooses, and the option is not given at all.
        assert!(!device_arg(&config(0)).contains("block-size"));
        assert_eq!(size_arg(3 << 30), "3G");
        assert_eq!(size_arg(4097), "4097");
    }
}
