//! The QMP side of the harness: resizing the virtio-mem device and reading
//! back what it has plugged.

use std::io::{self, BufRead};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use qapi::{qmp, Qmp, Stream};

/// QOM path of the virtio-mem device (`-device virtio-mem-pci,id=vm0`).
pub const DEVICE: &str = "vm0";

/// The id of the device's memory backend (`-object memory-backend-*,id=vmem0`).
pub const BACKEND: &str = "vmem0";

/// How often the device's `size` is read while waiting: fine enough for the
/// sub-second plug times the C driver reaches under TCG.
const POLL: Duration = Duration::from_millis(5);

type QmpStream = Stream<io::BufReader<UnixStream>, UnixStream>;

/// A QMP connection to one QEMU process.
pub struct Monitor {
    qmp: Qmp<QmpStream>,
}

fn qmp_error(e: qapi::ExecuteError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Monitor {
    /// Connects to the QMP socket at `path`, waiting up to `timeout` for QEMU
    /// to create it, and negotiates capabilities.
    pub fn connect(path: &Path, timeout: Duration) -> io::Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("QMP socket {} not ready: {e}", path.display()),
                    ))
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = io::BufReader::new(stream.try_clone()?);
        // The greeting is read here rather than by `Qmp::handshake()`, which panics at an
        // early end and does not say what it got instead.
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        if !greeting.contains("\"QMP\"") {
            return Err(io::Error::other(format!(
                "no QMP greeting, got {:?}",
                greeting.trim_end()
            )));
        }
        let mut qmp = Qmp::new(Stream::new(reader, stream));
        qmp.execute(&qmp::qmp_capabilities { enable: None })
            .map_err(qmp_error)?;
        Ok(Self { qmp })
    }

    fn get_u64(&mut self, property: &str) -> io::Result<u64> {
        let value = self
            .qmp
            .execute(&qmp::qom_get {
                path: DEVICE.into(),
                property: property.into(),
            })
            .map_err(qmp_error)?;
        value.as_u64().ok_or_else(|| {
            io::Error::other(format!("qom-get {DEVICE}.{property} returned {value}"))
        })
    }

    /// The memory the device has plugged, in bytes.
    pub fn size(&mut self) -> io::Result<u64> {
        self.get_u64("size")
    }

    /// The size the device asks the guest to plug, in bytes.
    pub fn requested_size(&mut self) -> io::Result<u64> {
        self.get_u64("requested-size")
    }

    /// Asks the guest to plug `bytes` in total. QEMU raises a config-change
    /// interrupt on every set, even of an unchanged value.
    pub fn set_requested_size(&mut self, bytes: u64) -> io::Result<()> {
        self.qmp
            .execute(&qmp::qom_set {
                path: DEVICE.into(),
                property: "requested-size".into(),
                value: bytes.into(),
            })
            .map_err(qmp_error)?;
        Ok(())
    }

    /// QEMU's run state: `running`, or `suspended` after the guest entered S3.
    pub fn status(&mut self) -> io::Result<qmp::RunState> {
        let info = self.qmp.execute(&qmp::query_status {}).map_err(qmp_error)?;
        Ok(info.status)
    }

    /// Wakes a guest from S3, as an ACPI wake event would.
    pub fn wakeup(&mut self) -> io::Result<()> {
        self.qmp
            .execute(&qmp::system_wakeup {})
            .map_err(qmp_error)?;
        Ok(())
    }

    /// Hot-plugs the virtio-mem device into a guest that booted without one: a RAM backend
    /// of `region` bytes that the host commits only as the guest touches it (`reserve=off`,
    /// as at boot), and the device itself with nothing requested, on the root bus, where the
    /// pc machine plugs it through ACPI PCI hotplug.
    pub fn hotplug_device(&mut self, region: u64) -> io::Result<()> {
        let backend = qmp::MemoryBackendProperties {
            size: region,
            reserve: Some(false),
            dump: None,
            host_nodes: None,
            merge: None,
            policy: None,
            prealloc: None,
            prealloc_context: None,
            prealloc_threads: None,
            share: None,
            x_use_canonical_path_for_ramblock_id: None,
        };
        self.qmp
            .execute(&qmp::object_add(qmp::ObjectOptions::memory_backend_ram {
                id: BACKEND.into(),
                memory_backend_ram: backend,
            }))
            .map_err(qmp_error)?;
        let mut arguments = qapi::Dictionary::new();
        arguments.insert("memdev".into(), BACKEND.into());
        arguments.insert("requested-size".into(), 0.into());
        self.qmp
            .execute(&qmp::device_add {
                driver: "virtio-mem-pci".into(),
                id: Some(DEVICE.into()),
                bus: None,
                arguments,
            })
            .map_err(qmp_error)?;
        Ok(())
    }

    /// Polls `size` until it equals `target` or `timeout` passes. Returns the
    /// last size read and whether it reached the target.
    pub fn wait_size(&mut self, target: u64, timeout: Duration) -> io::Result<Wait> {
        let deadline = Instant::now() + timeout;
        let mut peak = 0;
        loop {
            let size = self.size()?;
            peak = peak.max(size);
            if size == target {
                return Ok(Wait {
                    size,
                    settled: true,
                    peak,
                });
            }
            if Instant::now() >= deadline {
                return Ok(Wait {
                    size,
                    settled: false,
                    peak,
                });
            }
            thread::sleep(POLL);
        }
    }
}

/// How a wait for the device's size ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The size last read.
    pub size: u64,
    /// Whether it reached the target.
    pub settled: bool,
    /// The largest size seen while waiting: a driver that overshoots shows here.
    pub peak: u64,
}
