/*
 * Unit tests of the local APIC (src/hw/lapic.c) on a virtual clock.
 * Expectations come from the Intel SDM Vol. 3A chapter 11 (Table 11-1 and
 * the reset state KVM gives a vCPU), with the 1 GHz bus clock KVM uses.
 */
#include <asm/kvm.h>
#include <errno.h>
#include <string.h>

#include "hw/lapic.h"
#include "unit_t.h"

#define ICR_BUSY_TEST BIT(12)

static struct hw_bus mmio;
static struct lapic la, lb;
static u64 clk;
static struct lapic_ipi last_ipi;
static struct lapic *last_src;
static int ipis, eois, last_eoi_vec, last_eoi_level;

static u64 now_cb(void *c) { (void)c; return clk; }

static void ipi_cb(void *opaque, struct lapic *src, const struct lapic_ipi *ipi)
{
	(void)opaque;
	last_ipi = *ipi;
	last_src = src;
	ipis++;
}

static void eoi_cb(void *opaque, u8 vector, bool level)
{
	(void)opaque;
	eois++;
	last_eoi_vec = vector;
	last_eoi_level = level;
}

static u32 rd(u32 off)
{
	u32 v = 0;
	hw_bus_read(&mmio, LAPIC_DEFAULT_BASE + off, 4, &v);
	return v;
}

static void wr(u32 off, u32 v) { hw_bus_write(&mmio, LAPIC_DEFAULT_BASE + off, 4, &v); }

