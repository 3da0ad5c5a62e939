# Shared by tools/bench-boot.pl and tests/qemu/boot.pl: the `make run` guest
# (tools/boot-image.sh) under QEMU and a timed run that watches its output.
package BootRun;
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time);

our $APPEND = 'console=ttyS0 quiet panic=-1';	# as tools/run.sh without a terminal
our $MEM = 256;					# MiB
our $FIRST = qr/softkvm-initramfs: user space reached/;
our $END = qr/softkvm-initramfs: powering off/;

# QEMU's command line for the guest in RUN_DIR (no -accel, no -M).
sub qemu_cmd {
	my ($rundir) = @_;
	return ('qemu-system-x86_64', '-m', $MEM, '-nographic', '-no-reboot', '-nodefaults',
		'-serial', 'stdio', '-kernel', "$rundir/vmlinuz",
		'-initrd', "$rundir/initramfs.cpio.gz", '-append', $APPEND);
}

# Run CMD (stdin /dev/null, stdout and stderr collected) for at most TIMEOUT
# seconds.  Returns a hash: first (seconds to the initramfs's first line),
# off (seconds to exit, if it printed its power-off line), status (wait
# status; killed: SIGKILL), timeout (1 if it was killed), elapsed, output,
# and peak memory sampled from /proc about every 0.2 s: rss (resident set,
# MiB) and rss_other (the same without the guest RAM mapping, see below).
sub run_timed {
	my ($cmd, $timeout) = @_;
	pipe(my $r, my $w) or die "pipe: $!";
	my $t0 = time;
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		close($r);
		POSIX::setpgid(0, 0);	# its own group: a timeout ends all of it
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>&', $w);
		open(STDERR, '>&', $w);
		exec(@$cmd) or POSIX::_exit(127);
	}
	close($w);
	my ($buf, $t_first, $t_off, $killed) = ('', undef, undef, 0);
	my ($rss, $rss_other) = (0, 0);
	my $rin = '';
	vec($rin, fileno($r), 1) = 1;
	for (;;) {
		my $left = $timeout - (time - $t0);
		if ($left <= 0) {
			kill('KILL', -$pid);
			$killed = 1;
			last;
		}
		if (my ($all, $guest) = rss_sample($pid)) {
			$rss = $all if $all > $rss;
			$rss_other = $all - $guest if $all - $guest > $rss_other;
		}
		my $n = select(my $rout = $rin, undef, undef, $left < 0.2 ? $left : 0.2);
		next if $n <= 0;
		my $got = sysread($r, my $chunk, 65536);
		last if !$got;
		$buf .= $chunk;
		$t_first //= time - $t0 if $buf =~ $FIRST;
		$t_off //= 1 if $buf =~ $END;
	}
	waitpid($pid, 0);
	my $st = $?;
	my $t_exit = time - $t0;
	close($r);
	return {first => $t_first, off => defined $t_off && !$killed ? $t_exit : undef,
		status => $st, timeout => $killed, elapsed => $t_exit, output => $buf,
		rss => $rss / 1024, rss_other => $rss_other / 1024};
}

# PID's resident memory in KiB: all of it, and that of its guest RAM, taken
# as the mappings of the guest's size (MEM MiB, up to 4 MiB more for
# alignment and guard pages: QEMU's pc.ram, softkvm boot's memory).  Empty
# when /proc/PID/smaps is gone or unreadable.
sub rss_sample {
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/smaps") or return ();
	my ($all, $guest, $size) = (0, 0, 0);
	my ($lo, $hi) = ($MEM * 1024, ($MEM + 4) * 1024);
	while (my $l = <$f>) {
		if ($l =~ /^Size:\s+(\d+)/) {
			$size = $1;
		} elsif ($l =~ /^Rss:\s+(\d+)/) {
			$all += $1;
			$guest += $1 if $size >= $lo && $size <= $hi;
		}
	}
	return $all ? ($all, $guest) : ();
}

# The last non-empty line of a run's output, terminal escapes removed.
sub last_line {
	my ($out) = @_;
	my @lines = grep { /\S/ } split /\r?\n/, $out;
	my $last = @lines ? $lines[-1] : '(no output)';
	$last =~ s/\e\[[0-9;?]*[a-zA-Z]//g;
	$last =~ s/\e[c=>]//g;
	return $last;
}

# For the QEMU tests (tests/qemu/): why none of them can run here (QEMU or
# the guest images in RUN_DIR missing), or undef.
sub qemu_skip_reason {
	my ($rundir) = @_;
	my $qemu = grep { -x "$_/qemu-system-x86_64" } split /:/, $ENV{PATH} // '';
	return 'qemu-system-x86_64 is not installed (tools/deps.sh qemu installs it)' if !$qemu;
	return "no guest images in $rundir (make build/run/stamp fetches them)"
		if !-r "$rundir/vmlinuz" || !-r "$rundir/initramfs.cpio.gz";
	return undef;
}

# The capabilities `softkvm info` of BUILD reports: KVM_CAP_* name => value.
sub softkvm_caps {
	my ($build) = @_;
	my %caps;
	for (`$build/softkvm info 2>/dev/null`) {
		$caps{$1} = $2 if /^\s*(KVM_CAP_\w+)\D*(\d+)/;
	}
	return %caps;
}

# A configuration NAME (TAP test N) that needs capability CAP: print its
# skip line and return 1 if it cannot run (SKIP_ALL: qemu_skip_reason's).
sub skip_config {
	my ($n, $name, $cap, $skip_all, $caps) = @_;
	my $why = $skip_all // ($cap && !$caps->{$cap} ? "softkvm does not offer $cap" : undef);
	return 0 if !defined $why;
	print "ok $n - $name # skip $why\n";
	return 1;
}

1;
