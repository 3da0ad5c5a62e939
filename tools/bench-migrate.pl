#!/usr/bin/perl
# `make bench-migrate`: live migration and snapshots of a 256 MiB busy guest
# (the fake bzImage's csumN: pseudo-random writes over 8 MiB windows of
# 128 MiB, never idle), RUNS times each (default 5), medians and extremes:
#   migrate    --migrate-to unix:... after 1 s: total time and downtime as
#              the source reports them (the vCPU parked to the
#              destination's ack), and the time the vCPU took to stop
#   save       --save after 1.5 s: the time to write the file, its size
#   restore    --restore of that file: the time to a runnable VM; and
#              of the "fill" guest saved after 3 s (222 MiB of data)
#   reset      --snapshot-resets 20 with the "snap" guest (4 MiB dirtied
#              per run): the time of one reset to the snapshot
# Add --hw as a third argument to run the guest on the host's /dev/kvm.
#
#   bench-migrate.pl BUILD_DIR [RUNS] [--hw]
use strict;
use warnings;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::Bin;
use Tap qw(slurp spawn);

my ($build, $runs, $hw) = @ARGV;
die "usage: bench-migrate.pl BUILD_DIR [RUNS] [--hw]\n" unless $build;
$runs ||= 5;
my @hw = $hw ? ('--hw') : ();
my $skvm = "$build/softkvm";
my $kernel = "$build/tests/boot/fake.bzImage";
my $tmp = tempdir(CLEANUP => 1);
my @guest = ('--kernel', $kernel, '--mem', '256M', @hw);

sub start {
	my ($tag, @args) = @_;
	return spawn("$tmp/$tag.out", "$tmp/$tag.err", $skvm, 'boot', @args);
}


# Wait for a line matching $re in $tag's stderr (or the process's end),
# then kill the process: the guest need not run to its end.
sub wait_for {
	my ($pid, $tag, $re, $limit) = @_;
	my $end = time() + $limit;
	my $m;
	while (time() < $end) {
		if (my @g = slurp("$tmp/$tag.err") =~ $re) {
			$m = \@g;
			last;
		}
		last if waitpid($pid, WNOHANG) == $pid;
		sleep(0.05);
	}
	kill('KILL', $pid);
	waitpid($pid, 0);
	return $m;
}

sub stats {
	my @v = sort { $a <=> $b } @_;
	return 'no result' unless @v;
	return sprintf('median %.1f, min %.1f, max %.1f (%d runs)', $v[$#v / 2], $v[0], $v[-1],
		       scalar(@v));
}

my (@fsize, @frestore, @total, @down, @stop, @rounds, @save, @size, @restore, @reset);
for my $i (1 .. $runs) {
	my $sock = "$tmp/m$i.sock";
	my $dst = start("dst$i", '--incoming', "unix:$sock", @hw);
	sleep(0.2);
	my $src = start("src$i", @guest, '--append', 'csum400', '--migrate-to', "unix:$sock",
			'--after', 1);
	my $m = wait_for($src, "src$i",
			 qr/(\d+) pre-copy rounds .* total ([\d.]+) ms, downtime ([\d.]+) ms .* ([\d.]+) ms from the stop request to the first vCPU parked/, 120);
	wait_for($dst, "dst$i", qr/(incoming migration)/, 10);
	if ($m) {
		push @rounds, $m->[0];
		push @total, $m->[1];
		push @down, $m->[2];
		push @stop, $m->[3];
	} else {
		print "migrate run $i: no result: ", slurp("$tmp/src$i.err");
	}
	my $file = "$tmp/s$i.snap";
	my $s = start("save$i", @guest, '--append', 'csum400', '--save', $file, '--after', 1.5);
	$m = wait_for($s, "save$i", qr/saved to \S+: ([\d.]+) MiB in ([\d.]+) ms/, 120);
	if ($m) {
		push @size, $m->[0];
		push @save, $m->[1];
		my $r = start("rest$i", '--restore', $file, @hw);
		$m = wait_for($r, "rest$i", qr/restored \S+: [\d.]+ MiB in ([\d.]+) ms/, 60);
		push @restore, $m->[0] if $m;
	}
	my $full = "$tmp/f$i.snap";
	$s = start("fsave$i", @guest, '--append', 'fill', '--save', $full, '--after', 3);
	$m = wait_for($s, "fsave$i", qr/saved to \S+: ([\d.]+) MiB in ([\d.]+) ms/, 120);
	if ($m) {
		push @fsize, $m->[0];
		my $r = start("frest$i", '--restore', $full, @hw);
		$m = wait_for($r, "frest$i", qr/restored \S+: [\d.]+ MiB in ([\d.]+) ms/, 60);
		push @frestore, $m->[0] if $m;
	}
	unlink($file, $full);
	my $f = start("snap$i", @guest, '--append', 'snap', '--snapshot-resets', 20);
	$m = wait_for($f, "snap$i", qr/resets to the snapshot: ([\d.]+) pages and ([\d.]+) us each/, 60);
	push @reset, $m->[1] if $m;
}
my $on = $hw ? "the host's /dev/kvm" : 'softkvm';
print "256 MiB busy guest on $on, $runs runs:\n";
print "  live migration total (ms):   ", stats(@total), "\n";
print "  live migration downtime (ms): ", stats(@down), "\n";
print "  stop request to parked (ms):  ", stats(@stop), "\n";
print "  pre-copy rounds:              ", stats(@rounds), "\n";
print "  save to file (ms):            ", stats(@save), "; file MiB: ", stats(@size), "\n";
print "  restore from file (ms):       ", stats(@restore), "\n";
print "  restore, 222 MiB filled (ms): ", stats(@frestore), "; file MiB: ", stats(@fsize), "\n";
print "  in-memory reset (us):         ", stats(@reset), "\n";
