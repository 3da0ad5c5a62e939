/* KVM_GET/SET_REGS and KVM_GET/SET_SREGS (KVM API 4.11-4.14): the reset
 * state of a new vCPU, round trips, and kvm_is_valid_sregs()'s refusals. */
#include "t.h"

static int vcpu;
static struct kvm_sregs s0;

static void obs_seg(const char *n, const struct kvm_segment *s)
{
	char key[32];
	snprintf(key, sizeof(key), "reset_%s", n);
	printf("# obs %s=base=%llx limit=%x sel=%x type=%u p=%u dpl=%u db=%u s=%u l=%u g=%u avl=%u unusable=%u\n",
	       key, (unsigned long long)s->base, s->limit, s->selector, s->type,
	       s->present, s->dpl, s->db, s->s, s->l, s->g, s->avl, s->unusable);
}

/* Set s0 with one change; expect `err` (0 = success). */
static struct kvm_sregs try_set(struct kvm_sregs s, int err, const char *what)
{
	if (err) {
		T_ERR(ioctl(vcpu, KVM_SET_SREGS, &s), err, "SET_SREGS refuses %s", what);
	} else {
		T_EQ(ioctl(vcpu, KVM_SET_SREGS, &s), 0, "SET_SREGS accepts %s", what);
	}
	struct kvm_sregs g;
	ioctl(vcpu, KVM_GET_SREGS, &g);
	ioctl(vcpu, KVM_SET_SREGS, &s0);
	return g;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);
	int vcpu1 = t_create_vcpu(vm, 1);

	/* Reset state (SDM 9.1.1, KVM's kvm_vcpu_reset). */
	struct kvm_regs r;
	T_EQ(ioctl(vcpu, KVM_GET_REGS, &r), 0, "GET_REGS");
	T_EQ(r.rip, 0xfff0, "reset RIP");
	T_EQ(r.rflags, 2, "reset RFLAGS");
	T_EQ(r.rdx, 0x600, "reset RDX without CPUID");
	T_EQ(r.rax | r.rbx | r.rcx | r.rsp | r.rbp | r.rsi | r.rdi | r.r8 | r.r15, 0,
	     "other GPRs are 0");
	T_EQ(ioctl(vcpu, KVM_GET_SREGS, &s0), 0, "GET_SREGS");
	obs_seg("cs", &s0.cs);
	obs_seg("ds", &s0.ds);
	obs_seg("es", &s0.es);
	obs_seg("fs", &s0.fs);
	obs_seg("gs", &s0.gs);
	obs_seg("ss", &s0.ss);
	obs_seg("tr", &s0.tr);
	obs_seg("ldt", &s0.ldt);
	T_EQ(s0.cs.selector, 0xf000, "reset CS selector");
	T_EQ(s0.cs.base, 0xffff0000, "reset CS base");
	T_OBS("reset_gdt", "%llx/%x", (unsigned long long)s0.gdt.base, s0.gdt.limit);
	T_OBS("reset_idt", "%llx/%x", (unsigned long long)s0.idt.base, s0.idt.limit);
	T_EQ(s0.cr0, 0x60000010, "reset CR0: CD, NW, ET");
	T_EQ(s0.cr2 | s0.cr3 | s0.cr4 | s0.cr8 | s0.efer, 0, "reset CR2-4, CR8, EFER are 0");
	T_EQ(s0.apic_base, 0xfee00900, "BSP APIC base: enabled, BSP");
	T_EQ(s0.interrupt_bitmap[0] | s0.interrupt_bitmap[1] | s0.interrupt_bitmap[2] |
	     s0.interrupt_bitmap[3], 0, "no interrupt pending");
	struct kvm_sregs s1;
	ioctl(vcpu1, KVM_GET_SREGS, &s1);
	T_EQ(s1.apic_base, 0xfee00800, "AP APIC base: enabled, not BSP");

	/* Round trips. */
	struct kvm_regs w = r;
	w.rax = 0x1122334455667788ULL;
	w.r15 = 15;
	w.rip = 0x1234;
	w.rflags = 0x0;
	T_EQ(ioctl(vcpu, KVM_SET_REGS, &w), 0, "SET_REGS");
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_OK(r.rax == w.rax && r.r15 == 15 && r.rip == 0x1234, "REGS round trip");
	T_EQ(r.rflags, 2, "RFLAGS bit 1 reads as 1");
	T_ERR(ioctl(vcpu, KVM_GET_REGS, T_BADPTR), EFAULT, "GET_REGS bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_REGS, T_BADPTR), EFAULT, "SET_REGS bad pointer");
	T_ERR(ioctl(vcpu, KVM_GET_SREGS, T_BADPTR), EFAULT, "GET_SREGS bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_SREGS, T_BADPTR), EFAULT, "SET_SREGS bad pointer");
	T_ERR(ioctl(vm, KVM_GET_SREGS, &s1), ENOTTY, "GET_SREGS on the VM fd");

	/* A 64-bit protected-mode state goes through unchanged. */
	struct kvm_sregs lm = s0, g;
	lm.cr0 = 0x80050033;
	lm.cr4 = 0x20 | 0x200 | 0x400;
	lm.efer = 0xd01;
	lm.cr3 = 0x1000;
	lm.cs = (struct kvm_segment){.base = 0, .limit = 0xffffffff, .selector = 8,
				     .type = 11, .present = 1, .s = 1, .l = 1, .g = 1};
	lm.ds = lm.es = lm.ss = (struct kvm_segment){.limit = 0xffffffff, .selector = 0x10,
						    .type = 3, .present = 1, .s = 1, .db = 1, .g = 1};
	lm.gdt = (struct kvm_dtable){.base = 0x500, .limit = 0x27};
	lm.idt = (struct kvm_dtable){.base = 0x600, .limit = 0xfff};
	lm.cr2 = 0xdead000;
	lm.cr8 = 5;
	lm.fs.base = 0x7fff00001000ULL;
	g = try_set(lm, 0, "a long-mode state");
	T_OK(g.cr0 == lm.cr0 && g.cr4 == lm.cr4 && g.efer == lm.efer && g.cr3 == lm.cr3 &&
	     g.cr2 == lm.cr2 && g.cr8 == 5, "long-mode control registers round trip");
	T_OK(!memcmp(&g.cs, &lm.cs, sizeof(g.cs)) && !memcmp(&g.ss, &lm.ss, sizeof(g.ss)) &&
	     g.fs.base == lm.fs.base, "segments round trip");
	T_OK(g.gdt.base == 0x500 && g.gdt.limit == 0x27 && g.idt.base == 0x600 &&
	     g.idt.limit == 0xfff, "descriptor tables round trip");

	/* kvm_is_valid_sregs and friends. */
	struct kvm_sregs t;
	t = s0; t.cr0 = 0x80000010;
	try_set(t, EINVAL, "CR0.PG without PE");
	t = s0; t.cr0 = 0x20000010;
	try_set(t, EINVAL, "CR0.NW without CD");
	t = s0; t.cr0 = 0x100000010ULL;
	try_set(t, EINVAL, "CR0 bits 63:32");
	t = s0; t.cr4 = 1 << 13;
	try_set(t, EINVAL, "CR4.VMXE without VMX");
	t = s0; t.cr4 = 1 << 14;
	try_set(t, EINVAL, "CR4.SMXE");
	t = s0; t.cr4 = 1 << 15;
	try_set(t, EINVAL, "reserved CR4 bit 15");
	t = s0; t.cr4 = 1ULL << 40;
	try_set(t, EINVAL, "reserved CR4 bit 40");
	t = s0; t.cr4 = 0x20;
	g = try_set(t, 0, "CR4.PAE");
	T_EQ(g.cr4, 0x20, "CR4.PAE kept");
	t = lm; t.efer = 0x501 & ~0x400;
	try_set(t, EINVAL, "LME+PG without LMA");
	t = lm; t.cr4 = 0;
	try_set(t, EINVAL, "long mode without PAE");
	t = lm; t.cr3 = 1ULL << 36;
	try_set(t, EINVAL, "long-mode CR3 beyond MAXPHYADDR 36");
	t = s0; t.efer = 0x400;
	try_set(t, EINVAL, "EFER.LMA outside long mode");
	t = s0; t.cs.l = 1;
	try_set(t, EINVAL, "CS.L outside long mode");
	/* The VMM may load any EFER the vendor code takes (no reserved-bit
	 * check on this path, unlike WRMSR). */
	t = s0; t.efer = 1;
	g = try_set(t, 0, "EFER.SCE");
	T_EQ(g.efer, 1, "EFER.SCE kept");
	t = s0; t.efer = 0x100;
	g = try_set(t, 0, "EFER.LME without paging");
	T_EQ(g.efer, 0x100, "EFER.LME kept");
	/* CR8 holds 4 bits: KVM ignores a wider value, successfully. */
	t = s0; t.cr8 = 16;
	g = try_set(t, 0, "CR8 = 16");
	T_EQ(g.cr8, 0, "CR8 = 16 ignored");

	/* APIC base (kvm_set_apic_base). */
	t = s0; t.apic_base = 0xfee00000 | 0xc00;
	try_set(t, EINVAL, "x2APIC without CPUID x2APIC");
	t = s0; t.apic_base = 0xfee00000 | 0x400;
	try_set(t, EINVAL, "EXTD without EN");
	t = s0; t.apic_base = 0xfee00900 | 1;
	try_set(t, EINVAL, "APIC base reserved bit 0");
	t = s0; t.apic_base = 0x1000000000ULL | 0x900;
	try_set(t, EINVAL, "APIC base beyond MAXPHYADDR");
	t = s0; t.apic_base = 0xfee00000;
	g = try_set(t, 0, "a disabled APIC");
	T_EQ(g.apic_base, 0xfee00000, "disabled APIC base kept");
	t = s0; t.apic_base = 0xfec00800;
	g = try_set(t, 0, "a moved APIC base, BSP clear");
	T_EQ(g.apic_base, 0xfec00800, "moved APIC base kept");

	/* interrupt_bitmap: the lowest set vector is queued for injection and
	 * reads back (KVM API 4.14). */
	t = s0;
	t.interrupt_bitmap[0] = 1ULL << 5 | 1ULL << 7;
	g = try_set(t, 0, "an interrupt bitmap");
	T_EQ(g.interrupt_bitmap[0], 1ULL << 5, "lowest pending vector reads back");
	t = s0;
	t.interrupt_bitmap[3] = 1ULL << 8;
	g = try_set(t, 0, "vector 200 in the bitmap");
	T_EQ(g.interrupt_bitmap[3], 1ULL << 8, "vector 200 reads back");
	struct kvm_vcpu_events ev;
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev);
	T_OK(ev.interrupt.injected && ev.interrupt.nr == 200,
	     "an empty bitmap leaves the queued interrupt alone");

	close(vcpu1);
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
