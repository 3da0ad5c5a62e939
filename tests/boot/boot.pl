#!/usr/bin/perl
# `softkvm boot` with the fake bzImages of tests/boot/fake.S: the boot state,
# zero page, e820, command line and initrd the guest reports, the 16550 and
# debug-exit port, the VM's endings, and the loader's error paths.  The
# booting cases run under softkvm and again with --hw on the host's
# /dev/kvm when that can be opened.
#
#   make check-boot          (SKVM_BUILD=build prove -f tests/boot/boot.pl)
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../../tools";
use Tap;

my $build = $ENV{SKVM_BUILD} || 'build';
my $skvm = "$build/softkvm";
my $img = "$build/tests/boot";
my $tmp = tempdir(CLEANUP => 1);



# Run softkvm boot with stdin from /dev/null, or fed $input after
# $delay seconds (boot_in); a run longer than 120 s is killed.  Returns
# (exit status or -signal, stdout, stderr).
sub boot_in {
	my ($input, $delay, @args) = @_;
	return run_in($input, $delay, $skvm, 'boot', @args);
}

sub run_in {
	my ($input, $delay, @cmd) = @_;
	pipe(my $r, my $w) or die "pipe: $!";
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		close($w);
		open(STDIN, '<&', $r) or die;
		open(STDOUT, '>', "$tmp/out") or die;
		open(STDERR, '>', "$tmp/err") or die;
		exec(@cmd) or exit 126;
	}
	close($r);
	my $feeder = fork() // die "fork: $!";
	if (!$feeder) {
		sleep($delay) if $delay;
		print $w $input if defined $input;
		close($w);
		exit 0;
	}
	close($w);
	local $SIG{ALRM} = sub { kill('KILL', $pid) };
	alarm($ENV{SKVM_BOOT_REAL} ? 1800 : 120);
	waitpid($pid, 0);
	my $st = $? & 127 ? -($? & 127) : $? >> 8;
	alarm(0);
	kill('KILL', $feeder);
	waitpid($feeder, 0);
	local $/;
	open(my $o, '<', "$tmp/out") or die;
	open(my $e, '<', "$tmp/err") or die;
	return ($st, scalar(<$o> // ''), scalar(<$e> // ''));
}

sub boot { return boot_in(undef, 0, @_); }

sub spew {
	my ($path, $data) = @_;
	open(my $f, '>:raw', $path) or die "$path: $!";
	print $f $data;
	close($f);
	return $path;
}


my $fake = "$img/fake.bzImage";
die "no $fake: run make check-boot\n" unless -f $fake;
my $initrd = spew("$tmp/initrd", "INITRD-MAGIC first line\nsecond line\n" . ("x" x 5000));
my $isize = -s $initrd;
my $cmdline = 'console=ttyS0 earlyprintk=serial softkvm.test=1';

my $hw_why;
if (!-e '/dev/kvm') {
	$hw_why = 'no /dev/kvm on this machine';
} elsif (!open(my $k, '+<', '/dev/kvm')) {
	$hw_why = "cannot open /dev/kvm: $!";
}

sub hex16 { return sprintf('%016x', $_[0]); }

# Whether a back end has the in-kernel irqchip and PIT softkvm boot uses:
# softkvm from `softkvm info`, the host from KVM_CHECK_EXTENSION.
sub has_irqchip {
	my ($hw) = @_;
	if (!$hw) {
		my $info = `$skvm info`;
		return $info =~ /^\s*KVM_CAP_IRQCHIP\s+[1-9]/m && $info =~ /^\s*KVM_CAP_PIT2\s+[1-9]/m;
	}
	open(my $k, '+<', '/dev/kvm') or return 0;
	my $KVM_CHECK_EXTENSION = 0xae03;
	my ($irqchip, $pit2) = (0, 33);
	my $a = ioctl($k, $KVM_CHECK_EXTENSION, $irqchip);
	my $b = ioctl($k, $KVM_CHECK_EXTENSION, $pit2);
	return $a && $b && $a > 0 && $b > 0;
}

for my $hw (0, 1) {
	my $on = $hw ? 'host /dev/kvm' : 'softkvm';
	my @hw = $hw ? ('--hw') : ();
	if ($hw && $hw_why) {
		skip("$on: all booting cases", $hw_why);
		next;
	}

	my ($st, $out, $err) = boot(@hw, '--kernel', $fake, '--initrd', $initrd,
				    '--append', $cmdline, '--mem', '64M');
	my $diag = "status $st\nstdout:\n$out\nstderr:\n$err";
	ok($st == 42 && $out =~ /^fake: ok$/m, "$on: boots, guest checks pass, debug-exit status 42", $diag);
	ok($out =~ /^fake: hello from the 64-bit entry$/m, "$on: 64-bit entry prints on ttyS0", $diag);
	ok($out =~ /^fake: entry=0000000001000200$/m, "$on: loaded at pref_address, entered at +0x200", $diag);
	ok($out =~ /^fake: zero page=0000000000010000$/m, "$on: RSI is the zero page", $diag);
	ok($out =~ /^fake: cmdline=\Q$cmdline\E$/m, "$on: command line", $diag);
	my @e820 = $out =~ /^fake: e820 (.*)$/mg;
	ok(@e820 == 3
	   && $e820[0] eq join(' ', hex16(0), hex16(0xa0000), hex16(1))
	   && $e820[1] eq join(' ', hex16(0xe0000), hex16(0x20000), hex16(2))
	   && $e820[2] eq join(' ', hex16(0x100000), hex16(64 * 1024 * 1024 - 0x100000), hex16(1)),
	   "$on: e820 is RAM below 640K and 1M..64M, the ACPI area reserved", $diag);
	my ($ia, $is, $il) = $out =~ /^fake: initrd (\w+) (\w+) (.*)$/m;
	ok(defined $ia && hex($is) == $isize && $il eq 'INITRD-MAGIC first line',
	   "$on: initrd size and contents", $diag);
	ok(defined $ia && hex($ia) % 4096 == 0 && hex($ia) + $isize <= 64 * 1024 * 1024 &&
	   hex($ia) + $isize > 64 * 1024 * 1024 - 8192 && hex($ia) >= 0x1000000 + 0x100000,
	   "$on: initrd page aligned, high, clear of the kernel's init_size", $diag);
	ok($err eq '', "$on: nothing on stderr", $diag);

	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'plain', '--mem', '4M');
	$diag = "status $st\nstdout:\n$out\nstderr:\n$err";
	ok($st == 42 && $out =~ /^fake: entry=0000000000200200$/m && $out !~ /initrd/,
	   "$on: --mem 4M: relocatable kernel goes to the first aligned 1M+ spot, no initrd", $diag);

	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'x', '--mem', '5G');
	$diag = "status $st\nstdout:\n$out\nstderr:\n$err";
	@e820 = $out =~ /^fake: e820 (.*)$/mg;
	ok($st == 42 && @e820 == 4 &&
	   $e820[2] eq join(' ', hex16(0x100000), hex16(0xc0000000 - 0x100000), hex16(1)) &&
	   $e820[3] eq join(' ', hex16(1 << 32), hex16(2 << 30), hex16(1)),
	   "$on: --mem 5G: RAM above 3G moves above 4G", $diag);

	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'exit7');
	ok($st == 7 && $out !~ /fake: ok/, "$on: debug-exit port value is the exit status",
	   "status $st\n$err");

	my $irqchip = has_irqchip($hw);
	if ($irqchip) {
		# With the in-kernel irqchip a HLT waits in the kernel, as on a
		# real machine: nothing to observe but a hang.
		skip("$on: HLT with interrupts off ends the VM", 'in-kernel irqchip: HLT waits there');
	} else {
		($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'halt');
		ok($st == 1 && $err =~ /guest halted/, "$on: HLT with interrupts off ends the VM",
		   "status $st\n$err");
	}

	# ACPI (the document: ACPI 6 chapter 5): RSDP by acpi_rsdp_addr, the
	# XSDT's tables and the DSDT with good checksums, soft-off by \_S5.
	my @cpus = $irqchip ? ('--cpus', '2') : ();
	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'poweroff', @cpus);
	$diag = "status $st\nstdout:\n$out\nstderr:\n$err";
	my @acpi = $out =~ /^fake: acpi (\w+)$/mg;
	ok(join(' ', @acpi) eq ($irqchip ? 'XSDT FACP APIC DSDT' : 'XSDT FACP DSDT'),
	   "$on: ACPI tables found and checksummed: @acpi", $diag);
	ok($st == 0 && $out =~ /^fake: acpi soft-off$/m && $out !~ /FAIL/ && $err eq '',
	   "$on: ACPI soft-off (SLP_TYP from \\_S5, SLP_EN to PM1a_CNT) ends the VM, status 0", $diag);

	for my $r (['cf9reset', 0xcf9], ['kbdreset', 0x64]) {
		($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', $r->[0]);
		ok($st == 0 && $out !~ /FAIL/ &&
		   $err =~ sprintf('guest reset through port %#x; not restarting', $r->[1]),
		   "$on: reset through port " . sprintf('%#x', $r->[1]) . " ends the VM, status 0",
		   "status $st\nstdout:\n$out\nstderr:\n$err");
	}

	# virtio-blk (VIRTIO 1.1): found through the DSDT, driven by polling,
	# the guest's write must be in the file when softkvm boot returns.
	my $disk = "$tmp/disk$hw.img";
	spew($disk, "DISK-MAGIC sector zero\n" . ("\0" x (64 * 1024 - 23)));
	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'virtio', '--disk', $disk);
	$diag = "status $st\nstdout:\n$out\nstderr:\n$err";
	ok($st == 42 && $out =~ /^fake: virtio-mmio at 00000000d0000000$/m &&
	   $out =~ /^fake: disk capacity 0{14}80 sectors$/m &&
	   $out =~ /^fake: disk sector 0: DISK-MAGIC sector zero$/m &&
	   $out =~ /^fake: disk sector 1: written by the guest$/m && $out =~ /^fake: virtio ok$/m,
	   "$on: virtio-blk: DSDT device, feature negotiation, read, write, flush, IOERR past the end",
	   $diag);
	my $img = slurp($disk);
	ok(length($img) == 64 * 1024 && substr($img, 512, 21) eq "written by the guest\n" &&
	   substr($img, 0, 23) eq "DISK-MAGIC sector zero\n",
	   "$on: virtio-blk: the guest's write is in the image file, its size unchanged");

	# virtio-console (VIRTIO 1.1 5.3, hvc0 in Linux): a line out through
	# transmitq, and terminal input into receiveq under console=hvc0.
	($st, $out, $err) = boot_in("hello hvc\n", 2, @hw, '--kernel', $fake, '--append',
				    'vcon console=hvc0');
	ok($st == 42 && $out =~ /^fake: virtio console at 00000000d0000200$/m &&
	   $out =~ /^fake: hello through the virtio console$/m &&
	   $out =~ /^fake: virtio console got: hello hvc$/m && $out =~ /^fake: virtio console ok$/m,
	   "$on: virtio-console: DSDT device, VERSION_1 only, transmitq to stdout, stdin to receiveq",
	   "status $st\nstdout:\n$out\nstderr:\n$err");

	if (!$irqchip) {
		skip("$on: 16550 THRE and RDA interrupts on IRQ 4", 'no in-kernel irqchip');
		skip("$on: --cpus 2, AP started by INIT/SIPI", 'no in-kernel irqchip');
	} else {
		($st, $out, $err) = boot_in("hello irq\n", 2, @hw, '--kernel', $fake, '--append', 'uartirq');
		$diag = "status $st\nstdout:\n$out\nstderr:\n$err";
		# IIR with FIFOs on: 0xc2 THRE, 0xc4 received data (data sheet).
		ok($st == 42 && $out =~ /^fake: thre irq, iir 0{14}c2$/m &&
		   $out =~ /^fake: rx irqs 0{15}[1-9a-f] iir 0{14}c4 data hello irq$/m,
		   "$on: 16550 THRE and RDA interrupts on IRQ 4, stdin reaches the guest", $diag);
		($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'smpboot', '--cpus', '2');
		ok($st == 42 && $out =~ /^fake: ap started$/m,
		   "$on: --cpus 2, AP started by INIT/SIPI, VM ends with it halted",
		   "status $st\nstdout:\n$out\nstderr:\n$err");
	}

	($st, $out, $err) = boot(@hw, '--kernel', $fake, '--append', 'triple');
	if ($hw && $st == 1 && $err =~ /KVM_EXIT_INTERNAL_ERROR suberror 1 .*instruction bytes: cc/) {
		# Recorded in docs/boot.md: PVM emulates the guest's ring 0 and
		# its emulator gives up on an INT3 through an empty IDT.
		skip("$on: triple fault is KVM_EXIT_SHUTDOWN",
		     'the PVM host reports an emulation failure instead (internal error shown)');
	} else {
		ok($st == 1 && $err =~ /guest reset\/shutdown/,
		   "$on: triple fault reports guest reset/shutdown, status 1", "status $st\n$err");
	}

	if (!$hw) {
		($st, $out, $err) = boot('--kernel', $fake, '--append', 'fpui');
		if ($st == 5) {
			skip("$on: KVM_EXIT_INTERNAL_ERROR report", 'x87 is implemented now; FNINIT ran');
		} else {
			ok($st == 1 && $err =~ /KVM_EXIT_INTERNAL_ERROR suberror 1 at rip 0x\w+; instruction bytes: db\b/,
			   "$on: internal error prints suberror and instruction bytes", "status $st\n$err");
		}
	}
}