static void fresh(u32 opts)
{
	hw_bus_unregister(&mmio, &la.dev);
	lapic_destroy(&la);
	lapic_init(&la, 0, opts, true, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	lapic_register(&la, &mmio);
	clk = 0;
}

static void test_reset(void)
{
	fresh(0);
	EQ(lapic_get_base(&la), 0xfee00900, "APIC_BASE: default address, EN, BSP");
	EQ(rd(LAPIC_ID), 0, "ID = vCPU id 0 in bits 31:24");
	EQ(rd(LAPIC_LVR), 0x50014, "version 0x14, 6 LVT entries (KVM without CMCI)");
	EQ(rd(LAPIC_SVR), 0xff, "SVR 0xff: software disabled");
	EQ(rd(LAPIC_DFR), 0xffffffff, "DFR flat");
	EQ(rd(LAPIC_TPR) | rd(LAPIC_PPR) | rd(LAPIC_LDR) | rd(LAPIC_APR), 0, "TPR, PPR, LDR, APR 0");
	EQ(rd(LAPIC_LVT_TIMER), 0x10000, "LVT timer masked");
	EQ(rd(LAPIC_LVT_LINT0), 0x700, "BSP LINT0: ExtINT unmasked (KVM quirk)");
	EQ(rd(LAPIC_LVT_LINT1), 0x10000, "LINT1 masked");
	EQ(rd(LAPIC_LVT_ERROR), 0x10000, "LVT error masked");
	EQ(rd(LAPIC_LVT_CMCI), 0, "no CMCI entry: reads 0");
	EQ(rd(LAPIC_TMICT) | rd(LAPIC_TMCCT) | rd(LAPIC_TDCR) | rd(LAPIC_ESR), 0, "timer, ESR 0");
	EQ(rd(LAPIC_EOI), 0, "EOI is write-only: reads 0");
	wr(LAPIC_LVR, 0);
	EQ(rd(LAPIC_LVR), 0x50014, "version is read-only");
	lapic_destroy(&lb);
	lapic_init(&lb, 3, LAPIC_OPT_CMCI | LAPIC_OPT_EOI_SUPPRESS, false, ipi_cb, eoi_cb, NULL,
		   now_cb, NULL);
	struct lapic_state st;
	lapic_get_state(&lb, &st, false, 0);
	u32 v;
	memcpy(&v, st.regs + LAPIC_LVR, 4);
	EQ(v, 0x1060014, "CMCI + EOI suppression: 7 LVTs, bit 24");
	memcpy(&v, st.regs + LAPIC_ID, 4);
	EQ(v, 0x03000000, "AP id 3");
	memcpy(&v, st.regs + LAPIC_LVT_LINT0, 4);
	EQ(v, 0x10000, "AP LINT0 masked");
	EQ(lapic_get_base(&lb), 0xfee00800, "AP APIC_BASE without BSP");
}

static void test_registers(void)
{
	fresh(0);
	wr(LAPIC_ID, 0x12345678);
	EQ(rd(LAPIC_ID), 0x12000000, "xAPIC ID keeps bits 31:24");
	wr(LAPIC_LDR, 0xffffffff);
	EQ(rd(LAPIC_LDR), 0xff000000, "LDR bits 31:24");
	wr(LAPIC_DFR, 0);
	EQ(rd(LAPIC_DFR), 0x0fffffff, "DFR model bits only");
	wr(LAPIC_TPR, 0x1ff);
	EQ(rd(LAPIC_TPR), 0xff, "TPR 8 bits");
	wr(LAPIC_SVR, 0xffffffff);
	EQ(rd(LAPIC_SVR), 0x3ff, "SVR: no EOI suppression without the LVR bit");
	wr(LAPIC_LVT_LINT1, 0xffffffff);
	EQ(rd(LAPIC_LVT_LINT1), 0x1f7ff, "LINT1 writable bits");
	wr(LAPIC_LVT_TIMER, 0xffffffff);
	EQ(rd(LAPIC_LVT_TIMER), 0x310ff, "timer: periodic bit only without TSC deadline");
	wr(LAPIC_LVT_THERMAL, 0xffffffff);
	EQ(rd(LAPIC_LVT_THERMAL), 0x117ff, "thermal: mask, delivery mode, vector");
	wr(LAPIC_LVT_ERROR, 0xffffffff);
	EQ(rd(LAPIC_LVT_ERROR), 0x110ff, "error: mask, vector");
	wr(LAPIC_TDCR, 0xff);
	EQ(rd(LAPIC_TDCR), 0xb, "TDCR bits 3,1:0");
	wr(LAPIC_ICR2, 0xffffffff);
	EQ(rd(LAPIC_ICR2), 0xff000000, "ICR2 destination byte");
	wr(LAPIC_PPR, 0xff);
	wr(LAPIC_TPR, 0);
	EQ(rd(LAPIC_PPR), 0, "PPR read-only");
	u16 half = 0;
	hw_bus_read(&mmio, LAPIC_DEFAULT_BASE + LAPIC_LVR + 2, 2, &half);
	EQ(half, 5, "2-byte read inside a register");
	u32 nine = 0x99;
	hw_bus_write(&mmio, LAPIC_DEFAULT_BASE + LAPIC_TPR + 4, 4, &nine);
	EQ(rd(LAPIC_TPR), 0, "unaligned write dropped");
	lapic_set_base(&la, 0xfee00100);
	EQ(rd(LAPIC_ID), 0xffffffff, "hardware-disabled APIC: MMIO reads all ones");
	lapic_set_base(&la, 0xfee00900);
	EQ(rd(LAPIC_ID), 0, "re-enabled: ID back to the vCPU id");
	EQ(rd(LAPIC_TPR), 0, "disable reset the registers");
}

static void test_priority_flow(void)
{
	fresh(0);
	OK(!lapic_accept_irq(&la, 0x40, LAPIC_DM_FIXED, false, true), "software-disabled: fixed refused");
	OK(lapic_accept_irq(&la, 0, LAPIC_DM_NMI, false, true), "software-disabled: NMI accepted");
	wr(LAPIC_SVR, 0x1ff);
	OK(lapic_accept_irq(&la, 0x41, LAPIC_DM_FIXED, false, true), "fixed accepted");
	OK(!lapic_accept_irq(&la, 0x93, LAPIC_DM_FIXED, true, false), "level de-assert dropped");
	OK(lapic_accept_irq(&la, 0x92, LAPIC_DM_FIXED, true, true), "level accepted");
	EQ(rd(LAPIC_IRR + 0x20), 1u << 1, "IRR bit 0x41");
	EQ(rd(LAPIC_IRR + 0x40), 1u << 18, "IRR bit 0x92");
	EQ(rd(LAPIC_TMR + 0x40), 1u << 18, "TMR set for level");
	wr(LAPIC_TPR, 0x95);
	EQ(lapic_has_interrupt(&la), -1, "TPR class 9 blocks 0x92");
	wr(LAPIC_TPR, 0x85);
	EQ(lapic_has_interrupt(&la), 0x92, "TPR class 8 lets 0x92 through");
	EQ(lapic_ack(&la), 0x92, "ack returns 0x92");
	EQ(rd(LAPIC_ISR + 0x40), 1u << 18, "ISR bit 0x92");
	EQ(rd(LAPIC_IRR + 0x40), 0, "IRR bit cleared");
	EQ(rd(LAPIC_PPR), 0x90, "PPR = ISR class 0x90 > TPR 0x85");
	wr(LAPIC_TPR, 0xa3);
	EQ(rd(LAPIC_PPR), 0xa3, "PPR = TPR when its class is higher");
	wr(LAPIC_TPR, 0);
	EQ(lapic_has_interrupt(&la), -1, "0x41 below the in-service class");
	OK(lapic_accept_irq(&la, 0x95, LAPIC_DM_FIXED, false, true), "0x95 accepted");
	EQ(lapic_has_interrupt(&la), -1, "same class as in service: blocked");
	OK(lapic_accept_irq(&la, 0xa0, LAPIC_DM_FIXED, false, true), "0xa0 accepted");
	EQ(lapic_ack(&la), 0xa0, "higher class nests");
	eois = 0;
	wr(LAPIC_EOI, 0);
	EQ(eois, 1, "edge EOI reported");
	EQ(last_eoi_vec, 0xa0, "EOI clears the highest ISR bit first");
	EQ(last_eoi_level, 0, "edge");
	wr(LAPIC_EOI, 0);
	EQ(last_eoi_vec, 0x92, "then 0x92");
	EQ(last_eoi_level, 1, "level from TMR");
	EQ(lapic_ack(&la), 0x95, "0x95 next");
	wr(LAPIC_EOI, 0);
	EQ(lapic_ack(&la), 0x41, "0x41 last");
	wr(LAPIC_EOI, 0);
	eois = 0;
	wr(LAPIC_EOI, 0);
	EQ(eois, 0, "EOI with nothing in service does nothing");
	OK(lapic_accept_irq(&la, 0x33, LAPIC_DM_STARTUP, false, true), "SIPI");
	OK(lapic_accept_irq(&la, 0, LAPIC_DM_INIT, true, true), "INIT assert");
	OK(!lapic_accept_irq(&la, 0, LAPIC_DM_INIT, true, false), "INIT de-assert ignored");
	OK(lapic_accept_irq(&la, 0, LAPIC_DM_EXTINT, false, true), "ExtINT");
	u8 sipi = 0;
	EQ(lapic_take_events(&la, &sipi), LAPIC_EV_NMI | LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_EXTINT,
	   "events recorded");
	EQ(sipi, 0x33, "SIPI vector");
	EQ(lapic_take_events(&la, NULL), 0, "events taken");
	/* EOI-broadcast suppression (SDM 11.8.5). */
	lapic_destroy(&lb);
	lapic_init(&lb, 1, LAPIC_OPT_EOI_SUPPRESS, false, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	lapic_mmio_write(&lb, LAPIC_SVR, 0x11ff, 0);
	EQ(lapic_mmio_read(&lb, LAPIC_SVR, 0), 0x11ff, "SVR bit 12 writable when advertised");
	lapic_accept_irq(&lb, 0x50, LAPIC_DM_FIXED, true, true);
	lapic_ack(&lb);
	eois = 0;
	lapic_mmio_write(&lb, LAPIC_EOI, 0, 0);
	EQ(eois, 0, "suppressed level EOI not broadcast");
	EQ(lapic_mmio_read(&lb, LAPIC_ISR + 0x20, 0), 0, "but the ISR bit is cleared");
}

static void test_esr_and_masking(void)
{
	fresh(0);
	wr(LAPIC_SVR, 0x1ff);
	wr(LAPIC_LVT_ERROR, 0xfe);
	OK(!lapic_accept_irq(&la, 5, LAPIC_DM_FIXED, false, true), "vector 5 refused");
	EQ(rd(LAPIC_ESR), 0, "ESR shows nothing before a write");
	EQ(lapic_ack(&la), 0xfe, "error interrupt raised");
	wr(LAPIC_EOI, 0);
	wr(LAPIC_ESR, 0);
	EQ(rd(LAPIC_ESR), 0x40, "write latches receive-illegal-vector");
	ipis = 0;
	wr(LAPIC_ICR, 0x00004003);
	EQ(ipis, 0, "ICR vector 3 not sent");
	wr(LAPIC_ESR, 0);
	EQ(rd(LAPIC_ESR), 0x20, "send illegal vector; the old error is gone");
	wr(LAPIC_ESR, 0);
	EQ(rd(LAPIC_ESR), 0, "nothing new: 0");
	wr(LAPIC_LVT_LINT1, 0x400);
	wr(LAPIC_LVT_TIMER, 0x20030);
	wr(LAPIC_SVR, 0xff);
	EQ(rd(LAPIC_LVT_LINT1), 0x10400, "software disable masks LINT1");
	EQ(rd(LAPIC_LVT_TIMER), 0x30030, "and the timer");
	EQ(rd(LAPIC_LVT_ERROR), 0x100fe, "and the error entry");
	wr(LAPIC_LVT_LINT1, 0x400);
	EQ(rd(LAPIC_LVT_LINT1), 0x10400, "LVT writes stay masked while disabled");
	wr(LAPIC_SVR, 0x1ff);
	EQ(rd(LAPIC_LVT_LINT1), 0x10400, "enable does not unmask");
	wr(LAPIC_LVT_LINT1, 0x400);
	lapic_lint(&la, 1);
	EQ(lapic_take_events(&la, NULL), LAPIC_EV_NMI, "LINT1 as NMI");
}

/* Run each timer mode at several divides. */
static void test_timer(void)
{
	static const struct {
		u32 tdcr;
		u64 div;
	} divs[] = {{0x0, 2}, {0x3, 16}, {0x8, 32}, {0xa, 128}, {0xb, 1}};
	for (unsigned i = 0; i < ARRAY_SIZE(divs); i++) {
		fresh(LAPIC_OPT_TSC_DEADLINE);
		u64 d = divs[i].div;
		wr(LAPIC_SVR, 0x1ff);
		wr(LAPIC_TDCR, divs[i].tdcr);
		wr(LAPIC_LVT_TIMER, 0x40); /* one-shot, vector 0x40 */
		clk = 1000;
		wr(LAPIC_TMICT, 1000);
		OK(rd(LAPIC_TMCCT) == 1000, "one-shot: current count starts at TMICT");
		EQ(lapic_timer_next_event(&la), 1000 + 1000 * d, "one-shot expiry = TMICT * divide ns");
		clk = 1000 + 250 * d + d - 1;
		EQ(rd(LAPIC_TMCCT), 750, "count after 250 ticks");
		lapic_timer_advance(&la, clk);
		EQ(lapic_has_interrupt(&la), -1, "not yet");
		clk = 1000 + 1000 * d;
		lapic_timer_advance(&la, clk);
		EQ(lapic_has_interrupt(&la), 0x40, "fires at expiry");
		EQ(rd(LAPIC_TMCCT), 0, "one-shot ends at 0");
		EQ(lapic_timer_next_event(&la), UINT64_MAX, "no further event");
		lapic_ack(&la);
		wr(LAPIC_EOI, 0);
		/* Periodic. */
		wr(LAPIC_LVT_TIMER, 0x20041);
		EQ(rd(LAPIC_TMICT), 1000, "one-shot to periodic keeps TMICT (KVM)");
		EQ(lapic_timer_next_event(&la), UINT64_MAX, "an expired one-shot does not restart");
		clk = 5000;
		wr(LAPIC_TMICT, 100);
		EQ(lapic_timer_next_event(&la), 5000 + 100 * d, "periodic first expiry");
		clk = 5000 + 350 * d;
		EQ(rd(LAPIC_TMCCT), 50, "periodic count wraps");
		lapic_timer_advance(&la, clk);
		EQ(lapic_ack(&la), 0x41, "missed periods give one interrupt");
		wr(LAPIC_EOI, 0);
		EQ(lapic_timer_next_event(&la), 5000 + 400 * d, "next period boundary");
		wr(LAPIC_LVT_TIMER, 0x30041);
		clk = 5000 + 400 * d;
		lapic_timer_advance(&la, clk);
		EQ(lapic_has_interrupt(&la), -1, "masked: no interrupt");
		EQ(lapic_timer_next_event(&la), 5000 + 500 * d, "but the count goes on");
		wr(LAPIC_LVT_TIMER, 0x20041);
		/* Periodic to one-shot: ends at the current period's end. */
		wr(LAPIC_LVT_TIMER, 0x00041);
		clk = 5000 + 430 * d;
		EQ(rd(LAPIC_TMCCT), 70, "one-shot counts on from the periodic count");
		EQ(lapic_timer_next_event(&la), 5000 + 500 * d, "expiry kept");
		lapic_timer_advance(&la, 5000 + 700 * d);
		EQ(lapic_ack(&la), 0x41, "fires once");
		wr(LAPIC_EOI, 0);
		EQ(lapic_timer_next_event(&la), UINT64_MAX, "then stops");
		wr(LAPIC_TMICT, 100);
		/* TSC deadline. */
		wr(LAPIC_LVT_TIMER, 0x40042);
		EQ(rd(LAPIC_TMICT), 0, "entering TSC-deadline mode clears TMICT");
		EQ(lapic_timer_next_event(&la), UINT64_MAX, "and stops the timer");
		wr(LAPIC_TMICT, 5);
		EQ(rd(LAPIC_TMICT), 0, "TMICT ignored in TSC-deadline mode");
		lapic_set_tsc_deadline(&la, 12345, clk + 777);
		EQ(lapic_get_tsc_deadline(&la), 12345, "deadline MSR reads back");
		EQ(lapic_timer_next_event(&la), clk + 777, "deadline on the clock");
		lapic_timer_advance(&la, clk + 776);
		EQ(lapic_has_interrupt(&la), -1, "before the deadline");
		lapic_timer_advance(&la, clk + 777);
		EQ(lapic_has_interrupt(&la), 0x42, "at the deadline");
		EQ(lapic_get_tsc_deadline(&la), 0, "deadline cleared after firing");
		EQ(rd(LAPIC_TMCCT), 0, "TMCCT 0 in TSC-deadline mode");
	}
	/* Divide change mid-count keeps the count (SDM 11.5.4). */
	fresh(0);
	wr(LAPIC_SVR, 0x1ff);
	wr(LAPIC_LVT_TIMER, 0x40);
	wr(LAPIC_TMICT, 1000); /* divide 2 */
	clk = 400;
	wr(LAPIC_TDCR, 0xb); /* divide 1 */
	EQ(rd(LAPIC_TMCCT), 800, "count kept across a divide change");
	EQ(lapic_timer_next_event(&la), 1200, "remaining 800 ticks at divide 1");
	lapic_set_tsc_deadline(&la, 99, 5);
	EQ(lapic_get_tsc_deadline(&la), 0, "deadline MSR ignored outside TSC-deadline mode");
}

static void test_x2apic(void)
{
	u64 v = 0;
	lapic_destroy(&lb);
	lapic_init(&lb, 0x35, 0, false, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	OK(lapic_msr_read(&lb, 0x802, &v, 0) < 0, "x2APIC MSRs #GP in xAPIC mode");
	lapic_mmio_write(&lb, LAPIC_LDR, 0x55000000, 0);
	lapic_set_base(&lb, 0xfee00c00);
	OK(lapic_x2apic_mode(&lb), "x2APIC mode");
	OK(!lapic_msr_read(&lb, 0x802, &v, 0), "ID MSR");
	EQ(v, 0x35, "32-bit ID = vCPU id");
	lapic_msr_read(&lb, 0x80d, &v, 0);
	EQ(v, 0x30020, "LDR = cluster 3, bit 5");
	OK(lapic_msr_write(&lb, 0x802, 1, 0) < 0, "ID write #GP");
	OK(lapic_msr_write(&lb, 0x80d, 1, 0) < 0, "LDR write #GP");
	OK(lapic_msr_read(&lb, 0x80e, &v, 0) < 0, "no DFR");
	OK(lapic_msr_read(&lb, 0x80b, &v, 0) < 0, "EOI read #GP");
	OK(lapic_msr_read(&lb, 0x83f, &v, 0) < 0, "SELF_IPI read #GP");
	OK(lapic_msr_read(&lb, 0x809, &v, 0) < 0, "no APR");
	OK(lapic_msr_read(&lb, 0x831, &v, 0) < 0, "no ICR2");
	OK(lapic_msr_write(&lb, 0x803, 0, 0) < 0, "version write #GP");
	OK(lapic_msr_write(&lb, 0x808, 1ULL << 32, 0) < 0, "high bits set #GP");
	OK(lapic_msr_write(&lb, 0x828, 1, 0) < 0, "ESR non-zero write #GP");
	OK(!lapic_msr_write(&lb, 0x828, 0, 0), "ESR zero write");
	OK(lapic_msr_write(&lb, 0x830, BIT(13), 0) < 0, "ICR reserved bit 13 #GP");
	OK(lapic_msr_write(&lb, 0x830, BIT(20), 0) < 0, "ICR reserved bit 20 #GP");
	OK(lapic_msr_read(&lb, 0x840, &v, 0) < 0, "past 0x83f #GP");
	EQ(lapic_mmio_read(&lb, LAPIC_ID, 0), 0xffffffff, "MMIO reads all ones in x2APIC mode");
	ipis = 0;
	OK(!lapic_msr_write(&lb, 0x830, 0x0000001200004431ULL | ICR_BUSY_TEST, 0), "ICR write");
	EQ(ipis, 1, "one IPI");
	EQ(last_ipi.dest, 0x12, "32-bit destination");
	EQ(last_ipi.vector, 0x31, "vector");
	EQ(last_ipi.delivery_mode, LAPIC_DM_NMI, "delivery mode");
	OK(last_src == &lb && last_ipi.level && !last_ipi.dest_mode, "level, physical, source");
	lapic_msr_read(&lb, 0x830, &v, 0);
	EQ(v, 0x0000001200004431ULL, "ICR reads back 64 bits without busy");
	lapic_msr_write(&lb, 0x80f, 0x1ff, 0);
	OK(!lapic_msr_write(&lb, 0x83f, 0x61, 0), "SELF_IPI");
	OK(lapic_msr_write(&lb, 0x83f, 0x161, 0) < 0, "SELF_IPI reserved bits #GP");
	EQ(lapic_ack(&lb), 0x61, "self IPI in IRR");
	OK(!lapic_msr_write(&lb, 0x80b, 0, 0), "EOI");
	EQ(lapic_ppr(&lb), 0, "ISR empty");
	lapic_set_base(&lb, 0xfee00800);
	EQ(lapic_mmio_read(&lb, LAPIC_ID, 0), 0x35000000, "x2APIC to xAPIC (VMM): ID re-derived");
	lapic_set_base(&lb, 0xfee00c00);
	lapic_msr_write(&lb, 0x808, 0x30, 0);
	lapic_reset(&lb, true);
	OK(lapic_x2apic_mode(&lb), "INIT keeps x2APIC mode");
	lapic_msr_read(&lb, 0x80d, &v, 0);
	EQ(v, 0x30020, "INIT keeps the x2APIC LDR");
	lapic_msr_read(&lb, 0x808, &v, 0);
	EQ(v, 0, "INIT clears TPR");
	lapic_set_base(&lb, 0);
	OK(!lapic_x2apic_mode(&lb), "disabled");
	lapic_set_base(&lb, 0xfee00800);
	EQ(lapic_mmio_read(&lb, LAPIC_ID, 0), 0x35000000, "xAPIC again: ID 0x35 << 24");
	EQ(lapic_mmio_read(&lb, LAPIC_LDR, 0), 0, "LDR reset");
}

static void test_dest(void)
{
	lapic_destroy(&lb);
	lapic_init(&lb, 2, 0, false, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	struct lapic *other = &la;
	OK(lapic_match_dest(&lb, 2, 0, LAPIC_SH_NONE, NULL), "physical match");
	OK(!lapic_match_dest(&lb, 3, 0, LAPIC_SH_NONE, NULL), "physical mismatch");
	OK(lapic_match_dest(&lb, 0xff, 0, LAPIC_SH_NONE, NULL), "physical broadcast");
	lapic_mmio_write(&lb, LAPIC_LDR, 0x24000000, 0);
	OK(lapic_match_dest(&lb, 0x04, 1, LAPIC_SH_NONE, NULL), "flat: bit overlap");
	OK(lapic_match_dest(&lb, 0x21, 1, LAPIC_SH_NONE, NULL), "flat: any common bit");
	OK(!lapic_match_dest(&lb, 0x41, 1, LAPIC_SH_NONE, NULL), "flat: no common bit");
	OK(lapic_match_dest(&lb, 0xff, 1, LAPIC_SH_NONE, NULL), "logical broadcast");
	lapic_mmio_write(&lb, LAPIC_DFR, 0x0fffffff, 0);
	OK(lapic_match_dest(&lb, 0x26, 1, LAPIC_SH_NONE, NULL), "cluster 2, member bit 2");
	OK(!lapic_match_dest(&lb, 0x36, 1, LAPIC_SH_NONE, NULL), "other cluster");
	OK(!lapic_match_dest(&lb, 0x23, 1, LAPIC_SH_NONE, NULL), "cluster 2, other members");
	OK(lapic_match_dest(&lb, 0, 0, LAPIC_SH_SELF, &lb), "self");
	OK(!lapic_match_dest(&lb, 0, 0, LAPIC_SH_SELF, other), "self of another");
	OK(lapic_match_dest(&lb, 0, 0, LAPIC_SH_ALL, &lb), "all including self");
	OK(!lapic_match_dest(&lb, 0, 0, LAPIC_SH_ALL_BUT_SELF, &lb), "all but self: not me");
	OK(lapic_match_dest(&lb, 0, 0, LAPIC_SH_ALL_BUT_SELF, other), "all but self: others");
	lapic_set_base(&lb, 0xfee00c00); /* x2APIC, id 2: LDR 0x00000004 */
	OK(lapic_match_dest(&lb, 2, 0, LAPIC_SH_NONE, other), "x2APIC physical");
	OK(!lapic_match_dest(&lb, 0x102, 0, LAPIC_SH_NONE, other), "x2APIC physical 32 bits");
	OK(lapic_match_dest(&lb, 0xffffffff, 0, LAPIC_SH_NONE, other), "x2APIC broadcast");
	OK(!lapic_match_dest(&lb, 0xff, 0, LAPIC_SH_NONE, other), "0xff from an IPI is an ID");
	OK(lapic_match_dest(&lb, 0xff, 0, LAPIC_SH_NONE, NULL), "0xff from IOAPIC/MSI broadcasts");
	OK(lapic_match_dest(&lb, 0x0000000c, 1, LAPIC_SH_NONE, other), "x2APIC cluster 0, bit 2");
	OK(!lapic_match_dest(&lb, 0x00010004, 1, LAPIC_SH_NONE, other), "x2APIC cluster 1");
	lapic_set_base(&lb, 0);
	OK(!lapic_match_dest(&lb, 0, 0, LAPIC_SH_ALL, other), "disabled APIC matches nothing");
}

static void test_state(void)
{
	OK(sizeof(struct lapic_state) == sizeof(struct kvm_lapic_state), "state size = kvm_lapic_state");
	fresh(0);
	wr(LAPIC_SVR, 0x1ff);
	wr(LAPIC_TPR, 0x20);
	wr(LAPIC_TDCR, 0x3);
	wr(LAPIC_LVT_TIMER, 0x20050);
	wr(LAPIC_TMICT, 1000);
	lapic_accept_irq(&la, 0x70, LAPIC_DM_FIXED, true, true);
	lapic_ack(&la);
	lapic_accept_irq(&la, 0x60, LAPIC_DM_FIXED, false, true);
	clk = 16 * 300;
	struct lapic_state st, st2;
	lapic_get_state(&la, &st, false, clk);
	u32 v;
	memcpy(&v, st.regs + LAPIC_TMCCT, 4);
	EQ(v, 700, "saved TMCCT is the current count");
	lapic_destroy(&lb);
	lapic_init(&lb, 0, 0, true, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	EQ(lapic_set_state(&lb, &st, false, 100000), 0, "restore");
	EQ(lapic_mmio_read(&lb, LAPIC_TMCCT, 100000), 700, "count resumes from the image");
	EQ(lapic_timer_next_event(&lb), 100000 + 700 * 16, "remaining time at divide 16");
	EQ(lapic_mmio_read(&lb, LAPIC_PPR, 0), 0x70, "PPR from the restored ISR");
	lapic_get_state(&lb, &st2, false, 100000);
	OK(!memcmp(&st, &st2, sizeof(st)), "round trip is identical");
	/* A one-shot count that reached 0 before the timer fired (saved with
	 * TMCCT 0, nothing in IRR): KVM's restore fires it at once. */
	wr(LAPIC_LVT_TIMER, 0x51);
	wr(LAPIC_TMICT, 100);
	lapic_get_state(&la, &st, false, clk + 16 * 100);
	memcpy(&v, st.regs + LAPIC_TMCCT, 4);
	EQ(v, 0, "one-shot at its end: saved TMCCT 0");
	memcpy(&v, st.regs + LAPIC_IRR + 0x20, 4);
	EQ(v & 1u << (0x51 - 0x40), 0, "... and not yet in IRR");
	lapic_destroy(&lb);
	lapic_init(&lb, 0, 0, true, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	EQ(lapic_set_state(&lb, &st, false, 200000), 0, "restore the one-shot at 0");
	EQ(lapic_timer_next_event(&lb), 200000, "it is due at once (KVM's set_target_expiration)");
	lapic_timer_advance(&lb, 200000);
	lapic_get_state(&lb, &st2, false, 200000);
	memcpy(&v, st2.regs + LAPIC_IRR + 0x20, 4);
	OK(v & 1u << (0x51 - 0x40), "the timer vector reaches IRR");
	EQ(lapic_timer_next_event(&lb), UINT64_MAX, "and the one-shot stops");
	memset(st.regs + LAPIC_TMICT, 0, 4);
	lapic_destroy(&lb);
	lapic_init(&lb, 0, 0, true, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	EQ(lapic_set_state(&lb, &st, false, 200000), 0, "restore a one-shot with TMICT 0");
	EQ(lapic_timer_next_event(&lb), UINT64_MAX, "no timer without an initial count");
	/* x2APIC ID formats (KVM_CAP_X2APIC_API). */
	lapic_destroy(&lb);
	lapic_init(&lb, 5, 0, false, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	lapic_set_base(&lb, 0xfee00c00);
	lapic_get_state(&lb, &st, false, 0);
	memcpy(&v, st.regs + LAPIC_ID, 4);
	EQ(v, 0x05000000, "legacy format: ID << 24");
	lapic_get_state(&lb, &st, true, 0);
	memcpy(&v, st.regs + LAPIC_ID, 4);
	EQ(v, 5, "32-bit ID format");
	EQ(lapic_set_state(&lb, &st, true, 0), 0, "restore with the same ID");
	v = 6;
	memcpy(st.regs + LAPIC_ID, &v, 4);
	EQ(lapic_set_state(&lb, &st, true, 0), -EINVAL, "another x2APIC ID: EINVAL");
	v = 0x07000000;
	memcpy(st.regs + LAPIC_ID, &v, 4);
	v = 0;
	memcpy(st.regs + LAPIC_LDR, &v, 4);
	EQ(lapic_set_state(&lb, &st, false, 0), 0, "legacy format restore");
	u64 q = 0;
	lapic_msr_read(&lb, 0x802, &q, 0);
	EQ(q, 5, "legacy format: the ID given is ignored (KVM)");
	lapic_msr_read(&lb, 0x80d, &q, 0);
	EQ(q, 0x20, "LDR derived from the ID");
}

int main(void)
{
	hw_bus_init(&mmio);
	lapic_init(&la, 0, 0, true, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	lapic_init(&lb, 1, 0, false, ipi_cb, eoi_cb, NULL, now_cb, NULL);
	test_reset();
	test_registers();
	test_priority_flow();
	test_esr_and_masking();
	test_timer();
	test_x2apic();
	test_dest();
	test_state();
	hw_bus_unregister(&mmio, &la.dev);
	lapic_destroy(&la);
	lapic_destroy(&lb);
	hw_bus_destroy(&mmio);
	return done();
}
