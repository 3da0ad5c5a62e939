#!/bin/sh
# The guest `make run` boots: Debian 12's cloud kernel (linux-image-cloud-amd64)
# and an initramfs built around busybox-static, fetched with `apt-get download`
# into DIR (default build/run) and cached there; nothing here is committed.
#
#   boot-image.sh [DIR]   ->  DIR/vmlinuz, DIR/initramfs.cpio.gz
#
# The initramfs: busybox (its applets installed at boot), the virtio modules
# of the same kernel (the cloud kernel builds virtio-mmio and virtio-blk as
# modules) and an /init (tools/boot-init.sh) that mounts the usual file
# systems and either starts a shell on ttyS0 (softkvm.interactive=1 on the
# command line) or runs a short script and powers off.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-build/run}
mkdir -p "$dir/deb"
dir=$(cd "$dir" && pwd)
cd "$dir/deb"

fetch() {	# fetch PACKAGE: the .deb into $dir/deb unless one is there
	ls "$1"_*.deb >/dev/null 2>&1 && return 0
	echo "boot-image: apt-get download $1"
	if ! apt-get download "$1" >apt.log 2>&1; then
		cat apt.log >&2
		echo "boot-image: cannot download $1 (as root: apt-get update, then retry)" >&2
		exit 1
	fi
}

# The metapackage names the current kernel package; take that one.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1)
if [ -z "$kpkg" ]; then
	# No package lists (apt-get update never ran): use a cached kernel if any.
	kpkg=$(ls linux-image-[0-9]*-cloud-amd64_*.deb 2>/dev/null | head -n 1 | sed 's/_.*//')
	[ -n "$kpkg" ] || {
		echo "boot-image: apt-cache does not know linux-image-cloud-amd64 (run apt-get update as root)" >&2
		exit 1
	}
fi
fetch "$kpkg"
fetch busybox-static
kdeb=$(ls "$kpkg"_*.deb | head -n 1)
bdeb=$(ls busybox-static_*.deb | head -n 1)

stamp="$kdeb $bdeb $(cksum <"$here/boot-init.sh") $(cksum <"$here/boot-image.sh")"
if [ -f "$dir/initramfs.cpio.gz" ] && [ -f "$dir/vmlinuz" ] &&
   [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

rm -rf "$dir/x" "$dir/root"
mkdir -p "$dir/x"
dpkg-deb -x "$kdeb" "$dir/x"
dpkg-deb -x "$bdeb" "$dir/x"
cp "$dir"/x/boot/vmlinuz-* "$dir/vmlinuz"
kver=$(ls "$dir/x/lib/modules" | head -n 1)

root="$dir/root"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/proc" \
	"$root/sys" "$root/dev" "$root/tmp" "$root/mnt" "$root/etc" "$root/lib/modules"
cp "$dir/x/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# In dependency order, as /init loads them (virtio needs virtio_ring's
# virtio_break_device; the modules.dep that would say so is made by depmod
# at install time, not shipped).
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko \
	 drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko \
	 drivers/char/virtio_console.ko; do
	cp "$dir/x/lib/modules/$kver/kernel/$m" "$root/lib/modules/"
	basename "$m" >>"$root/lib/modules/order"
done
cp "$here/boot-init.sh" "$root/init"
chmod 755 "$root/init"
echo "$kver" >"$root/etc/kernel-release"

# newc cpio by busybox's own cpio (the host may have none), then gzip.
(cd "$root" && find . | LC_ALL=C sort | "$dir/x/bin/busybox" cpio -o -H newc 2>/dev/null) |
	gzip -9 >"$dir/initramfs.cpio.gz"
rm -rf "$dir/x"
echo "$stamp" >"$dir/stamp"
echo "boot-image: $dir/vmlinuz ($kpkg), $dir/initramfs.cpio.gz"