# Optional: a real kernel (SKVM_BOOT_KERNEL=/path/to/vmlinuz) on the host's
# /dev/kvm must reach the kernel's first console line over our ttyS0.
# Under softkvm it cannot yet (no x87/SSE, no irqchip), so it is not run there.
if (my $vmlinuz = $ENV{SKVM_BOOT_KERNEL}) {
	if ($hw_why) {
		skip('real kernel on the host /dev/kvm', $hw_why);
	} else {
		my ($st, $out, $err) = boot('--hw', '--kernel', $vmlinuz, '--append',
					    'console=ttyS0 earlyprintk=ttyS0', '--mem', '512M');
		ok($out =~ /^(\[ *[0-9.]+\] )?Linux version /m,
		   'real kernel on the host /dev/kvm prints "Linux version" on ttyS0',
		   "status $st\n" . substr($out, 0, 2000) . "\n$err");
	}
}

# The terminal: under script(1) stdin is a pty.  softkvm boot puts it in
# raw mode (Ctrl-C and other control bytes reach the guest's UART, Ctrl-A
# Ctrl-A sends one Ctrl-A), Ctrl-A x quits with status 0, and the pty's
# settings (stty -g) are the same afterwards.  The guests wait for
# interrupts, so this needs softkvm's in-kernel irqchip.
if (!has_irqchip(0)) {
	skip('terminal: raw mode, Ctrl-A x, settings restored', 'softkvm has no in-kernel irqchip');
	skip('terminal: control bytes reach the guest', 'softkvm has no in-kernel irqchip');
} elsif (system('script -V >/dev/null 2>&1') != 0) {
	skip('terminal: raw mode, Ctrl-A x, settings restored', 'no script(1)');
	skip('terminal: control bytes reach the guest', 'no script(1)');
} else {
	my $sh = "stty -g > $tmp/stty.before; $skvm boot --kernel $fake --append %s; " .
		 "echo status=\$?; stty -g > $tmp/stty.after";
	my ($st, $out, $err) = run_in("\x01x", 2, 'script', '-qefc', sprintf($sh, 'halt'), '/dev/null');
	my $same = -s "$tmp/stty.before" && slurp("$tmp/stty.before") eq slurp("$tmp/stty.after");
	ok($st == 0 && $out =~ /softkvm boot: Ctrl-A x: quit/ && $out =~ /^status=0\r?$/m && $same,
	   'terminal: raw mode, Ctrl-A x quits with status 0, terminal settings restored',
	   "status $st\n$out\n$err");
	unlink("$tmp/stty.before", "$tmp/stty.after");
	($st, $out, $err) = run_in("ab\x03\x01\x01cd\n", 2, 'script', '-qefc',
				   sprintf($sh, 'uartirq'), '/dev/null');
	ok($out =~ /fake: rx irqs \w+ iir \w+ data ab\x03\x01cd\r?$/m && $out =~ /^status=42\r?$/m,
	   'terminal: Ctrl-C and Ctrl-A Ctrl-A reach the guest as bytes 3 and 1',
	   "status $st\n$out\n$err");
}

