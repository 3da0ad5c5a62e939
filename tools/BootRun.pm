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
# status; killed: SIGKILL), timeout (1 if it was killed), elapsed, output.
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
	my $rin = '';
	vec($rin, fileno($r), 1) = 1;
	for (;;) {
		my $left = $timeout - (time - $t0);
		if ($left <= 0) {
			kill('KILL', -$pid);
			$killed = 1;
			last;
		}
		my $n = select(my $rout = $rin, undef, undef, $left < 0.5 ? $left : 0.5);
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
		status => $st, timeout => $killed, elapsed => $t_exit, output => $buf};
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

1;
