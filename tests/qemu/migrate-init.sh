#!/bin/sh
# rdinit of the QEMU migration test (tests/qemu/migrate.pl), in an initramfs
# appended to the `make run` one.  A chain of rounds over guest memory: round
# i writes `yes "H i" | head -c MB MiB` into /tmp/f(i mod 4) (tmpfs: guest
# RAM), then H = md5 of all four files, printed.  The host computes the same
# chain itself, so a page lost or stale after a migration shows as a wrong
# hash.  Then a 1 s sleep (timers still work) and power-off.  qm.rounds=N
# and qm.mb=M on the kernel command line.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
rounds=4 mb=8
for a in $(cat /proc/cmdline); do
	case $a in
	qm.rounds=*) rounds=${a#qm.rounds=} ;;
	qm.mb=*) mb=${a#qm.mb=} ;;
	esac
done
mkdir -p /tmp
mount -t tmpfs -o size=200m tmpfs /tmp
echo "softkvm-qm: user space reached, $rounds rounds of $mb MiB"
h=softkvm
i=1
while [ "$i" -le "$rounds" ]; do
	yes "$h $i" | head -c $((mb * 1048576)) >/tmp/f$((i % 4))
	set -- $(cat /tmp/f* | md5sum)
	h=$1
	echo "softkvm-qm: round $i $h"
	i=$((i + 1))
done
# the destination's timers: an idle wait must end (a LAPIC timer or
# kvmclock lost in the move would make it last forever)
sleep 1
echo "softkvm-qm: slept 1 s, uptime $(cut -d' ' -f1 /proc/uptime) s"
echo "softkvm-initramfs: powering off"
poweroff -f
reboot -f
