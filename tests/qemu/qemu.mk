# QEMU 7.2 -accel kvm on softkvm (tests/qemu/boot.pl): the `make run` guest
# (fetched into build/run by tools/boot-image.sh) booted to user space and
# powered off in each machine/irqchip configuration.  Per boot at most
# SKVM_QEMU_TIMEOUT seconds (240).  qemu-system-x86_64 missing: skipped with
# that reason (tools/deps.sh qemu installs it, as `make deps` does).
#
#   make check-qemu                     every configuration (release build)
#   make check-qemu SKVM_QEMU_CONFIGS="pc-on microvm-on"   a subset
#   make check-qemu-quick               pc-on and pc-smp2: the ones in `make test`
.PHONY: check-qemu check-qemu-quick

check-qemu: $(LIB) $(TOOL) $(RUN_O)/stamp
	SKVM_BUILD=$(O) SKVM_RUN_DIR=$(RUN_O) prove -v -f tests/qemu/boot.pl

check-qemu-quick: $(LIB) $(TOOL) $(RUN_O)/stamp
	SKVM_BUILD=$(O) SKVM_RUN_DIR=$(RUN_O) SKVM_QEMU_CONFIGS="pc-on pc-smp2" prove -v -f tests/qemu/boot.pl

# QEMU's own live migration between two QEMUs on softkvm (tests/qemu/migrate.pl,
# docs/migration.md): a busy guest moved over tcp loopback must print the
# hashes the host computes and power off on the destination.  `make test`
# runs the default, pc-on.
#   make check-qemu-migrate SKVM_QEMU_MIGRATE_CONFIGS="pc-on pc-ring pc-smp2 pc-split microvm"
.PHONY: check-qemu-migrate
check-qemu-migrate: $(LIB) $(TOOL) $(RUN_O)/stamp
	SKVM_BUILD=$(O) SKVM_RUN_DIR=$(RUN_O) prove -v -f tests/qemu/migrate.pl
