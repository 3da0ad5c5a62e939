#!/usr/bin/perl
# `make bench-boot`: how long the `make run` guest (tools/boot-image.sh) takes
# from process start to the initramfs's first line and to power-off, for
#   softkvm boot       our VMM on softkvm
#   qemu+softkvm       QEMU 7.2 -accel kvm, its /dev/kvm served by softkvm
#   qemu tcg           QEMU 7.2's own translator (the yardstick)
# RUNS runs each (default 5); medians, and each one's ratio to QEMU TCG.
# Peak memory: the largest resident set seen in the runs, whole and beside
# the guest RAM mapping (BootRun::rss_sample).
# A configuration that does not reach user space is reported with its
# status and last output line instead of a time.
#
#   bench-boot.pl BUILD_DIR RUN_DIR [RUNS] [TIMEOUT_SECONDS]
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use BootRun;

my ($build, $rundir, $runs, $timeout) = @ARGV;
die "usage: bench-boot.pl BUILD_DIR RUN_DIR [RUNS] [TIMEOUT]\n" unless $rundir;
$runs ||= 5;
$timeout ||= 120;
my $kernel = "$rundir/vmlinuz";
my $initrd = "$rundir/initramfs.cpio.gz";
my $mem = $BootRun::MEM;

my @qemu = BootRun::qemu_cmd($rundir);
my @configs = (
	['softkvm boot', ["$build/softkvm", 'boot', '--kernel', $kernel, '--initrd', $initrd,
			  '--append', $BootRun::APPEND, '--mem', "${mem}M"]],
	['qemu+softkvm', ["$build/softkvm", 'run', '--', @qemu, '-M', 'pc', '-accel', 'kvm']],
	['qemu tcg', [@qemu, '-M', 'pc', '-accel', 'tcg']],
);

sub median {
	my @s = sort { $a <=> $b } @_;
	return $s[$#s / 2] if @s % 2;
	return ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

my %res;
for my $c (@configs) {
	my ($name, $cmd) = @$c;
	my (@f, @o, $fail, $rss, $other);
	for my $i (1 .. $runs) {
		my $r = BootRun::run_timed($cmd, $timeout);
		if (!defined $r->{first} || !defined $r->{off}) {
			my $st = $r->{status};
			$fail = sprintf('did not %s (%s after %.1f s); last line: %s',
					defined $r->{first} ? 'power off' : 'reach user space',
					$r->{timeout} ? 'timed out' : sprintf('status %d%s', $st >> 8,
					$st & 127 ? ", signal " . ($st & 127) : ''),
					$r->{elapsed}, substr(BootRun::last_line($r->{output}), 0, 160));
			last;
		}
		push @f, $r->{first};
		push @o, $r->{off};
		$rss = $r->{rss} if !defined $rss || $r->{rss} > $rss;
		$other = $r->{rss_other} if !defined $other || $r->{rss_other} > $other;
	}
	$res{$name} = $fail ? { fail => $fail } : { first => median(@f), off => median(@o),
					       rss => $rss, other => $other };
}

my $tcg = $res{'qemu tcg'};
printf "bench-boot: %s + %s, %d MiB, %d runs, medians\n", $kernel, $initrd, $mem, $runs;
printf "%-14s %12s %12s %10s %12s %14s\n", 'config', 'first line', 'power-off', 'vs tcg',
	'peak RSS', 'beside guest';
for my $c (@configs) {
	my $name = $c->[0];
	my $r = $res{$name};
	if ($r->{fail}) {
		printf "%-14s %s\n", $name, $r->{fail};
		next;
	}
	my $ratio = $tcg && !$tcg->{fail} ? sprintf('%.2fx', $r->{off} / $tcg->{off}) : '-';
	printf "%-14s %10.2f s %10.2f s %10s %8.0f MiB %10.0f MiB\n", $name, $r->{first}, $r->{off},
		$ratio, $r->{rss}, $r->{other};
}
