#!/bin/sh
# /init of the `make run` initramfs (built by tools/boot-image.sh).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "softkvm-initramfs: user space reached"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $(cat /lib/modules/order); do
	insmod "/lib/modules/$m" 2>/dev/null
done
hostname softkvm

# console=hvc0: the virtio console (virtio_console.ko, loaded above) is
# hvc0; say so through it, once its device node is there.
case " $(cat /proc/cmdline) " in
*" console=hvc0 "*|*" console=hvc0,"*)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -c /dev/hvc0 ] && break
		usleep 100000
	done
	echo "softkvm-initramfs: hello on hvc0" >/dev/hvc0
	;;
esac

finish() {
	echo "softkvm-initramfs: powering off"
	sync
	poweroff -f
	# No ACPI power-off: a reboot (i8042 / port 0xcf9) ends the VM too.
	reboot -f
}

case " $(cat /proc/cmdline) " in
*" softkvm.interactive=1 "*)
	echo "softkvm-initramfs: busybox shell on $(cat /sys/class/tty/console/active 2>/dev/null); 'poweroff -f' ends the VM"
	setsid cttyhack sh -l
	finish
	;;
esac

# No terminal: a short look around, then power off.
echo "softkvm-initramfs: kernel $(uname -r) on $(uname -m)"
echo "softkvm-initramfs: $(grep -c ^processor /proc/cpuinfo) cpu(s), $(grep MemTotal /proc/meminfo | tr -s ' ')"
echo "softkvm-initramfs: cpu $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
# the kernel keeps the la57 flag only when it runs with 5-level paging
echo "softkvm-initramfs: paging $(grep -qw la57 /proc/cpuinfo && echo 5 || echo 4)-level"
for d in /sys/block/vd*; do
	[ -e "$d" ] || continue
	echo "softkvm-initramfs: disk /dev/${d##*/}, $(cat "$d/size") sectors"
done
echo "softkvm-initramfs: uptime $(cut -d' ' -f1 /proc/uptime) s"
finish
