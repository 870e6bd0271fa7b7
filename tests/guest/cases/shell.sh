# SPDX-License-Identifier: GPL-2.0
# Not a test: `make shell`'s guest. Loads the driver and hands the console to a person.
. /tests/lib.sh
load_driver || echo "insmod $MODULE failed; dmesg says: $(dmesg | tail -n 3)"
cat <<EOT

virtio-mem-rs shell: $MODULE is loaded, the device (QEMU id vm0) is empty.
  Ctrl-a c, then   qom-set vm0 requested-size 1G   resizes it (Ctrl-a c again: back here)
  cat /sys/kernel/debug/virtio_mem_rs/virtio*/plugged_size     (our driver's files)
  grep . /sys/module/$MODULE/parameters/*                      (the parameters)
  poweroff -f, or Ctrl-a x, ends it.

EOT
setsid cttyhack sh -l || sh
