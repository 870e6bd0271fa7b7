# SPDX-License-Identifier: GPL-2.0
# Case suspend: what the driver does around system sleep (1 GiB boot memory,
# online_movable). QEMU 7.2 offers no VIRTIO_MEM_F_PERSISTENT_SUSPEND and
# resets the machine, the device included, when it wakes it from S3: the
# device's memory is unplugged and its queue forgotten. So, as the C driver
# does (drivers/virtio/virtio_mem.c: virtio_mem_freeze, _restore and
# _pm_notifier_cb):
#  a) S3 with nothing plugged succeeds; the host wakes the guest over QMP;
#  b) after the wake-up the device works again: a resize to 1 GiB plugs
#     within 30 s (the driver set up its queue anew in restore);
#  c) S3 with memory plugged is refused by the driver's freeze (EPERM,
#     "suspending with plugged memory is not supported"): a pattern in
#     memory stays intact, the memory stays plugged, the guest runs on;
#  d) suspend-to-idle with memory plugged is allowed (nothing is reset):
#     woken by the host over the serial line, and a resize works after it;
#  e) hibernation is refused, with memory plugged and with none: the
#     driver's PM notifier says "hibernation is not supported" and stops it
#     before anything is frozen (NOTIFY_BAD, which the PM core returns as
#     EPERM).
. /tests/lib.sh
tap_plan 27
NO_S3='suspending with plugged memory is not supported'
NO_S4='hibernation is not supported'

# sleep_to STATE: writes STATE to /sys/power/state; sets SLEEP_RC (the
# shell's status) and SLEEP_ERR (what the shell printed for a failed write,
# e.g. "sh: write error: Operation not permitted").
sleep_to() {
	echo "$1" >/sys/power/state 2>/tmp/sleep.err
	SLEEP_RC=$?
	SLEEP_ERR=$(cat /tmp/sleep.err)
	diag "echo $1 > /sys/power/state: status $SLEEP_RC${SLEEP_ERR:+, '$SLEEP_ERR'}"
}
refused_with_eperm() { [ "$SLEEP_RC" -ne 0 ] && echo "$SLEEP_ERR" | grep -q 'Operation not permitted'; }
# s3: S3 with the host armed to wake the guest once QEMU says it is
# suspended. WAKE is the host's account: "ok woken MS" or "ok cancelled"
# (the guest never got suspended).
s3() {
	host "wake-after-suspend $(scale 60)"
	sleep_to mem
	host wake-result
	WAKE=$REPLY
	diag "host: $WAKE"
}
woken() { case $WAKE in "ok woken "*) true ;; *) false ;; esac; }
not_suspended() { [ "$WAKE" = "ok cancelled" ]; }
# Real S3 resumes (ACPI's "Low-level resume complete"), and sleeps of any
# kind that succeeded.
s3_resumes() { log_count 'Low-level resume complete'; }
sleeps() { cat /sys/power/suspend_stats/success; }

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
diag "/sys/power/state: $(cat /sys/power/state); mem_sleep: $(cat /sys/power/mem_sleep)"
# "mem" is S3 (deep), not suspend-to-idle, for a) to c).
check "S3 is offered (mem_sleep has 'deep')" grep -q deep /sys/power/mem_sleep
echo deep >/sys/power/mem_sleep
base_kb=$(memtotal_kb)

# a) S3 with nothing plugged.
resumes=$(s3_resumes)
s3
check "S3 with nothing plugged: echo mem succeeds" [ "$SLEEP_RC" -eq 0 ]
check "the host saw the guest suspended and woke it over QMP" woken
check "the guest resumed from S3 ('Low-level resume complete')" [ "$(s3_resumes)" -gt "$resumes" ]

# b) The device after the reset of the wake-up.
check "after the wake-up, a resize to 1 GiB plugs within 30 s" resize $GIB 30
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
plugged_kb=$(memtotal_kb)

# c) S3 with 1 GiB plugged, a pattern held over boot and plugged memory.
check "memhog holds a 1400 MiB pattern" hog_start 1400
refusals=$(log_count "$NO_S3")
s3
check "S3 with 1 GiB plugged is refused with EPERM" refused_with_eperm
check "the driver said why ('$NO_S3')" [ "$(log_count "$NO_S3")" -gt "$refusals" ]
check "the guest was not suspended" not_suspended
check "the pattern is intact" hog_check
check "the device still has 1 GiB plugged" device_size_is $GIB
check "MemTotal is unchanged" memtotal_is "$plugged_kb"

# d) Suspend-to-idle with 1 GiB plugged. QEMU 7.2 cannot wake it with the
# RTC alarm: the alarm reaches ACPI as a wake event (RTC_STS) only from S3,
# and the RTC's own interrupt is no wakeup source here. So ttyS1, the command
# channel, is made one, and the host sends a line 5 s later: its interrupt
# wakes the guest (/sys/power/pm_wakeup_irq says which one did).
check "memhog holds a 1400 MiB pattern" hog_start 1400
RTC=/sys/class/rtc/rtc0
TTY=/sys/class/tty/ttyS1
echo enabled >$TTY/power/wakeup
check "ttyS1 is a wakeup source" [ "$(cat $TTY/power/wakeup)" = enabled ]
t0=$(cat $RTC/since_epoch)
refusals=$(log_count "$NO_S3")
before=$(sleeps)
host "poke-after 5"
sleep_to freeze
# The host's line, read whether or not the guest slept.
read -r -t 30 poke <&3
t1=$(cat $RTC/since_epoch)
diag "suspend-to-idle took $((t1 - t0)) s of RTC time; woken by IRQ $(cat /sys/power/pm_wakeup_irq 2>/dev/null) (ttyS1: IRQ $(cat $TTY/irq)); host sent '$(echo "$poke" | tr -d '\r')'"
echo disabled >$TTY/power/wakeup
check "suspend-to-idle with 1 GiB plugged succeeds" [ "$SLEEP_RC" -eq 0 ]
slept() {
	[ $((t1 - t0)) -ge 4 ] && [ "$(sleeps)" -gt "$before" ] &&
		[ "$(cat /sys/power/pm_wakeup_irq)" = "$(cat $TTY/irq)" ] &&
		[ "$(log_count "$NO_S3")" -eq "$refusals" ]
}
check "the guest slept until ttyS1 woke it (>= 4 s, one more sleep counted, no refusal)" slept
check "the pattern is intact" hog_check
check "after suspend-to-idle, a resize to 2 GiB plugs within 30 s" resize $((2 * GIB)) 30
diag "device size $DEV_SIZE after $RESIZE_MS ms"

# e) Hibernation, with 2 GiB plugged and with nothing plugged.
refusals=$(log_count "$NO_S4")
sleep_to disk
check "hibernation with 2 GiB plugged is refused with EPERM" refused_with_eperm
check "the driver said why ('$NO_S4')" [ "$(log_count "$NO_S4")" -gt "$refusals" ]
check "unplug to 0 within 60 s" resize 0 60
refusals=$(log_count "$NO_S4")
sleep_to disk
check "hibernation with nothing plugged is refused with EPERM" refused_with_eperm
check "the driver said why ('$NO_S4')" [ "$(log_count "$NO_S4")" -gt "$refusals" ]
check "the device still works: plug 1 GiB within 30 s" resize $GIB 30
tap_done
