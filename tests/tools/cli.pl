#!/usr/bin/perl
# The softkvm command: usage and exit codes, `info` and `info --json`, and
# `run` (environment, exit status, exec, the side-by-side device path).
#
#   SKVM_BUILD=build prove tests/tools/cli.pl      (or: perl tests/tools/cli.pl)
use strict;
use warnings;
use File::Basename;
use File::Temp qw(tempdir);
use JSON::PP;
use FindBin;
use lib "$FindBin::Bin/../../tools";
use Tap;

my $build = $ENV{SKVM_BUILD} || 'build';
my $skvm = "$build/softkvm";
my $dir = dirname($0);


# Run a command; return (exit status, stdout, stderr).
sub run {
	my @cmd = @_;
	my $tmp = tempdir(CLEANUP => 1);
	my $pid = fork() // die "fork: $!";
	if (!$pid) {
		open(STDOUT, '>', "$tmp/out") or die;
		open(STDERR, '>', "$tmp/err") or die;
		exec(@cmd) or exit 126;
	}
	waitpid($pid, 0);
	my $st = $?;
	local $/;
	open(my $o, '<', "$tmp/out") or die;
	open(my $e, '<', "$tmp/err") or die;
	my ($out, $err) = (scalar <$o>, scalar <$e>);
	return ($st & 127 ? 128 + ($st & 127) : $st >> 8, $out // '', $err // '');
}

-x $skvm or die "no $skvm: build first (make)\n";

# Usage and exit codes
my ($rc, $out, $err) = run($skvm);
ok($rc == 2 && $err =~ /^usage: softkvm run/m, "no subcommand: usage on stderr, exit 2");
($rc, $out, $err) = run($skvm, 'frobnicate');
ok($rc == 2 && $err =~ /unknown command 'frobnicate'/ && $err =~ /usage:/,
   "unknown subcommand: usage, exit 2");
($rc, $out, $err) = run($skvm, '--help');
ok($rc == 0 && $out =~ /^usage:/m && $err eq '', "--help: usage on stdout, exit 0");
($rc, $out, $err) = run($skvm, 'info', '--bogus');
ok($rc == 2 && $err =~ /usage: softkvm info/, "info with an unknown option: exit 2");
($rc, $out, $err) = run($skvm, 'run');
ok($rc == 2 && $err =~ /usage:/, "run without a command: usage, exit 2");
($rc, $out, $err) = run($skvm, 'run', '--');
ok($rc == 2, "run -- without a command: exit 2");
($rc, $out, $err) = run($skvm, 'run', '--device');
ok($rc == 2 && $err =~ /usage:/, "run --device without a path: usage, exit 2");
($rc, $out, $err) = run($skvm, 'run', '--bogus', '--', 'true');
ok($rc == 2 && $err =~ /unknown option '--bogus'/, "run with an unknown option: exit 2");
($rc, $out, $err) = run($skvm, 'run', '--', '/nonexistent/program');
ok($rc == 127 && $err =~ /cannot run/, "run of a missing program: exit 127");

# info
($rc, $out, $err) = run($skvm, 'info');
ok($rc == 0, "info exits 0", $err);
ok($out =~ /KVM API version 12/, "info reports API version 12");
ok($out =~ /^\s+KVM_CAP_USER_MEMORY\s+1$/m, "info lists KVM_CAP_USER_MEMORY = 1");

# info --json: parses, and lists every KVM_CAP_* of <linux/kvm.h>
($rc, $out, $err) = run($skvm, 'info', '--json');
ok($rc == 0, "info --json exits 0", $err);
my $j = eval { decode_json($out) };
ok($j && ref $j eq 'HASH', "info --json is a JSON object", $@);
$j ||= {};
ok(($j->{api_version} // 0) == 12, "api_version is 12");
ok(($j->{vcpu_mmap_size} // 0) > 0 && $j->{vcpu_mmap_size} % 4096 == 0,
   "vcpu_mmap_size is whole pages");
my %caps = %{$j->{capabilities} || {}};
my @want;
open(my $h, '<', '/usr/include/linux/kvm.h') or die "kvm.h: $!";
while (<$h>) {
	push @want, $1 if m{^#define\s+(KVM_CAP_\w+)\s+\d+\s*(/\*.*)?$};
}
my @missing = grep { !exists $caps{$_} } @want;
ok(@want > 100 && !@missing, scalar(@want) . " KVM_CAP_* in <linux/kvm.h>, all listed",
   "missing: @missing");
my @bad = grep { $caps{$_} !~ /^-?\d+$/ } keys %caps;
ok(!@bad, "every capability value is an integer", "not integers: @bad");
ok(($caps{KVM_CAP_USER_MEMORY} // 0) == 1, "KVM_CAP_USER_MEMORY is 1 in JSON");
for my $k (qw(supported_cpuid emulated_cpuid msr_index_list msr_feature_index_list)) {
	ok(ref $j->{$k} eq 'ARRAY', "$k is an array");
}
my @cpuid_ok = grep { ref $_ eq 'HASH' && defined $_->{function} && defined $_->{eax} }
	@{$j->{supported_cpuid} || []};
ok(@cpuid_ok == @{$j->{supported_cpuid} || []}, "CPUID entries have function and registers");

# run: environment, exit status, exec chains
($rc, $out) = run($skvm, 'run', '--', 'sh', '-c', 'echo "$SOFTKVM_DEVICE|$LD_PRELOAD"');
ok($rc == 0 && $out =~ m{^/dev/kvm\|.*libsoftkvm\.so}, "run sets SOFTKVM_DEVICE and LD_PRELOAD",
   $out);
{
	local $ENV{LD_PRELOAD} = '/lib/x86_64-linux-gnu/libc.so.6';
	# A sanitizer build of this command would object to a library ahead of
	# its runtime; the point here is only what it hands on.
	local $ENV{ASAN_OPTIONS} = 'verify_asan_link_order=0';
	($rc, $out) = run($skvm, 'run', '--', 'sh', '-c', 'echo "$LD_PRELOAD"');
	ok($rc == 0 && $out =~ m{libsoftkvm\.so:/lib/x86_64-linux-gnu/libc\.so\.6$},
	   "run keeps an existing LD_PRELOAD after softkvm", $out);
}
($rc, $out) = run($skvm, 'run', '--device', '/dev/softkvm', '--', 'sh', '-c',
		  'echo "$SOFTKVM_DEVICE"');
ok($rc == 0 && $out eq "/dev/softkvm\n", "run --device sets the device path", $out);
($rc) = run($skvm, 'run', '--', 'sh', '-c', 'exit 3');
ok($rc == 3, "run passes the exit status through");
($rc) = run($skvm, 'run', '--', 'sh', '-c', 'kill -TERM $$');
ok($rc == 128 + 15, "run passes death by signal through");
($rc) = run($skvm, 'run', 'true');
ok($rc == 0, "run without -- runs the command");

# A KVM client reached through a shell that execs it
my $api = "$build/tests/api/system";
if (-x $api) {
	($rc, $out) = run($skvm, 'run', '--', 'sh', '-c', "exec $api");
	ok($rc == 0 && $out =~ /^1\.\.\d+$/m && $out !~ /^not ok/m,
	   "a KVM client exec'd by a shell passes its checks", $out);
	($rc, $out) = run($skvm, 'run', '--', 'env', $api);
	ok($rc == 0 && $out !~ /^not ok/m, "a KVM client exec'd by env passes its checks");
}

# Side by side: softkvm at /dev/softkvm, the host's /dev/kvm untouched.
my $tmp = tempdir(CLEANUP => 1);
my $cc = $ENV{CC} || 'gcc';
if (system($cc, '-std=gnu11', '-O1', '-Wall', '-Werror', '-o', "$tmp/side_by_side",
	   "$dir/side_by_side.c") == 0) {
	($rc, $out, $err) = run($skvm, 'run', '--device', '/dev/softkvm', '--', "$tmp/side_by_side",
				'/dev/softkvm');
	for (split /\n/, $out) {
		ok(!defined $1, "side by side: $2") if /^(not )?ok \d+ - (.*)$/;
	}
	ok($rc == 0, "side by side: exit 0", $err);
} else {
	ok(0, "compile side_by_side.c");
}

# ioctl arguments where seccomp forbids process_vm_readv/writev
if (system($cc, '-std=gnu11', '-O1', '-Wall', '-Werror', '-o', "$tmp/no_process_vm",
	   "$dir/no_process_vm.c") == 0) {
	for my $t (qw(memslot memslot_dirty vm_badptr vm_ioctls stats)) {
		my $bin = "$build/tests/api/$t";
		next unless -x $bin;
		($rc, $out, $err) = run($skvm, 'run', '--', "$tmp/no_process_vm", $bin);
		my @bad = grep { /^not ok/ } split /\n/, $out;
		ok($rc == 0 && $out =~ /^1\.\.\d+$/m && !@bad,
		   "without process_vm_readv/writev: $t passes", join("\n", @bad, $err));
	}
} else {
	ok(0, "compile no_process_vm.c");
}

done_testing();
exit(tests_failed() ? 1 : 0);
