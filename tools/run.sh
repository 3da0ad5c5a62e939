#!/bin/sh
# `make run`: boot the Debian cloud kernel and the busybox initramfs
# (tools/boot-image.sh) under `softkvm boot`.  With a terminal on stdin and
# stdout: an interactive shell on ttyS0 (Ctrl-A x quits).  Without one: the
# initramfs runs a short script and powers off.  The exit status is softkvm
# boot's: 0 after the guest powers off, 1 (with the reason on stderr) when
# the guest stops before that -- docs/boot.md says how far it gets today.
#
#   run.sh BUILD_DIR RUN_DIR [softkvm boot options...]
set -u
build=$1 rundir=$2
shift 2
# bench-boot (tools/bench-boot.pl) and check-boot's real boot use this line.
append="console=ttyS0 panic=-1"
if [ -t 0 ] && [ -t 1 ]; then
	append="$append softkvm.interactive=1"
	echo "run: booting $rundir/vmlinuz under softkvm; Ctrl-A x quits"
else
	append="$append quiet"
fi
"$build/softkvm" boot --kernel "$rundir/vmlinuz" --initrd "$rundir/initramfs.cpio.gz" \
	--append "$append" --mem 256M "$@"
st=$?
if [ $st -ne 0 ]; then
	echo "run: the guest did not power off (softkvm boot exit status $st)." >&2
	echo "run: docs/boot.md (\"make run\") records how far the kernel gets under softkvm today." >&2
fi
exit $st
