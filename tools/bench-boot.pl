#!/usr/bin/perl
# `make bench-boot`: how long the `make run` guest (tools/boot-image.sh) takes
# from process start to the initramfs's first line and to power-off, for
#   softkvm boot       our VMM on softkvm
#   qemu+softkvm       QEMU 7.2 -accel kvm, its /dev/kvm served by softkvm
#   qemu tcg           QEMU 7.2's own translator (the yardstick)
# RUNS runs each (default 5); medians, and each one's ratio to QEMU TCG.
# A configuration that does not reach user space is reported with its
# status and last output line instead of a time.
#
#   bench-boot.pl BUILD_DIR RUN_DIR [RUNS] [TIMEOUT_SECONDS]
use strict;
use warnings;
use Time::HiRes qw(time);

my ($build, $rundir, $runs, $timeout) = @ARGV;
die "usage: bench-boot.pl BUILD_DIR RUN_DIR [RUNS] [TIMEOUT]\n" unless $rundir;
$runs ||= 5;
$timeout ||= 120;
my $kernel = "$rundir/vmlinuz";
my $initrd = "$rundir/initramfs.cpio.gz";
my $append = 'console=ttyS0 quiet panic=-1';	# as tools/run.sh
my $mem = 256;
my $first = qr/softkvm-initramfs: user space reached/;
my $end = qr/softkvm-initramfs: powering off/;

my @qemu = ('qemu-system-x86_64', '-m', $mem, '-nographic', '-no-reboot', '-nodefaults',
	    '-serial', 'stdio', '-kernel', $kernel, '-initrd', $initrd, '-append', $append);
my @configs = (
	['softkvm boot', ["$build/softkvm", 'boot', '--kernel', $kernel, '--initrd', $initrd,
			  '--append', $append, '--mem', "${mem}M"]],
	['qemu+softkvm', ["$build/softkvm", 'run', '--', @qemu, '-accel', 'kvm']],
	['qemu tcg', [@qemu, '-accel', 'tcg']],
);

# One run: (time to the first line, time to exit, status, last line).
sub one {
	my ($cmd) = @_;
	pipe(my $r, my $w) or die "pipe: $!";
	my $t0 = time;
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		close($r);
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>&', $w);
		open(STDERR, '>&', $w);
		exec(@$cmd) or exit 127;
	}
	close($w);
	my ($buf, $t_first, $t_off) = ('', undef, undef);
	my $rin = '';
	vec($rin, fileno($r), 1) = 1;
	while (time - $t0 < $timeout) {
		my $n = select(my $rout = $rin, undef, undef, 0.5);
		next if $n <= 0;
		my $got = sysread($r, my $chunk, 65536);
		last if !$got;
		$buf .= $chunk;
		$t_first //= time - $t0 if $buf =~ $first;
		$t_off //= time - $t0 if $buf =~ $end;
	}
	# EOF: the child is exiting; a timeout: it is killed.
	kill('KILL', $pid) if time - $t0 >= $timeout;
	waitpid($pid, 0);
	my $st = $?;
	my $t_exit = time - $t0;
	close($r);
	my @lines = grep { /\S/ } split /\r?\n/, $buf;
	my $last = @lines ? $lines[-1] : '(no output)';
	$last =~ s/\e\[[0-9;?]*[a-zA-Z]//g;
	return ($t_first, defined $t_off ? $t_exit : undef, $st, $last, $t_exit);
}

sub median {
	my @s = sort { $a <=> $b } @_;
	return $s[$#s / 2] if @s % 2;
	return ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

my %res;
for my $c (@configs) {
	my ($name, $cmd) = @$c;
	my (@f, @o, $fail);
	for my $i (1 .. $runs) {
		my ($tf, $to, $st, $last, $te) = one($cmd);
		if (!defined $tf || !defined $to) {
			$fail = sprintf('did not %s (status %d%s after %.1f s); last line: %s',
					defined $tf ? 'power off' : 'reach user space',
					$st >> 8, $st & 127 ? ", signal " . ($st & 127) : '',
					$te, substr($last, 0, 160));
			last;
		}
		push @f, $tf;
		push @o, $to;
	}
	$res{$name} = $fail ? { fail => $fail } : { first => median(@f), off => median(@o) };
}

my $tcg = $res{'qemu tcg'};
printf "bench-boot: %s + %s, %d MiB, %d runs, medians\n", $kernel, $initrd, $mem, $runs;
printf "%-14s %12s %12s %10s\n", 'config', 'first line', 'power-off', 'vs tcg';
for my $c (@configs) {
	my $name = $c->[0];
	my $r = $res{$name};
	if ($r->{fail}) {
		printf "%-14s %s\n", $name, $r->{fail};
		next;
	}
	my $ratio = $tcg && !$tcg->{fail} ? sprintf('%.2fx', $r->{off} / $tcg->{off}) : '-';
	printf "%-14s %10.2f s %10.2f s %10s\n", $name, $r->{first}, $r->{off}, $ratio;
}
