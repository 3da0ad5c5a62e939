#!/bin/sh
# Install the Debian packages a make target needs (as root), or say exactly
# which apt-get line to run.  Usage: deps.sh GROUP...
set -e
pkgs=""
for g in "$@"; do
	case "$g" in
	build) pkgs="$pkgs gcc make libc6-dev linux-libc-dev perl binutils" ;;
	# libFuzzer and the sanitizer runtimes for clang come with libclang-rt
	fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
	# the kernel source whose KVM selftests make selftests builds
	selftests) pkgs="$pkgs linux-source-6.1 xz-utils" ;;
	# QEMU 7.2 for check-qemu and bench-boot (SeaBIOS and qboot come with it)
	qemu) pkgs="$pkgs qemu-system-x86" ;;
	*) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
	esac
done
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
