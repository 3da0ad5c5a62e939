# `softkvm boot` tests (tests/boot/boot.pl): fake bzImages assembled from
# tests/boot/fake.S, one per loader error path, under $(O)/tests/boot/.
BOOT_O := $(O)/tests/boot
BOOT_IMAGES := $(addprefix $(BOOT_O)/,fake.bzImage badmagic.bzImage oldproto.bzImage \
	no64.bzImage setupeof.bzImage)

$(BOOT_O)/fake.o: BOOT_ASFLAGS :=
$(BOOT_O)/badmagic.o: BOOT_ASFLAGS := -DBAD_MAGIC
$(BOOT_O)/oldproto.o: BOOT_ASFLAGS := -DVERSION=0x0205
$(BOOT_O)/no64.o: BOOT_ASFLAGS := -DXLF=0
$(BOOT_O)/setupeof.o: BOOT_ASFLAGS := -DSETUP_SECTS_FIELD=60

$(BOOT_O)/%.o: tests/boot/fake.S tests/boot/boot.mk
	@mkdir -p $(@D)
	$(CC) $(BOOT_ASFLAGS) -c -o $@ $<

$(BOOT_O)/%.bzImage: $(BOOT_O)/%.o
	objcopy -O binary -j .text $< $@

.PRECIOUS: $(BOOT_O)/%.o

check-boot: $(LIB) $(TOOL) $(BOOT_IMAGES)
	SKVM_BUILD=$(O) prove -f tests/boot/boot.pl tests/boot/migrate.pl

# The real boot too: Debian's kernel and the make run initramfs (fetched
# into build/run by tools/boot-image.sh), 1 and 2 vCPUs with a disk.
check-boot-real: $(LIB) $(TOOL) $(BOOT_IMAGES) build/run/stamp
	SKVM_BUILD=$(O) SKVM_BOOT_REAL=1 prove -f tests/boot/boot.pl
.PHONY: check-boot-real

# The Debian kernel saved/restored and migrated mid-boot (not in make test).
check-migrate-real: $(LIB) $(TOOL) $(BOOT_IMAGES) build/run/stamp
	SKVM_BUILD=$(O) SKVM_MIGRATE_REAL=1 prove -f tests/boot/migrate.pl
.PHONY: check-migrate-real

# Live migration, save/restore and snapshot reset timings of a 256 MiB busy
# guest (tools/bench-migrate.pl; not part of make test).
bench-migrate: $(LIB) $(TOOL) $(BOOT_IMAGES)
	perl tools/bench-migrate.pl $(O) $(BENCH_RUNS)
.PHONY: bench-migrate
