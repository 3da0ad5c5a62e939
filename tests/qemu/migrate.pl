#!/usr/bin/perl
# `make check-qemu-migrate`: QEMU 7.2's own live migration with both QEMUs on
# softkvm (`softkvm run -- qemu-system-x86_64 -accel kvm`).  The destination
# is started with `-incoming tcp:127.0.0.1:PORT`; once the source's guest is
# busy (its first round printed) the test sends `migrate` through the
# source's QMP socket, waits for "completed", quits the source, and the
# destination's guest must finish the job and power off.
#
# The guest (tests/qemu/migrate-init.sh, the rdinit of an initramfs appended
# to the `make run` one) runs a chain of rounds over its memory, each
# printing an md5 that depends on every byte it wrote in all earlier rounds;
# this script computes the same chain on the host (an unmigrated
# computation), so the hashes printed before and after the move must equal
# it: a page the dirty log missed, or a stale page, changes a hash.
#
#   SKVM_BUILD=build SKVM_RUN_DIR=build/run prove tests/qemu/migrate.pl
#   SKVM_QEMU_MIGRATE_CONFIGS="pc-on pc-ring"  a subset, by name (default pc-on)
#   SKVM_QEMU_TIMEOUT=SECONDS                  per configuration (default 300)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../tools";
use BootRun;
use Tap qw(slurp);
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX ();
use Time::HiRes qw(time sleep);

my $build = $ENV{SKVM_BUILD} // 'build';
my $rundir = $ENV{SKVM_RUN_DIR} // 'build/run';
my $timeout = $ENV{SKVM_QEMU_TIMEOUT} || 300;
my ($ROUNDS, $MB) = (3, 4);

# name, QEMU options, capability needed (as `softkvm info` names it), what
my @configs = (
	['pc-on', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=on'], undef,
	 'i440FX, in-kernel PIC/IOAPIC/PIT, dirty bitmap'],
	['pc-ring', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=on,dirty-ring-size=4096'],
	 'KVM_CAP_DIRTY_LOG_RING', 'the same with the dirty ring (4096 entries)'],
	['pc-smp2', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=on', '-smp', '2'], undef,
	 'two vCPUs'],
	['pc-split', ['-M', 'pc', '-accel', 'kvm,kernel-irqchip=split'], 'KVM_CAP_SPLIT_IRQCHIP',
	 "split irqchip: LAPIC in softkvm, QEMU's PIC/IOAPIC"],
	['microvm', ['-M', 'microvm', '-accel', 'kvm'], 'KVM_CAP_SPLIT_IRQCHIP',
	 'microvm, its default split irqchip'],
);
my %want = map { $_ => 1 } split ' ', ($ENV{SKVM_QEMU_MIGRATE_CONFIGS} || 'pc-on');
@configs = grep { $want{$_->[0]} } @configs;