# The real thing: Debian's cloud kernel and the `make run` initramfs
# (tools/boot-image.sh; SKVM_BOOT_KERNEL / SKVM_BOOT_INITRD override) under
# softkvm with 1 and 2 vCPUs must reach /init, see its CPUs and power off.
# Opt-in with SKVM_BOOT_REAL=1 (make check-boot-real): it needs the fetched
# images and a minute or more of CPU per boot.
{
	my $k = $ENV{SKVM_BOOT_KERNEL} || 'build/run/vmlinuz';
	my $i = $ENV{SKVM_BOOT_INITRD} || 'build/run/initramfs.cpio.gz';
	my $disk_img = spew("$tmp/real-disk.img", "\0" x (64 * 1024));
	for my $cpus (1, 2) {
		my $what = "Debian kernel + busybox initramfs, --cpus $cpus, --disk: user space, "
			   . "CPUs and virtio disk seen, 5-level paging (LA57 offered), power-off";
		if (!$ENV{SKVM_BOOT_REAL}) {
			skip($what, 'opt-in (make check-boot-real): needs the Debian kernel that make run '
			     . 'fetches, and a minute of CPU per boot');
			next;
		}
		if (!-f $k || !-f $i) {
			skip($what, "no $k or $i (make run fetches them)");
			next;
		}
		# the 2-vCPU boot also makes hvc0 (the virtio console) the
		# preferred console: the kernel log is replayed there and /init
		# writes a line to /dev/hvc0
		my $hvc = $cpus == 2 ? ' console=hvc0' : '';
		my ($st, $out, $err) = boot('--kernel', $k, '--initrd', $i, '--cpus', $cpus,
					    '--append', "console=ttyS0$hvc quiet panic=-1",
					    '--mem', '256M', '--disk', $disk_img);
		ok($st == 0 && $out =~ /^softkvm-initramfs: user space reached/m &&
		   $out =~ /^softkvm-initramfs: $cpus cpu\(s\)/m &&
		   $out =~ /^softkvm-initramfs: paging 5-level\r?$/m &&
		   $out =~ /^softkvm-initramfs: disk \/dev\/vda, 128 sectors\r?$/m && $out =~ /powering off/ &&
		   (!$hvc || $out =~ /^softkvm-initramfs: hello on hvc0\r?$/m),
		   $what . ($hvc ? ', console=hvc0 (virtio console) output' : ''),
		   "status $st\n" . substr($out, -3000) . "\n$err");
	}
}

