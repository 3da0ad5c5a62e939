# `make selftests`: the kernel's KVM selftests (Debian's linux-source-6.1) as a
# conformance stage; docs/selftests.md.  `make test` runs test-selftests (the
# must-pass list, softkvm only).  The kernel source is extracted
# under build/selftests/ only; nothing of it enters the repository.
#
#   make selftests                  build, run all x86_64 tests, check
#                                   tests/selftests/expected.txt's must-pass list
#   make selftests SELFTESTS="state_test x86_64/cpuid_test"   a subset (names
#                                   as in tests.list; bare names are looked up)
#   SKVM_NO_HOST=1                  skip the host /dev/kvm comparison runs
#   SKVM_SELFTESTS_TIMEOUT=SECONDS  per test and backend (default 60)
#   SKVM_SELFTESTS_JOBS=N           tests at a time (default 2)
#   make test-selftests             the must-pass tests, softkvm only
ST_TARBALL := /usr/src/linux-source-6.1.tar.xz
ST_ROOT := build/selftests
ST_SRC := $(ST_ROOT)/linux
ST_KVM := $(ST_SRC)/tools/testing/selftests/kvm
# What the header install and the KVM selftests build read: the kernel's own
# Makefile and scripts for `make headers`, the uapi headers, x86's syscall
# tables (generated asm headers), the tools/ headers and libraries the tests
# include, and the selftests framework.
ST_MEMBERS := Makefile scripts include/uapi include/asm-generic/Kbuild \
	arch/x86/include/uapi arch/x86/include/asm/Kbuild arch/x86/entry/syscalls \
	arch/x86/Makefile arch/x86/Makefile_32.cpu arch/x86/Makefile.um arch/x86/tools \
	tools/include tools/arch/x86 tools/lib tools/build tools/scripts \
	tools/testing/selftests/lib.mk tools/testing/selftests/kselftest \
	tools/testing/selftests/kselftest.h tools/testing/selftests/kselftest_harness.h \
	tools/testing/selftests/rseq tools/testing/selftests/kvm

# The kernel's Makefiles run as top-level makes (no MAKEFLAGS or MAKELEVEL of
# ours: lib.mk derives OUTPUT from MAKELEVEL, and our command-line variables
# must not reach them); OUTPUT is given explicitly all the same.
ST_JOBS ?= 2
ST_MAKE = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES $(MAKE) -j$(ST_JOBS)

.PHONY: selftests selftests-build test-selftests

$(ST_TARBALL):
	@sh tools/deps.sh selftests

# Extract, install the uapi headers into $(ST_SRC)/usr/include (where the
# selftests Makefile looks), apply the build fixes, build.  The stamp makes
# the whole thing happen once; `rm -rf build/selftests` redoes it.
$(ST_ROOT)/built.stamp: $(ST_TARBALL) tests/selftests/fix-build.sh tests/selftests/selftests.mk
	rm -rf $(ST_SRC) && mkdir -p $(ST_SRC)
	tar -xJf $(ST_TARBALL) -C $(ST_SRC) --strip-components=1 \
		$(addprefix linux-source-6.1/,$(ST_MEMBERS))
	$(ST_MAKE) -C $(ST_SRC) -s ARCH=x86_64 headers
	sh tests/selftests/fix-build.sh $(ST_KVM)
	$(ST_MAKE) -C $(ST_KVM) -s ARCH=x86_64 CC=gcc OUTPUT=$(CURDIR)/$(ST_KVM)
	printf 'print-tests:\n\t@echo $$(patsubst $$(OUTPUT)/%%,%%,$$(TEST_GEN_PROGS))\n' \
		> $(ST_ROOT)/print.mk
	$(ST_MAKE) -C $(ST_KVM) -s --no-print-directory -f Makefile \
		-f $(CURDIR)/$(ST_ROOT)/print.mk OUTPUT=$(CURDIR)/$(ST_KVM) print-tests | tr ' ' '\n' | \
		grep . > $(ST_KVM)/tests.list
	touch $@

selftests-build: $(ST_ROOT)/built.stamp

selftests: $(LIB) $(TOOL) $(ST_ROOT)/built.stamp
	@bash tests/selftests/run.sh $(CURDIR)/$(TOOL) $(ST_KVM) \
		tests/selftests/expected.txt $(SELFTESTS)

# make test's stage: the must-pass tests only, under softkvm only (the host
# run is informational), two at a time, 120 s each (max_guest_memory_test
# took 61 s once while another test ran beside it on the loaded machine).
test-selftests: $(LIB) $(TOOL) $(ST_ROOT)/built.stamp
	@SKVM_NO_HOST=1 SKVM_SELFTESTS_MUST=1 \
		SKVM_SELFTESTS_TIMEOUT=$${SKVM_SELFTESTS_TIMEOUT:-120} bash tests/selftests/run.sh \
		$(CURDIR)/$(TOOL) $(ST_KVM) tests/selftests/expected.txt
