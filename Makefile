# softkvm: one GNU Makefile.  `make` builds the release tree under build/;
# MODE=debug builds with ASan+UBSan under build/debug/.  Nothing is written
# outside build/.
#
#   make run        the main job (see README)
#   make test       the full default test suite (release, then sanitizers)

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
else
$(error MODE must be release or debug)
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

GUEST_ELFS := $(patsubst tests/guest/%.S,$(O)/tests/guest/%.elf,$(wildcard tests/guest/*.S))
GUEST_RUNNER := $(O)/tests/guest/run_guest
TVM := tests/guest/tvm.c tests/guest/tvm.h
DIFF := $(O)/tests/diff/diff

LIB := $(O)/libsoftkvm.so
TOOL := $(O)/softkvm

.PHONY: all lib tests test test-suite check-api check-guest check-diff run deps clean
.DEFAULT_GOAL := all

all: $(LIB) $(TOOL) tests

lib: $(LIB)

$(O)/gen/capnames.h: /usr/include/linux/kvm.h tools/gen-capnames.sh
	@mkdir -p $(@D)
	sh tools/gen-capnames.sh $< > $@.tmp && mv $@.tmp $@

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
$(O)/tests/api/%: tests/api/%.c tests/api/t.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/api -o $@ $< $(MODE_LDFLAGS) -lpthread

# Guest tests: tiny guests in GNU as, run by one plain KVM client.
$(GUEST_RUNNER): tests/guest/run_guest.c $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -o $@ $< tests/guest/tvm.c $(MODE_LDFLAGS)

$(O)/tests/guest/%.elf: tests/guest/%.S tests/guest/guest.h tests/guest/guest.ld
	@mkdir -p $(@D)
	$(CC) -c -Itests/guest -o $(@:.elf=.o) $<
	$(LD) -m elf_x86_64 -T tests/guest/guest.ld -o $@ $(@:.elf=.o)

# Differential tester: instruction streams run natively and in a guest.
$(DIFF): tests/diff/diff.c tests/diff/kernel.S tests/diff/layout.h $(TVM)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/guest -Itests/diff -o $@ tests/diff/diff.c \
		tests/diff/kernel.S tests/guest/tvm.c $(MODE_LDFLAGS)

tests: $(API_TESTS) $(GUEST_RUNNER) $(GUEST_ELFS) $(DIFF)

deps:
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
check-diff: $(LIB) $(TOOL) $(DIFF)
	SKVM_BUILD=$(O) prove -f --exec 'sh tests/api/tap-wrap.sh' $(DIFF)

test-suite: check-api check-guest check-diff

test: deps
	$(MAKE) MODE=release test-suite
	$(MAKE) MODE=debug test-suite

run: deps all
	$(TOOL) info

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d)
