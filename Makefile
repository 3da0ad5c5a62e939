# softkvm: one GNU Makefile.  `make` builds the release tree under build/;
# MODE=debug builds with ASan+UBSan under build/debug/.  Nothing is written
# outside build/.
#
#   make run        the main job (see README)
#   make test       the full default test suite (release, then sanitizers,
#                   fuzz-short, the real boot, the must-pass KVM selftests);
#                   docs/testing.md describes the harnesses
#   make check-api | check-unit | check-tools | check-guest | check-diff | check-cguest |
#                   check-engine | check-boot
#                   one suite (MODE=debug for the sanitizer build)
#   make check-tsan: the SMP, irqfd, ioeventfd and signal tests under TSan
#   make fuzz-short FUZZ_SECONDS=60, make check-boot-real, make test-selftests,
#   make check-qemu (check-qemu-quick: the pc boot make test runs), check-qemu-migrate
#   make bench, make bench-boot, make selftests (all of them; not in make test)

MODE ?= release
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

ifeq ($(MODE),release)
O := build
MODE_CFLAGS := -O2 -g
MODE_LDFLAGS :=
else ifeq ($(MODE),debug)
O := build/debug
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
O := build/tsan
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread -Wno-tsan
MODE_LDFLAGS := -fsanitize=thread
else
$(error MODE must be release, debug or tsan)
endif

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef -Wvla \
	-Wno-missing-field-initializers
CFLAGS_ALL := -std=gnu11 $(WARNINGS) $(MODE_CFLAGS) -D_FILE_OFFSET_BITS=64 \
	-Isrc -Iinclude -I$(O)/gen $(CFLAGS)
LIB_CFLAGS := $(CFLAGS_ALL) -fPIC -fvisibility=hidden
LDLIBS_ALL := -ldl -lpthread

