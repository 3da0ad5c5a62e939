#!/bin/bash
# Run the kernel's KVM selftests (built by tests/selftests/selftests.mk) under
# softkvm and, for comparison, on the host's /dev/kvm; print one line per test
# and a summary.  The exit status is 1 when a test tests/selftests/expected.txt
# says must pass did not pass under softkvm; every other result is reported.
#
#   run.sh SOFTKVM_TOOL SELFTESTS_DIR EXPECTED_FILE [TEST...]
#
# SKVM_SELFTESTS_TIMEOUT  seconds per test and backend (default 60)
# SKVM_SELFTESTS_JOBS     tests run at a time (default 2); results are
#                         printed in list order all the same
# SKVM_SELFTESTS_MUST     set: run only the tests expected.txt says must pass
#                         (make test-selftests)
# SKVM_NO_HOST            set: do not run the tests on the host's /dev/kvm
# SKVM_SELFTESTS_LOG      directory for each run's output (default
#                         SELFTESTS_DIR/logs)
set -u
tool=$1 dir=$2 expected=$3
shift 3
timeout_s=${SKVM_SELFTESTS_TIMEOUT:-60}
logs=${SKVM_SELFTESTS_LOG:-$dir/logs}
mkdir -p "$logs"

host=0
if [ -z "${SKVM_NO_HOST:-}" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	host=1
fi

# expected.txt: "test<TAB>status<TAB>why"; status is pass (must pass: a
# failure fails the stage) or what softkvm gives today with the cause.
want() {
	awk -F'\t' -v t="$1" '$1 == t { print $2; exit }' "$expected"
}

# The tests to run: the arguments, or every x86_64 test the kernel's
# Makefile builds (the list the build wrote).
# A bare name (state_test) stands for its path in the list (x86_64/state_test).
if [ $# -eq 0 ] && [ -n "${SKVM_SELFTESTS_MUST:-}" ]; then
	set -- $(awk -F'\t' '$2 == "pass" { print $1 }' "$expected" | grep -x -F -f - "$dir/tests.list")
elif [ $# -eq 0 ]; then
	set -- $(cat "$dir/tests.list")
else
	for t in "$@"; do
		shift
		full=$(grep -m1 -x -E "(x86_64/)?$t" "$dir/tests.list") || {
			echo "selftests: no test $t in $dir/tests.list" >&2; exit 2; }
		set -- "$@" "$full"
	done
fi

# TEST_ASSERT prints "==== Test Assertion Failure ====", "  file:line: expr",
# "  pid=... errno=...", a numbered stack, then the message: give
# "file:line: message" (the test's own output may follow the block).
assert_msg() {
	awk '/==== Test Assertion Failure ====/ { n = 1; next }
	     n == 1 { where = $1; n = 2; next }
	     n == 2 { n = 3; next }
	     n == 3 && /^ *[0-9]+\t|^ *\(inlined by\)/ { next }
	     n == 3 { sub(/^ +/, ""); msg = where " " $0; n = 0 }
	     { last = $0 }
	     END { if (msg != "") print msg; else print last }' "$1"
}

# run_one NAME LOG [softkvm]: runs the test from the selftests directory (some
# read files relative to it), prints "status<TAB>reason".
run_one() {
	name=$1 log=$2
	start=$(date +%s.%N)
	if [ $# -gt 2 ]; then
		(cd "$dir" && exec timeout -k 5 "$timeout_s" "$tool" run -- "./$name") \
			> "$log" 2>&1 < /dev/null
	else
		(cd "$dir" && exec timeout -k 5 "$timeout_s" "./$name") \
			> "$log" 2>&1 < /dev/null
	fi
	rc=$?
	secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
	case $rc in
	0)	st=pass reason="" ;;
	4)	st=skip
		# kselftest prints "1..0 # SKIP - <reason>" (ksft_exit_skip);
		# print_skip() alone ends "<reason>, skipping test"
		reason=$(grep -m1 -E 'SKIP' "$log" | sed -e 's/^.*# *SKIP *-* *//')
		[ -n "$reason" ] || reason=$(grep . "$log" | tail -1) ;;
	124|137) st=fail reason="timeout after ${timeout_s}s" ;;
	*)	st=fail
		# timeout passes a signal death on as 128 + the signal;
		# TEST_ASSERT exits with 254
		if [ $rc -gt 128 ] && [ $rc -lt 160 ]; then
			reason="killed by signal $((rc - 128))"
		else
			reason=$(assert_msg "$log")
		fi ;;
	esac
	printf '%s\t%s (%ss)\n' "$st" "$reason" "$secs"
}

# one_test INDEX TEST: both backends' results into $out/INDEX as
# "status US softkvm line US host part" (US: the unit separator, \037)
one_test() {
	local i=$1 t=$2 base r st why hostr="" h hsecs
	base=$(echo "$t" | tr / _)
	r=$(run_one "$t" "$logs/$base.softkvm.log" softkvm)
	st=${r%%	*} why=${r#*	}
	if [ $host = 1 ]; then
		h=$(run_one "$t" "$logs/$base.host.log")
		hsecs=${h##*(}
		hostr="  [host: ${h%%	*} ${hsecs%)}]"
	fi
	printf '%s\037%s\037%s\n' "$st" "$why" "$hostr" > "$out/$i.tmp"
	mv "$out/$i.tmp" "$out/$i"
}

npass=0 nfail=0 nskip=0 bad=""
# report INDEX TEST: print a finished test's line, count it
report() {
	local t=$2 st why hostr w mark=""
	IFS=$'\037' read -r st why hostr < "$out/$1"
	case $st in
	pass) npass=$((npass + 1)) ;;
	skip) nskip=$((nskip + 1)) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
	w=$(want "$t")
	if [ "$w" = pass ] && [ "$st" != pass ]; then
		mark="  MUST PASS"
		bad="$bad $t"
	elif [ -z "$w" ]; then
		mark="  (not in expected.txt)"
	elif [ "$w" != "$st" ]; then
		mark="  (expected.txt says $w)"
	fi
	printf '%-4s %-40s %s%s%s\n' "$st" "$t" "$why" "$hostr" "$mark"
}

jobs_max=${SKVM_SELFTESTS_JOBS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tests=("$@")
next=0 running=0
for ((i = 0; i < ${#tests[@]}; i++)); do
	if [ $running -ge "$jobs_max" ]; then
		wait -n
		running=$((running - 1))
	fi
	one_test $i "${tests[$i]}" &
	running=$((running + 1))
	# print what is done, in list order
	while [ $next -lt $i ] && [ -e "$out/$next" ]; do
		report $next "${tests[$next]}"
		next=$((next + 1))
	done
done
wait
while [ $next -lt ${#tests[@]} ]; do
	report $next "${tests[$next]}"
	next=$((next + 1))
done

echo "$npass passed, $nfail failed, $nskip skipped"
if [ -n "$bad" ]; then
	echo "selftests: must-pass tests did not pass:$bad (logs: $logs)"
	exit 1
fi
exit 0