# The chain migrate-init.sh computes, computed here.
sub expected_rounds {
	my ($rounds, $mb) = @_;
	my ($h, @f, @out) = ('softkvm');
	for my $i (1 .. $rounds) {
		my $s = "$h $i\n";
		my $n = $mb * 1048576;
		$f[$i % 4] = substr($s x (int($n / length($s)) + 1), 0, $n);
		$h = md5_hex(join '', map { $f[$_] // '' } 0 .. 3);
		push @out, "round $i $h";
	}
	return @out;
}

# An uncompressed newc cpio holding FILE as /NAME (mode 0755); the kernel
# unpacks it after the gzip'd `make run` archive it is appended to.
sub cpio_with {
	my ($name, $data) = @_;
	my $out = '';
	my $ino = 1;
	my $entry = sub {
		my ($n, $mode, $body) = @_;
		$out .= sprintf('070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X',
			$ino++, $mode, 0, 0, 1, 0, length($body), 0, 0, 0, 0, length($n) + 1, 0);
		$out .= "$n\0";
		$out .= "\0" x ((4 - length($out) % 4) % 4);
		$out .= $body;
		$out .= "\0" x ((4 - length($out) % 4) % 4);
	};
	$entry->($name, 0100755, $data);
	$entry->('TRAILER!!!', 0, '');
	return $out;
}



# Start CMD in its own process group, stdin /dev/null, output into FILE.
sub start {
	my ($file, @cmd) = @_;
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		POSIX::setpgid(0, 0);
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $file);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	return $pid;
}

sub reap {
	my ($pid, $until) = @_;
	while (time < $until) {
		my $r = waitpid($pid, POSIX::WNOHANG());
		return $? if $r == $pid;
		sleep 0.2;
	}
	if ($ENV{SKVM_QEMU_MIGRATE_GDB}) {	# a hung run: every thread's stack first
		# and softkvm's view of the vCPUs (LAPIC, timer, PV EOI, events)
		my $f = "$ENV{SKVM_QEMU_MIGRATE_GDB}.$pid";
		system("gdb -p $pid -batch -ex 'thread apply all bt' " .
		       "-ex 'call (void)skvm_debug_dump(\"$f.vcpus\")' >$f 2>&1");
	}
	kill('KILL', -$pid);
	waitpid($pid, 0);
	return undef;
}

# A QMP connection: connect (retrying until DEADLINE), read the greeting,
# qmp_capabilities.  cmd() sends one command and returns its "return" text
# or dies with the error; events in between are skipped.
sub qmp_open {
	my ($path, $deadline) = @_;
	my $s;
	while (!($s = IO::Socket::UNIX->new(Peer => $path))) {
		die "no QMP socket at $path: $!\n" if time > $deadline;
		sleep 0.2;
	}
	my $q = {s => $s, buf => ''};
	qmp_line($q, $deadline) =~ /"QMP"/ or die "no QMP greeting\n";
	qmp_cmd($q, '{"execute":"qmp_capabilities"}', $deadline);
	return $q;
}

sub qmp_line {
	my ($q, $deadline) = @_;
	for (;;) {
		return $1 if $q->{buf} =~ s/^([^\n]*)\n//;
		my $left = $deadline - time;
		die "QMP: no answer in time\n" if $left <= 0;
		my $rin = '';
		vec($rin, fileno($q->{s}), 1) = 1;
		next if select($rin, undef, undef, $left > 1 ? 1 : $left) <= 0;
		my $got = sysread($q->{s}, my $chunk, 65536);
		die "QMP: connection closed\n" if !$got;
		$q->{buf} .= $chunk;
	}
}

sub qmp_cmd {
	my ($q, $json, $deadline) = @_;
	syswrite($q->{s}, "$json\n");
	for (;;) {
		my $l = qmp_line($q, $deadline);
		next if $l =~ /^\{"timestamp"|"event"/;
		return $l if $l =~ /"return"/;
		die "QMP $json: $l\n";
	}
}

sub free_port {
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
				       Proto => 'tcp') or die "socket: $!";
	my $p = $s->sockport;
	close($s);
	return $p;
}

sub rounds_of {
	my ($out) = @_;
	return map { s/\r//r } ($out =~ /softkvm-qm: (round \d+ \w+)/g);
}

print "1..", scalar(@configs), "\n";
my $skip_all = BootRun::qemu_skip_reason($rundir);
my %caps = $skip_all ? () : BootRun::softkvm_caps($build);
my $tmp = tempdir(CLEANUP => 1);
my @expect = expected_rounds($ROUNDS, $MB);
if (!$skip_all) {
	open(my $f, '>', "$tmp/initrd") or die;
	my $base = slurp("$rundir/initramfs.cpio.gz");
	# the kernel looks for the next archive at a multiple of 4 bytes (zeros
	# between archives are skipped)
	print $f $base, "\0" x ((4 - length($base) % 4) % 4);
	print $f cpio_with('qm-init', slurp("$FindBin::Bin/migrate-init.sh"));
	close($f);
}
my $n = 0;
for my $c (@configs) {
	my ($name, $opts, $cap, $what) = @$c;
	$n++;
	next if BootRun::skip_config($n, $name, $cap, $skip_all, \%caps);
	my $t0 = time;
	my $deadline = $t0 + $timeout;
	my $port = free_port();
	my @q = ("$build/softkvm", 'run', '--', 'qemu-system-x86_64', '-m', $BootRun::MEM,
		'-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
		'-kernel', "$rundir/vmlinuz", '-initrd', "$tmp/initrd",
		'-append', "console=ttyS0 panic=-1 quiet rdinit=/qm-init qm.rounds=$ROUNDS qm.mb=$MB",
		@$opts);
	my $dst = start("$tmp/$name.dst", @q, '-qmp', "unix:$tmp/$name.dqmp,server=on,wait=off",
		'-incoming', "tcp:127.0.0.1:$port");
	my $src = start("$tmp/$name.src", @q, '-qmp', "unix:$tmp/$name.sqmp,server=on,wait=off");
	my ($err, $info, $t_mig, $t_done, $st_src, $st_dst) = ('', '');
	eval {
		my $dq = qmp_open("$tmp/$name.dqmp", $deadline);
		my $sq = qmp_open("$tmp/$name.sqmp", $deadline);
		# busy: the first round is out, the rest are still to come
		while (slurp("$tmp/$name.src") !~ /softkvm-qm: round 1 /) {
			die "the source's guest printed no round in time\n" if time > $deadline;
			die "the source ended before its first round\n"
				if waitpid($src, POSIX::WNOHANG()) == $src;
			sleep 0.2;
		}
		$t_mig = time;
		qmp_cmd($sq, '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1073741824}}',
			$deadline);
		qmp_cmd($sq, qq({"execute":"migrate","arguments":{"uri":"tcp:127.0.0.1:$port"}}), $deadline);
		for (;;) {
			my $r = qmp_cmd($sq, '{"execute":"query-migrate"}', $deadline);
			my ($status) = $r =~ /"status": *"([\w-]+)"/;
			if (($status // '') eq 'completed') {
				$t_done = time;
				my %v = map { $_ => ($r =~ /"$_": *(\d+)/)[0] // '?' }
					qw(total-time downtime dirty-sync-count transferred);
				$info = sprintf('%s ms total, %s ms downtime, %s dirty syncs, %.1f MiB',
					$v{'total-time'}, $v{downtime}, $v{'dirty-sync-count'},
					$v{transferred} =~ /^\d+$/ ? $v{transferred} / 1048576 : 0);
				last;
			}
			die "migration $status: $r\n" if ($status // '') =~ /failed|cancelled/;
			sleep 0.2;
		}
		my $r = qmp_cmd($dq, '{"execute":"query-status"}', $deadline);
		$r =~ /"running": *true/ or die "destination not running after the migration: $r\n";
		eval { qmp_cmd($sq, '{"execute":"quit"}', $deadline) };
		close($sq->{s});
		close($dq->{s});
	};
	$err = $@;
	$st_src = reap($src, $err ? time : $deadline);
	$st_dst = reap($dst, $err ? time : $deadline);
	my ($so, $do) = (slurp("$tmp/$name.src"), slurp("$tmp/$name.dst"));
	my @got = (rounds_of($so), rounds_of($do));
	my @after = rounds_of($do);
	my @why;
	push @why, $err =~ s/\n$//r if $err;
	push @why, 'the destination was killed at the time limit' if !$err && !defined $st_dst;
	push @why, sprintf('the destination exited with status %d', $st_dst >> 8)
		if !$err && defined $st_dst && $st_dst != 0;
	push @why, 'the destination never woke from a 1 s sleep' if !$err && $do !~ /softkvm-qm: slept 1 s/;
	push @why, 'no power-off on the destination' if !$err && $do !~ $BootRun::END;
	push @why, 'the migration came after the last round (not mid-run)'
		if !$err && !@after;
	push @why, "rounds (source then destination) differ from the host's:\n  got:    " .
		join("\n          ", @got) . "\n  wanted: " . join("\n          ", @expect)
		if !$err && "@got" ne "@expect";
	if (!@why) {
		printf "ok %d - %s: migrated %.1f s in (after round %d of %d), %s; the destination printed %d rounds equal to the host's and powered off at %.1f s (%s)\n",
			$n, $name, $t_mig - $t0, @got - @after, $ROUNDS, $info, scalar(@after),
			time - $t0, $what;
		next;
	}
	print "not ok $n - $name: $what\n";
	print map { "#   $_\n" } map { split /\n/ } @why;
	for (['source', $so], ['destination', $do]) {
		my ($who, $out) = @$_;
		my @tail = grep { defined } (split /\r?\n/, $out)[-12 .. -1];
		print "#   $who:\n", map { "#   | $_\n" } @tail;
	}
}