LIB_SRCS := $(wildcard src/mem/*.c src/x86/*.c src/hw/*.c src/kvm/*.c src/preload/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/obj/%.o)
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(O)/obj/%.o)
API_TESTS := $(patsubst tests/api/%.c,$(O)/tests/api/%,$(wildcard tests/api/*.c))

# Unit tests (no fds): each links against the library's objects taken from
# an archive, so a test may define its own version of a symbol.
UNIT_TESTS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(wildcard tests/unit/*.c))
CORE_LIB := $(O)/libsoftkvm-core.a

GUEST_ELFS := $(patsubst tests/guest/%.S,$(O)/tests/guest/%.elf,$(wildcard tests/guest/*.S))
GUEST_RUNNER := $(O)/tests/guest/run_guest
TVM := tests/guest/tvm.c tests/guest/tvm.h
DIFF := $(O)/tests/diff/diff
DIFF_X87 := $(O)/tests/diff/x87
# Engine tests that only softkvm can run (the PVM host cannot do their ring
# transitions or 32-bit code); they print TAP.
ENGINE_TESTS := $(patsubst tests/engine/%.c,$(O)/tests/engine/%,$(wildcard tests/engine/*.c))

# The fuzz target: its own clang build of the library (coverage + ASan +
# UBSan), linked directly (the preload door stays out), under build/fuzz/.
FUZZ_O := build/fuzz
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
	-Wno-missing-field-initializers -Wno-unused-parameter \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-D_FILE_OFFSET_BITS=64 -Isrc -Iinclude
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_O)/obj/%.o,$(filter-out src/preload/%,$(LIB_SRCS)))
FUZZ_TARGET := $(FUZZ_O)/fuzz_run
FUZZ_SECONDS ?= 60

# Benchmarks: the same integer-only C natively and as a ring-3 guest.
BENCH := $(O)/bench/bench
BENCH_GUEST := $(O)/bench/guest.bin
BENCH_IRQFD := $(O)/bench/irqfd_latency
BENCH_IPI := $(O)/bench/ipi_latency
BENCH_JOB_BASE := -std=gnu11 $(WARNINGS) -fno-tree-loop-distribute-patterns -fno-stack-protector
BENCH_JOB_CFLAGS := $(BENCH_JOB_BASE) -O2 -mgeneral-regs-only
# The same flags on both sides: matmul (fp.c) SSE2, saxpy (simd.c) AVX2/FMA.
BENCH_FP_CFLAGS := $(BENCH_JOB_BASE) -O2
BENCH_SIMD_CFLAGS := $(BENCH_JOB_BASE) -O3 -march=x86-64-v3
BENCH_GUEST_CFLAGS := -ffreestanding -fno-pic -fno-pie -mno-red-zone -Ibench
BENCH_HOST_OBJS := $(O)/bench/jobs-host.o $(O)/bench/fp-host.o $(O)/bench/simd-host.o

LIB := $(O)/libsoftkvm.so
TOOL := $(O)/softkvm

.PHONY: all lib tests test test-suite check-api check-unit check-tools check-guest check-diff check-cguest check-engine check-tsan tsan-run fuzz fuzz-short bench bench-boot run deps deps-build clean
.DEFAULT_GOAL := all

all: $(LIB) $(TOOL) tests

lib: $(LIB)

$(O)/gen/capnames.h: /usr/include/linux/kvm.h tools/gen-capnames.sh
	@mkdir -p $(@D)
	sh tools/gen-capnames.sh $< > $@.tmp && mv $@.tmp $@

ifeq ($(MODE),tsan)
# The libc interposers run before the TSan runtime is set up (its own
# sigaction calls reach them): left uninstrumented.
$(O)/obj/src/preload/%.o: LIB_CFLAGS := $(filter-out -fsanitize=thread,$(LIB_CFLAGS))
endif

$(O)/obj/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(O)/obj/tools/%.o: tools/%.c $(O)/gen/capnames.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(CC) -shared $(MODE_LDFLAGS) -Wl,-z,defs -o $@ $^ $(LDLIBS_ALL)

$(TOOL): $(TOOL_OBJS) $(LIB)
	$(CC) $(MODE_LDFLAGS) -o $@ $(TOOL_OBJS) -L$(O) -lsoftkvm -Wl,-rpath,'$$ORIGIN' $(LDLIBS_ALL)

# Conformance tests: ordinary KVM clients, nothing of softkvm linked in.
$(O)/tests/api/%: tests/api/%.c $(wildcard tests/api/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/api -o $@ $< $(MODE_LDFLAGS) -lpthread

$(CORE_LIB): $(filter-out $(O)/obj/src/preload/%,$(LIB_OBJS))
	rm -f $@
	$(AR) rcs $@ $^

$(O)/tests/unit/%: tests/unit/%.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_LIB) $(MODE_LDFLAGS) $(LDLIBS_ALL)

check-unit: $(UNIT_TESTS)
	prove -f $(UNIT_TESTS)

# Guest tests: tiny guests in GNU as, run by one plain KVM client.
$(GUEST_RUNNER): tests/guest/run_guest.c $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -o $@ $< tests/guest/tvm.c $(MODE_LDFLAGS)

$(O)/tests/guest/%.elf: tests/guest/%.S tests/guest/guest.h tests/guest/guest.ld
	@mkdir -p $(@D)
	$(CC) -c -Itests/guest -o $(@:.elf=.o) $<
	$(LD) -m elf_x86_64 -T tests/guest/guest.ld -o $@ $(@:.elf=.o)

# Differential tester: instruction streams run natively and in a guest.
$(DIFF): tests/diff/diff.c tests/diff/world.c tests/diff/world.h tests/diff/kernel.S tests/diff/layout.h $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -Itests/diff -o $@ tests/diff/diff.c tests/diff/world.c \
		tests/diff/kernel.S tests/guest/tvm.c $(MODE_LDFLAGS)

# The x87 differential tester: same two worlds (kernel.S), FPU streams.
$(DIFF_X87): tests/diff/x87.c tests/diff/world.c tests/diff/world.h tests/diff/kernel.S tests/diff/layout.h $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -Itests/diff -o $@ tests/diff/x87.c tests/diff/world.c \
		tests/diff/kernel.S tests/guest/tvm.c $(MODE_LDFLAGS)

# The compiled-C guest (tests/cguest/cg.h): prog.c and lib.c compiled once
# per flag set, no libc, linked as a static Linux program and as a guest.
CG_FLAGS_BASE := -std=gnu11 $(WARNINGS) -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -fno-math-errno -fno-asynchronous-unwind-tables -g
CG_FLAGS_O2 := -O2
CG_FLAGS_v3 := -O2 -march=x86-64-v3
CGUEST_IMGS := $(O)/tests/cguest/cg-O2.bin $(O)/tests/cguest/cg-v3.bin
CGUEST_RUNNER := $(O)/tests/cguest/run
CG_SRCS := tests/cguest/prog.c tests/cguest/lib.c tests/cguest/cg.h

$(O)/tests/cguest/cg-%.bin: $(CG_SRCS) tests/cguest/start_guest.S tests/cguest/start_native.S \
		tests/cguest/guest.ld tests/guest/simd_on.h
	@mkdir -p $(@D)
	$(CC) $(CG_FLAGS_BASE) $(CG_FLAGS_$*) -c tests/cguest/prog.c -o $(@:.bin=-prog.o)
	$(CC) $(CG_FLAGS_BASE) $(CG_FLAGS_$*) -fno-tree-loop-distribute-patterns \
		-c tests/cguest/lib.c -o $(@:.bin=-lib.o)
	$(CC) -Itests/guest -c tests/cguest/start_guest.S -o $(@:.bin=-sg.o)
	$(CC) -c tests/cguest/start_native.S -o $(@:.bin=-sn.o)
	$(CC) -nostdlib -static -no-pie -Wl,--build-id=none -o $(@:.bin=.native) \
		$(@:.bin=-sn.o) $(@:.bin=-prog.o) $(@:.bin=-lib.o) -lgcc
	$(CC) -nostdlib -static -no-pie -Wl,--build-id=none -T tests/cguest/guest.ld -Wl,--no-warn-rwx-segments \
		-o $(@:.bin=.elf) $(@:.bin=-sg.o) $(@:.bin=-prog.o) $(@:.bin=-lib.o) -lgcc
	objcopy -O binary $(@:.bin=.elf) $@

$(CGUEST_RUNNER): tests/cguest/run.c tests/cguest/cg.h $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -o $@ $< tests/guest/tvm.c $(MODE_LDFLAGS)

tests: $(API_TESTS) $(UNIT_TESTS) $(GUEST_RUNNER) $(GUEST_ELFS) $(DIFF) $(DIFF_X87) \
	$(CGUEST_RUNNER) $(CGUEST_IMGS)

$(FUZZ_O)/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -fvisibility=hidden -MMD -MP -c $< -o $@

$(FUZZ_TARGET): tests/fuzz/fuzz_run.c $(TVM) $(FUZZ_LIB_OBJS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/guest -DTVM_DIRECT -o $@ \
		tests/fuzz/fuzz_run.c tests/guest/tvm.c $(FUZZ_LIB_OBJS) $(LDLIBS_ALL)

fuzz: $(FUZZ_TARGET)

$(O)/bench/jobs-host.o: bench/jobs.c bench/jobs.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_JOB_CFLAGS) -c $< -o $@

$(O)/bench/fp-host.o: bench/fp.c bench/jobs.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_FP_CFLAGS) -c $< -o $@

$(O)/bench/simd-host.o: bench/simd.c bench/jobs.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_SIMD_CFLAGS) -c $< -o $@

$(BENCH): bench/bench.c bench/jobs.h $(BENCH_HOST_OBJS) $(TVM)
	$(CC) $(CFLAGS_ALL) -Ibench -Itests/guest -o $@ $< $(BENCH_HOST_OBJS) \
		tests/guest/tvm.c $(MODE_LDFLAGS)

$(BENCH_GUEST): bench/start.S bench/jobs.c bench/fp.c bench/simd.c bench/jobs.h bench/guest.ld \
		tests/guest/simd_on.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_JOB_CFLAGS) $(BENCH_GUEST_CFLAGS) -c bench/jobs.c -o $(O)/bench/jobs-guest.o
	$(CC) $(BENCH_FP_CFLAGS) $(BENCH_GUEST_CFLAGS) -c bench/fp.c -o $(O)/bench/fp-guest.o
	$(CC) $(BENCH_SIMD_CFLAGS) $(BENCH_GUEST_CFLAGS) -c bench/simd.c -o $(O)/bench/simd-guest.o
	$(CC) -Ibench -Itests/guest -c bench/start.S -o $(O)/bench/start.o
	$(LD) -m elf_x86_64 -T bench/guest.ld -o $(@:.bin=.elf) $(O)/bench/start.o \
		$(O)/bench/jobs-guest.o $(O)/bench/fp-guest.o $(O)/bench/simd-guest.o
	objcopy -O binary $(@:.bin=.elf) $@

$(BENCH_IRQFD) $(BENCH_IPI): $(O)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(MODE_LDFLAGS) -lpthread

# Not part of make test.  Each run times the native jobs and the guest in
# the same invocation: under softkvm, then on the host's /dev/kvm.
bench: $(BENCH) $(BENCH_GUEST) $(BENCH_IRQFD) $(BENCH_IPI) $(LIB) $(TOOL)
	@echo "== softkvm"
	-@$(TOOL) run -- $(BENCH) $(BENCH_GUEST)
	-@$(TOOL) run -- $(BENCH_IRQFD)
	-@$(TOOL) run -- $(BENCH_IPI)
	@if [ -z "$$SKVM_NO_HOST" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then \
		echo "== host /dev/kvm"; $(BENCH) $(BENCH_GUEST); $(BENCH_IRQFD); $(BENCH_IPI); fi

# FUZZ_SECONDS of fuzzing from the corpus kept in build/fuzz/corpus; a
# crash, sanitizer report or hang (-timeout) fails, leaving the input in
# build/fuzz/ (replay: build/fuzz/fuzz_run FILE).
fuzz-short: $(FUZZ_TARGET)
	@mkdir -p $(FUZZ_O)/corpus
	@cd $(FUZZ_O) && ./fuzz_run -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-max_len=4096 -print_final_stats=1 corpus ../../tests/fuzz/seeds \
		> fuzz.log 2>&1; rc=$$?; grep -E '^(stat::|==|SUMMARY|ERROR|INFO: Running|artifact|Test unit|Base64|fuzz_run:|\s+#[0-9]+ 0x)' fuzz.log | tail -60; \
		echo "fuzz-short: exit $$rc (log: $(FUZZ_O)/fuzz.log)"; exit $$rc

deps:
	@sh tools/deps.sh build fuzz selftests qemu

deps-build:
	@sh tools/deps.sh build

# The conformance suite against softkvm (and the host's /dev/kvm if present).
check-api: $(LIB) $(TOOL) $(API_TESTS)
	SKVM_BUILD=$(O) prove -f --exec 'sh tests/api/tap-wrap.sh' $(API_TESTS)

# Guest tests under softkvm and the host's /dev/kvm.  Until the execution
# engine lands, softkvm's honest "not implemented" exits are TODO.
check-guest: $(LIB) $(TOOL) $(GUEST_RUNNER) $(GUEST_ELFS)
	SKVM_BUILD=$(O) SKVM_RUNNER=$(GUEST_RUNNER) SKVM_DEVIATIONS=tests/guest/host-deviations.txt prove -f --exec 'sh tests/api/tap-wrap.sh' $(GUEST_ELFS)

# SKVM_DIFF_N instructions (default 10^6) against native execution, on
# softkvm and on the host's /dev/kvm; same TODO rule as check-guest.
check-diff: $(LIB) $(TOOL) $(DIFF) $(DIFF_X87)
	SKVM_BUILD=$(O) prove -f --exec 'sh tests/api/tap-wrap.sh' $(DIFF) $(DIFF_X87)
	@echo "check-diff: every stream twice on softkvm, the second run as JIT-translated code"
	SKVM_DIFF_REPEAT=2 SKVM_JIT_THRESHOLD=1 SKVM_DIFF_N=300000 prove -f --exec '$(TOOL) run --' $(DIFF)
	SKVM_JIT_THRESHOLD=1 SKVM_X87_N=50000 prove -f --exec '$(TOOL) run --' $(DIFF_X87)

# The compiled-C guest: each image under softkvm (and the host's KVM) with
# its output compared byte for byte with the same objects run natively;
# the x86-64-v3 build must really contain AVX code.
check-cguest: $(LIB) $(TOOL) $(CGUEST_RUNNER) $(CGUEST_IMGS)
	@n=$$(objdump -d $(O)/tests/cguest/cg-v3.elf | grep -c ymm); \
		echo "check-cguest: cg-v3.elf has $$n instructions on ymm registers"; test $$n -gt 0
	SKVM_BUILD=$(O) SKVM_RUNNER=$(CGUEST_RUNNER) SKVM_DEVIATIONS=tests/cguest/host-deviations.txt \
		prove -f --exec 'sh tests/api/tap-wrap.sh' $(CGUEST_IMGS)
	@echo "check-cguest: again with every block JIT-translated"
	SKVM_JIT_THRESHOLD=1 prove -f --exec '$(TOOL) run -- $(CGUEST_RUNNER)' $(CGUEST_IMGS)

$(O)/tests/engine/%: tests/engine/%.c $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/guest -o $@ $< tests/guest/tvm.c $(MODE_LDFLAGS) -lpthread

$(O)/tests/engine/bcd_native: tests/engine/bcd32/native.c tests/engine/bcd32/native_blob.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $^ $(MODE_LDFLAGS)

$(O)/tests/engine/bcd_vm: tests/engine/bcd32/vm.c $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/guest -o $@ $< tests/guest/tvm.c $(MODE_LDFLAGS)

# Engine tests under softkvm only, and the 16/32-bit BCD instructions
# compared byte for byte with the same code run natively.
check-engine: $(LIB) $(TOOL) $(ENGINE_TESTS) $(O)/tests/engine/bcd_native $(O)/tests/engine/bcd_vm
	prove -f --exec '$(TOOL) run --' $(ENGINE_TESTS)
	$(O)/tests/engine/bcd_native > $(O)/tests/engine/bcd.native
	$(TOOL) run -- $(O)/tests/engine/bcd_vm > $(O)/tests/engine/bcd.softkvm
	cmp $(O)/tests/engine/bcd.native $(O)/tests/engine/bcd.softkvm && \
		echo "bcd32: softkvm matches native execution ($$(wc -l < $(O)/tests/engine/bcd.native) lines)"

# ThreadSanitizer over the multi-threaded tests: 4 vCPUs with LOCK atomics
# (smp_atomic, smp), IPIs, irqfds and ioeventfds changed while they fire
# (irq_stress, irq_routing, ioeventfd), signals into KVM_RUN.  Under
# softkvm only (no host comparison); any report fails.  Suppressions, each
# explained, in tests/tsan.supp (guest memory is racy by design); they match
# on the racing access's stack, so TSan keeps its longest history
# (history_size=7): with the default, an older access made through
# translated code had lost its stack in about 1 smp_atomic run in 3 once
# halted vCPUs poll, and the report escaped its suppression.
TSAN_API := smp irq_stress irq_routing ioeventfd signal_run halt_signal cancel_run
check-tsan:
	$(MAKE) MODE=tsan tsan-run

tsan-run: $(LIB) $(TOOL) $(TSAN_API:%=$(O)/tests/api/%) $(O)/tests/engine/smp_atomic
	@set -e; for t in $(TSAN_API:%=$(O)/tests/api/%) $(O)/tests/engine/smp_atomic; do \
		echo "== tsan: $$t"; \
		SKVM_SMP_ATOMIC_N=50000 \
		TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0 history_size=7 suppressions=$(CURDIR)/tests/tsan.supp" \
			timeout 600 $(TOOL) run -- $$t > $$t.tsan.log 2>&1 || { tail -80 $$t.tsan.log; exit 1; }; \
		grep -c '^ok' $$t.tsan.log | sed 's/^/   ok lines: /'; \
	done

# The softkvm command line (builds its own helpers).
check-tools: $(LIB) $(TOOL) $(API_TESTS)
	SKVM_BUILD=$(O) prove tests/tools/cli.pl

test-suite: check-api check-unit check-tools check-guest check-diff check-cguest check-engine check-boot

# CI: both builds' suites, the fuzzer, the real boot (Debian's kernel, 1 and
# 2 vCPUs) and the kernel's KVM selftests that must pass (softkvm only).
test: deps
	$(MAKE) MODE=release test-suite
	$(MAKE) MODE=debug test-suite
	$(MAKE) check-tsan
	$(MAKE) fuzz-short
	$(MAKE) MODE=release check-boot-real
	$(MAKE) MODE=release test-selftests
	$(MAKE) MODE=release check-qemu-quick
	$(MAKE) MODE=release check-qemu-migrate

# The main job: Debian's cloud kernel and a busybox initramfs (fetched with
# apt-get download into build/run/, cached) under `softkvm boot`.
RUN_O := build/run
RUN_ARGS ?=
$(RUN_O)/stamp: tools/boot-image.sh tools/boot-init.sh
	sh tools/boot-image.sh $(RUN_O)

run: deps-build all $(RUN_O)/stamp
	@sh tools/run.sh $(O) $(RUN_O) $(RUN_ARGS)

# Boot time of that guest: softkvm boot, QEMU on softkvm, QEMU TCG (not in make test).
BENCH_RUNS ?= 5
bench-boot: deps-build all $(RUN_O)/stamp
	@sh tools/deps.sh qemu
	perl tools/bench-boot.pl $(O) $(RUN_O) $(BENCH_RUNS)

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d) $(FUZZ_LIB_OBJS:.o=.d)

# Test fragments owned by their directories (each defines its check-* target).
-include tests/boot/boot.mk
-include tests/selftests/selftests.mk
-include tests/qemu/qemu.mk
