#!/usr/bin/perl
# `make check-qemu`: QEMU 7.2 with -accel kvm, its /dev/kvm served by
# softkvm (`softkvm run`), boots the `make run` guest (Debian's cloud kernel
# and the busybox initramfs, tools/boot-image.sh) in each configuration
# below; each must print the initramfs's user-space line and power off
# (QEMU exits 0 after -no-reboot's power-off) within the per-boot limit.
#
#   SKVM_BUILD=build SKVM_RUN_DIR=build/run prove tests/qemu/boot.pl
#   SKVM_QEMU_CONFIGS="pc-on pc-off"  a subset, by name (default: all)
#   SKVM_QEMU_TIMEOUT=SECONDS         per boot (default 240)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../tools";
use BootRun;

my $build = $ENV{SKVM_BUILD} // 'build';
my $rundir = $ENV{SKVM_RUN_DIR} // 'build/run';
my $timeout = $ENV{SKVM_QEMU_TIMEOUT} || 240;

# name, QEMU options, capability the configuration needs (KVM_CAP_* name as
# `softkvm info` prints it), what it covers
my @configs = (
	['pc-on', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=on'], undef,
	 'i440FX + SeaBIOS, in-kernel PIC/IOAPIC/PIT'],
	['pc-off', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=off'], undef,
	 "i440FX + SeaBIOS, QEMU's own PIC/IOAPIC/PIT/LAPIC (KVM_INTERRUPT)"],
	['pc-smp2', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=on', '-smp', '2'], undef,
	 'two vCPUs, the AP started by INIT/SIPI through the in-kernel LAPIC'],
	['microvm-on', ['-M', 'microvm', '-accel', 'kvm,kernel-irqchip=on'], undef,
	 'microvm (qboot, no PCI, ACPI on), in-kernel irqchip'],
	['microvm', ['-M', 'microvm', '-accel', 'kvm'], 'KVM_CAP_SPLIT_IRQCHIP',
	 "microvm's default: kernel-irqchip=split"],
	['pc-split', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=split'], 'KVM_CAP_SPLIT_IRQCHIP',
	 "split irqchip: LAPIC in softkvm, QEMU's PIC/IOAPIC"],
	['pc-off-smp2', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=off', '-smp', '2'], undef,
	 "two vCPUs, the AP started by INIT/SIPI through QEMU's own LAPIC"],
);

# A configuration the installed QEMU itself cannot boot, on any KVM: QEMU
# 7.2.22 took upstream df32e5c568c9 ("Prevent delivering SIPI during SMM in
# TCG mode": apic_sipi no longer clears CPU_INTERRUPT_SIPI) without its fix
# d5e1d2dea11b ("target/i386: clear CPU_INTERRUPT_SIPI for all
# accelerators", QEMU issue 3178).  With QEMU's own LAPIC the AP's SIPI bit
# then stays set for good; once the AP halts, its thread loops in
# kvm_cpu_exec -> kvm_arch_process_async_events -> apic_sipi holding the BQL
# and the BSP never runs again (the host's /dev/kvm hangs the same way;
# docs/boot.md).  Returns the reason to skip, or undef.
sub qemu_blocker {
	my ($name) = @_;
	return undef if $name ne 'pc-off-smp2';
	my $v = `qemu-system-x86_64 --version 2>/dev/null` // '';
	return undef if $v !~ /version 7\.2\.22\b/;
	my $log = '/usr/share/doc/qemu-system-x86/changelog.Debian.gz';
	return undef if -r $log && `zcat $log 2>/dev/null` =~ /clear CPU_INTERRUPT_SIPI for all accelerators/;
	return 'QEMU 7.2.22 never clears CPU_INTERRUPT_SIPI with its own LAPIC ' .
		'(lacks upstream d5e1d2dea11b, QEMU issue 3178): hangs on any KVM';
}
if (my $want = $ENV{SKVM_QEMU_CONFIGS}) {
	my %w = map { $_ => 1 } split ' ', $want;
	@configs = grep { $w{$_->[0]} } @configs;
}

print "1..", scalar(@configs), "\n";
my $skip_all = BootRun::qemu_skip_reason($rundir);
my %caps = $skip_all ? () : BootRun::softkvm_caps($build);
my $n = 0;
for my $c (@configs) {
	my ($name, $opts, $cap, $what) = @$c;
	$n++;
	next if BootRun::skip_config($n, $name, $cap, $skip_all, \%caps);
	if (my $why = qemu_blocker($name)) {
		print "ok $n - $name # skip $why\n";
		next;
	}
	my @cmd = ("$build/softkvm", 'run', '--', BootRun::qemu_cmd($rundir), @$opts);
	my $r = BootRun::run_timed(\@cmd, $timeout);
	my $ok = defined $r->{first} && defined $r->{off} && $r->{status} == 0;
	if ($ok) {
		printf "ok %d - %s: user space after %.1f s, powered off after %.1f s (%s)\n",
			$n, $name, $r->{first}, $r->{off}, $what;
		next;
	}
	printf "not ok %d - %s: %s\n", $n, $name, $what;
	printf "#   %s after %.1f s (%s); last line: %s\n",
		defined $r->{first} ? 'user space reached, no power-off' : 'no user space',
		$r->{elapsed}, $r->{timeout} ? "killed at the ${timeout} s limit" :
		sprintf('status %d', $r->{status} >> 8), BootRun::last_line($r->{output});
	my @tail = (split /\r?\n/, $r->{output})[-15 .. -1];
	print map { defined $_ ? "#   | $_\n" : () } @tail;
}