# The loader's error paths: a clear message and status 1, before any VM.
my $good = slurp($fake);
my @bad = (
	['missing kernel', ['--kernel', "$tmp/nonexistent"], qr/cannot open kernel/],
	['empty kernel', ['--kernel', spew("$tmp/empty", '')], qr/truncated/],
	['truncated to 100 bytes', ['--kernel', spew("$tmp/t100", substr($good, 0, 100))],
	 qr/truncated .*no setup header/],
	['truncated inside the setup sectors', ['--kernel', spew("$tmp/t768", substr($good, 0, 768))],
	 qr/truncated: setup_sects 1 runs past the end/],
	['truncated payload', ['--kernel', spew("$tmp/t1500", substr($good, 0, 1500))],
	 qr/truncated: syssize says/],
	['bad magic', ['--kernel', "$img/badmagic.bzImage"], qr/not a bzImage \(no "HdrS"/],
	['protocol 2.05', ['--kernel', "$img/oldproto.bzImage"],
	 qr/boot protocol 2\.05; 2\.06 or later is required/],
	['no 64-bit entry', ['--kernel', "$img/no64.bzImage"], qr/no 64-bit entry point/],
	['setup_sects past EOF', ['--kernel', "$img/setupeof.bzImage"],
	 qr/setup_sects 60 runs past the end/],
	['missing initrd', ['--kernel', $fake, '--initrd', "$tmp/nonexistent"], qr/cannot open initrd/],
	['initrd that does not fit', ['--kernel', $fake, '--mem', '4M', '--initrd',
	 spew("$tmp/big", "y" x (3 << 20))], qr/initrd .* does not fit/],
	['command line over cmdline_size', ['--kernel', $fake, '--append', 'a' x 2048],
	 qr/--append is 2048 bytes; this kernel takes at most 2047/],
	['missing disk', ['--kernel', $fake, '--disk', "$tmp/nonexistent"],
	 qr/cannot open disk .* read-write/],
	['empty disk', ['--kernel', $fake, '--disk', spew("$tmp/d0", '')],
	 qr/disk .* is 0 bytes: not a whole, non-zero number of 512-byte sectors/],
	['disk of 1000 bytes', ['--kernel', $fake, '--disk', spew("$tmp/d1000", 'z' x 1000)],
	 qr/disk .* is 1000 bytes: not a whole/],
	['disk that is a directory', ['--kernel', $fake, '--disk', $tmp],
	 qr/cannot open disk|not a regular file or block device/],
);
for my $b (@bad) {
	my ($what, $args, $re) = @$b;
	my ($st, $out, $err) = boot(@$args);
	ok($st == 1 && $err =~ $re && $out eq '', "error: $what -> clear message, status 1",
	   "status $st\nstderr: $err");
}

my ($st, $out, $err) = boot('--append', 'x');
ok($st == 2 && $err =~ /--kernel is required/ && $err =~ /usage:/, 'usage: no --kernel -> status 2',
   "status $st\n$err");
($st, $out, $err) = boot('--kernel', $fake, '--mem', '3X');
ok($st == 2 && $err =~ /bad --mem/, 'usage: bad --mem -> status 2', "status $st\n$err");

($st, $out, $err) = boot('--kernel', $fake, '--cpus', '65');
ok($st == 2 && $err =~ /bad --cpus '65' \(1 to 64\)/, 'usage: --cpus 65 -> status 2', "status $st\n$err");
if (has_irqchip(0)) {
	skip('error: --cpus 2 without an irqchip', 'softkvm has an in-kernel irqchip now');
} else {
	($st, $out, $err) = boot('--kernel', $fake, '--cpus', '2');
	ok($st == 1 && $err =~ /--cpus 2: more vCPUs need an in-kernel irqchip .* no KVM_CAP_IRQCHIP/ &&
	   $out eq '', 'error: --cpus 2 on a back end without an irqchip -> clear message, status 1',
	   "status $st\n$err");
}

done_testing();
