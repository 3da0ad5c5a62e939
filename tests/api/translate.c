/* KVM_TRANSLATE (API 4.38): a supervisor read through the guest page tables
 * in the vCPU's current paging mode, built here in a memslot. */
#include "t.h"

#define MEM (4u << 20)

static int vcpu;
static uint8_t *ram;

static void put32(uint64_t gpa, uint32_t v) { memcpy(ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }
static uint64_t get64(uint64_t gpa) { uint64_t v; memcpy(&v, ram + gpa, 8); return v; }

#define P (1ULL << 0)
#define RW (1ULL << 1)
#define US (1ULL << 2)
#define A (1ULL << 5)
#define D (1ULL << 6)
#define PS (1ULL << 7)
#define XD (1ULL << 63)

#define CR0_PE 1ULL
#define CR0_PG (1ULL << 31)
#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

static int set_mode(uint64_t cr0, uint64_t cr4, uint64_t efer, uint64_t cr3)
{
	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		T_BAIL("KVM_GET_SREGS");
	s.cr0 = cr0 | (1ULL << 4); /* ET */
	s.cr4 = cr4;
	s.efer = efer;
	s.cr3 = cr3;
	s.cs.l = !!(efer & EFER_LMA);
	s.cs.db = !s.cs.l && (cr0 & CR0_PE);
	return ioctl(vcpu, KVM_SET_SREGS, &s);
}

static struct kvm_translation tr;

static int translate(uint64_t la)
{
	memset(&tr, 0x55, sizeof(tr));
	tr.linear_address = la;
	if (ioctl(vcpu, KVM_TRANSLATE, &tr))
		T_BAIL("KVM_TRANSLATE");
	return tr.valid;
}

/* Expect a valid translation to gpa. */
#define T_TR(la, gpa, ...)                                                             \
	do {                                                                           \
		int _v = translate(la);                                                \
		if (!T_OK(_v && tr.physical_address == (uint64_t)(gpa), __VA_ARGS__))  \
			printf("#   valid %d pa %#llx, want %#llx\n", _v,                  \
			       (unsigned long long)tr.physical_address,                \
			       (unsigned long long)(gpa));                             \
	} while (0)

/* Expect no translation. */
#define T_NOTR(la, ...)                                                                \
	do {                                                                           \
		int _v = translate(la);                                                \
		if (!T_OK(!_v && tr.physical_address == ~0ULL, __VA_ARGS__))           \
			printf("#   valid %d pa %#llx\n", _v,                              \
			       (unsigned long long)tr.physical_address);               \
	} while (0)

static void test_paging_off(void)
{
	T_EQ(set_mode(CR0_PE, 0, 0, 0), 0, "protected mode without paging");
	T_TR(0x12345, 0x12345, "paging off: identity");
	T_EQ(tr.writeable, 1, "writeable is always 1");
	T_EQ(tr.usermode, 0, "usermode is always 0");
	T_TR(0x123456789ULL, 0x123456789ULL, "paging off: the address is not truncated");
}

static void test_long(unsigned maxphy, int amd)
{
	/* PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000. */
	memset(ram, 0, 0x10000);
	put64(0x1000, 0x2000 | P | RW | US);
	put64(0x1000 + 256 * 8, 0x2000 | P | RW);
	put64(0x2000, 0x3000 | P | RW | US);
	put64(0x3000, 0x4000 | P | RW | US);
	put64(0x3000 + 1 * 8, 0x200000 | P | RW | PS);
	put64(0x4000 + 5 * 8, 0x7000 | P | RW | US);
	put64(0x4000 + 6 * 8, 0x8000 | P);
	put64(0x4000 + 7 * 8, 0x9000 | P | RW | XD);
	put64(0x4000 + 8 * 8, 0xa000 | P | RW | (1ULL << (maxphy < 52 ? maxphy : 51)));
	put64(0x2000 + 1 * 8, 0x40000000 | P | RW | PS);
	put64(0x3000 + 2 * 8, 0x200000 | (1ULL << 13) | P | PS);
	put64(0x1000 + 3 * 8, 0x2000 | P | RW | (1ULL << 8));

	uint64_t efer = EFER_LME | EFER_LMA;
	T_EQ(set_mode(CR0_PE | CR0_PG, CR4_PAE, efer, 0x1000), 0, "4-level paging");
	T_TR(0x5123, 0x7123, "4-level: 4K page");
	T_OK(get64(0x1000) & A, "4-level: accessed bit set in the PML4E");
	T_OK(get64(0x4000 + 5 * 8) & A, "4-level: accessed bit set in the PTE");
	T_OK(!(get64(0x4000 + 5 * 8) & D), "4-level: dirty bit left clear");
	T_TR(0x6abc, 0x8abc, "4-level: read-only supervisor page translates");
	T_EQ(tr.writeable, 1, "4-level: writeable is 1 even for a read-only page");
	T_TR(0x212345, 0x212345, "4-level: 2M page");
	T_TR(0x40012345, 0x12345 + 0x40000000, "4-level: 1G page");
	T_TR(0xffff800000005123ULL, 0x7123, "4-level: upper half uses PML4 entry 256");
	T_NOTR(0xa000, "4-level: PTE not present");
	T_NOTR(0x80000000ULL, "4-level: PDPTE not present");
	T_NOTR(0x400000, "4-level: 2M PDE with reserved bit 13");
	T_NOTR(0x7000, "4-level: XD is reserved without EFER.NXE");
	/* PML4E bit 8 is ignored by Intel, must-be-zero for AMD (APM 5.3.3). */
	if (amd)
		T_NOTR((3ULL << 39) | 0x5123, "4-level: PML4E bit 8 reserved (AMD guest)");
	else
		T_TR((3ULL << 39) | 0x5123, 0x7123, "4-level: PML4E bit 8 ignored (Intel guest)");
	if (maxphy < 52)
		T_NOTR(0x8000, "4-level: address bit at MAXPHYADDR is reserved");

	T_EQ(set_mode(CR0_PE | CR0_PG, CR4_PAE, efer | EFER_NXE, 0x1000), 0, "4-level paging with NXE");
	T_TR(0x7010, 0x9010, "4-level: XD page readable with NXE");
}

static void test_pae(void)
{
	/* PDPT 0x5020, PD 0x6000, PT 0x7000. */
	memset(ram, 0, 0x10000);
	put64(0x5020, 0x6000 | P);
	put64(0x6000 + 1 * 8, 0x7000 | P | RW);
	put64(0x6000 + 2 * 8, 0x200000 | P | RW | PS);
	put64(0x7000 + 3 * 8, 0xb000 | P | RW);
	T_EQ(set_mode(CR0_PE | CR0_PG, CR4_PAE, 0, 0x5020), 0, "PAE paging");
	T_TR(0x203456, 0xb456, "PAE: 4K page");
	T_TR(0x412345, 0x212345, "PAE: 2M page");
	T_NOTR(0x40000000, "PAE: PDPTE not present");
	T_NOTR(0x204000, "PAE: PTE not present");
}

static void test_32bit(void)
{
	/* PD 0x8000, PT 0x9000. */
	memset(ram, 0, 0x10000);
	put32(0x8000 + 1 * 4, 0x9000 | P | RW);
	put32(0x8000 + 2 * 4, 0x400000 | P | RW | PS);
	put32(0x9000 + 3 * 4, 0xc000 | P | RW);
	T_EQ(set_mode(CR0_PE | CR0_PG, 0, 0, 0x8000), 0, "32-bit paging");
	T_TR(0x403456, 0xc456, "32-bit: 4K page");
	T_NOTR(0x812345, "32-bit: PS ignored without CR4.PSE");
	T_EQ(set_mode(CR0_PE | CR0_PG, CR4_PSE, 0, 0x8000), 0, "32-bit paging with PSE");
	T_TR(0x812345, 0x412345, "32-bit: 4M page");
	T_NOTR(0x404000, "32-bit: PTE not present");
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);

	/* The guest model QEMU would set: the supported table. */
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(c->entries[0]));
	c->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) || ioctl(vcpu, KVM_SET_CPUID2, c))
		T_BAIL("CPUID set-up");
	unsigned maxphy = 36;
	int amd = 0;
	for (uint32_t i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 0x80000008)
			maxphy = c->entries[i].eax & 0xff;
		if (c->entries[i].function == 0)
			amd = c->entries[i].ebx == 0x68747541 || c->entries[i].ebx == 0x6f677948;
	}
	free(c);

	ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		T_BAIL("mmap");
	struct kvm_userspace_memory_region m = {.slot = 0, .memory_size = MEM,
						 .userspace_addr = (uintptr_t)ram};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &m))
		T_BAIL("KVM_SET_USER_MEMORY_REGION");

	/* Real mode at reset: no paging. */
	T_TR(0xffff0, 0xffff0, "reset state: identity");

	test_paging_off();
	test_long(maxphy, amd);
	test_pae();
	test_32bit();

	T_ERR(ioctl(vcpu, KVM_TRANSLATE, T_BADPTR), EFAULT, "KVM_TRANSLATE bad pointer");
	T_ERR(ioctl(vm, KVM_TRANSLATE, &tr), ENOTTY, "KVM_TRANSLATE on a VM fd");
	T_ERR(ioctl(kvm, KVM_TRANSLATE, &tr), EINVAL, "KVM_TRANSLATE on the system fd");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
