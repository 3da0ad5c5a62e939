# TAP output and small process helpers shared by the Perl test scripts
# (tests/boot/*.pl, tests/qemu/migrate.pl, tests/tools/cli.pl) and
# tools/bench-migrate.pl.
package Tap;
use strict;
use warnings;
use Exporter 'import';
use POSIX ();

our @EXPORT = qw(ok skip done_testing tests_failed slurp spawn);

my $n = 0;
my $failed = 0;

# ok(COND, WHAT[, DIAG]): one test line; DIAG is shown when it fails.
# Prototyped, so a failed match in the condition stays one (false) argument.
sub ok($$;$) {
	my ($cond, $what, $diag) = @_;
	$n++;
	print(($cond ? "ok" : "not ok"), " $n - $what\n");
	if (!$cond) {
		$failed++;
		print map { "#   $_\n" } split /\n/, $diag if defined $diag;
	}
	return $cond;
}

sub skip {
	my ($what, $why) = @_;
	$n++;
	print "ok $n - $what # SKIP $why\n";
}

# The plan line, after the last test.
sub done_testing {
	print "1..$n\n";
}

sub tests_failed {
	return $failed;
}

# A file's content ('' if it cannot be read).
sub slurp {
	my ($path) = @_;
	local $/;
	open(my $f, '<:raw', $path) or return '';
	return scalar(<$f> // '');
}

# Run CMD in the background, stdin /dev/null, stdout into OUT and stderr
# into ERR (ERR undef: with stdout).  Returns the pid.
sub spawn {
	my ($out, $err, @cmd) = @_;
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		open(STDIN, '<', '/dev/null') or die;
		open(STDOUT, '>', $out) or die "$out: $!";
		if (defined $err) {
			open(STDERR, '>', $err) or die "$err: $!";
		} else {
			open(STDERR, '>&', \*STDOUT) or die;
		}
		exec(@cmd) or POSIX::_exit(127);
	}
	return $pid;
}

1;
