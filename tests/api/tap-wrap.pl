#!/usr/bin/perl
# See tap-wrap.sh.  Environment: SKVM_BUILD (build dir), SKVM_NO_HOST=1 to skip
# the host backend.
use strict;
use warnings;
use File::Basename;

my $test = shift or die "usage: tap-wrap.sh TEST\n";
my $name = basename($test);
my $build = $ENV{SKVM_BUILD} || 'build';
my $dir = dirname($0);

sub run_capture {
	my @cmd = @_;
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if (!$pid) {
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or exit 127;
	}
	my @lines = <$fh>;
	close($fh);
	return ($? , @lines);
}

sub parse {
	my @lines = @_;
	my (@checks, %obs, @diag);
	for (@lines) {
		chomp;
		if (/^(not )?ok \d+ - (.*)$/) {
			push @checks, [!defined $1, $2];
		} elsif (/^# obs ([^=]+)=(.*)$/) {
			$obs{$1} = $2;
		} elsif (/^Bail out!(.*)/) {
			push @checks, [0, "bail out:$1"];
		} elsif (/^#   /) {
			push @diag, $_;
			$checks[-1][2] .= "$_\n" if @checks;
		}
	}
	return (\@checks, \%obs);
}

my %dev;
# SKVM_DEVIATIONS: a further list, for suites kept outside tests/api.
for my $f (grep { defined } "$dir/host-deviations.txt", $ENV{SKVM_DEVIATIONS}) {
	open(my $d, '<', $f) or next;
	while (<$d>) {
		chomp;
		next if /^\s*(#|$)/;
		my ($t, $check, $why) = split /\t+/, $_, 3;
		$dev{"$t\t$check"} = $why // 'known host deviation';
	}
}

my $n = 0;
my $out = '';
sub tap {
	my ($ok, $desc, $diag) = @_;
	$n++;
	$out .= ($ok ? "ok" : "not ok") . " $n - $desc\n";
	$out .= $diag if $diag && !$ok;
}

# SKVM_RUNNER: the test is data (a guest image) for this client program.
my @cmd = $ENV{SKVM_RUNNER} ? ($ENV{SKVM_RUNNER}, $test) : ($test);
my ($skrc, @sk) = run_capture("$build/softkvm", 'run', '--', @cmd);
my ($skc, $sko) = parse(@sk);
tap($_->[0], "softkvm: $_->[1]", $_->[2]) for @$skc;
tap($skrc == 0 || @$skc && scalar(grep { !$_->[0] } @$skc), "softkvm: exit status " . ($skrc >> 8) . ($skrc & 127 ? " signal " . ($skrc & 127) : ""));
tap(0, "softkvm: the test made no checks") unless @$skc;

my $host = !$ENV{SKVM_NO_HOST} && -r '/dev/kvm' && -w '/dev/kvm';
if ($host) {
	my ($hrc, @h) = run_capture(@cmd);
	my ($hc, $ho) = parse(@h);
	for (@$hc) {
		my ($ok, $desc, $diag) = @$_;
		# "not implemented" TODOs are for softkvm only: the host must pass.
		$desc =~ s/ # TODO .*//;
		my $why = $dev{"$name\t$desc"};
		if (!$ok && defined $why) {
			$n++;
			$out .= "ok $n - host: $desc # SKIP known host deviation: $why\n";
		} else {
			tap($ok, "host: $desc", $diag);
		}
	}
	for my $k (sort keys %$sko) {
		my $why = $dev{"$name\tobs $k"};
		if (!exists $ho->{$k}) {
			tap(0, "backends agree: host did not report $k");
		} elsif ($sko->{$k} ne $ho->{$k} && defined $why) {
			$n++;
			$out .= "ok $n - backends agree on $k # SKIP known host deviation: $why\n";
		} else {
			tap($sko->{$k} eq $ho->{$k}, "backends agree on $k",
			    "#   softkvm: $sko->{$k}\n#   host:    $ho->{$k}\n");
		}
	}
} else {
	$out .= "# no usable /dev/kvm here: softkvm only\n";
}
print $out, "1..$n\n";
