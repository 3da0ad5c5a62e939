/*
 * A fake bzImage for `softkvm boot` tests: a real setup header (boot
 * protocol 2.15, 64-bit entry) and, at the 64-bit entry, code that checks
 * the state Documentation/arch/x86/boot.rst promises ("64-bit Boot
 * Protocol"), exercises the 16550 registers, reports the zero page on
 * ttyS0 and leaves through the debug-exit port with status 42 (3 when a
 * check fails).  The command line picks other endings: "triple" ends in a
 * triple fault, "halt" halts with interrupts off, "exit7" exits with 7, "fpui" runs
 * FNINIT and exits with 5, "poweroff" checks the ACPI tables and powers
 * off through PM1a_CNT, "cf9reset" and "kbdreset" reset through port 0xcf9
 * or the i8042, "uartirq" takes THRE and received-data interrupts on IRQ 4,
 * "smpboot" starts vCPU 1 with INIT/SIPI, "virtio" drives the virtio-blk
 * device the DSDT announces, "vcon" its virtio console, "csumN" runs N rounds (default 16) of
 * pseudo-random read-modify-writes over 128 MiB with a running checksum
 * (the migration tests), "snap" takes softkvm boot's in-memory snapshot
 * (port 0x502) and reports whether memory and a counter are as they were,
 * "fill" writes 222 MiB and spins (bench-migrate's restore time).
 *
 * Variants for the loader's error paths (tests/boot/boot.mk): BAD_MAGIC,
 * VERSION=, XLF=, SETUP_SECTS_FIELD=.
 */
#ifndef VERSION
#define VERSION 0x020f
#endif
#ifndef XLF
#define XLF 0x0003		/* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
#endif
#ifndef SETUP_SECTS_FIELD
#define SETUP_SECTS_FIELD 1
#endif
#define SETUP_SECTS 1

#define UART 0x3f8
#define EXIT_PORT 0x501

	.text
	.code64
	.globl _start
_start:
	.org 0x1f1
	.byte SETUP_SECTS_FIELD		/* setup_sects */
	.word 0				/* root_flags */
	.long (payload_end - payload + 15) / 16	/* syssize */
	.word 0				/* ram_size */
	.word 0				/* vid_mode */
	.word 0				/* root_dev */
	.word 0xaa55			/* boot_flag */
	.byte 0xeb, hdr_end - hdr_magic	/* jump over the header */
hdr_magic:
#ifdef BAD_MAGIC
	.ascii "HdrZ"
#else
	.ascii "HdrS"
#endif
	.word VERSION
	.long 0				/* realmode_swtch */
	.word 0				/* start_sys_seg */
	.word 0				/* kernel_version */
	.byte 0				/* type_of_loader */
	.byte 0x01			/* loadflags: LOADED_HIGH */
	.word 0				/* setup_move_size */
	.long 0x100000			/* code32_start */
	.long 0				/* ramdisk_image */
	.long 0				/* ramdisk_size */
	.long 0				/* bootsect_kludge */
	.word 0				/* heap_end_ptr */
	.byte 0, 0			/* ext_loader_ver, ext_loader_type */
	.long 0				/* cmd_line_ptr */
	.long 0x7fffffff		/* initrd_addr_max */
	.long 0x200000			/* kernel_alignment */
	.byte 1				/* relocatable_kernel */
	.byte 21			/* min_alignment */
	.word XLF			/* xloadflags */
	.long 2047			/* cmdline_size */
	.long 0				/* hardware_subarch */
	.quad 0				/* hardware_subarch_data */
	.long 0				/* payload_offset */
	.long 0				/* payload_length */
	.quad 0				/* setup_data */
	.quad 0x1000000			/* pref_address */
	.long 0x100000			/* init_size */
	.long 0				/* handover_offset */
	.long 0				/* kernel_info_offset */
hdr_end:

	.org (SETUP_SECTS + 1) * 512
payload:
startup_32:			/* not used by a 64-bit loader */
	ud2

	.org payload + 0x200
startup_64:
	mov %rsi, %r15
	lea stack_top(%rip), %rsp

.macro PUTS s
	lea .Ls\@(%rip), %rdi
	call puts
	jmp .Le\@
.Ls\@:	.asciz "\s"
.Le\@:
.endm
.macro FAIL_IF cc, what
	j\cc .Lok\@
	jmp .Lf\@
.Lok\@:
	jmp .Ln\@
.Lf\@:
	PUTS "fake: FAIL \what\n"
	mov $3, %al
	jmp exit
.Ln\@:
.endm
.macro UART_OUT reg, val
	mov $(UART + \reg), %dx
	mov $\val, %al
	out %al, %dx
.endm
.macro LOAD64 hi, lo		/* rax = hi:lo, two 32-bit reads (clobbers rcx) */
	mov \hi, %eax
	shl $32, %rax
	mov \lo, %ecx
	or %rcx, %rax
.endm
.macro UART_IN reg
	mov $(UART + \reg), %dx
	in %dx, %al
.endm

	/* boot.rst: CS = __BOOT_CS, DS/ES/SS = __BOOT_DS, interrupts off. */
	mov %cs, %ax
	cmp $0x10, %ax
	FAIL_IF e, "cs"
	mov %ds, %ax
	cmp $0x18, %ax
	FAIL_IF e, "ds"
	mov %es, %ax
	cmp $0x18, %ax
	FAIL_IF e, "es"
	mov %ss, %ax
	cmp $0x18, %ax
	FAIL_IF e, "ss"
	pushfq
	pop %rax
	test $0x200, %eax
	FAIL_IF z, "interrupts enabled"
	test $0xfff, %r15
	FAIL_IF z, "rsi not page aligned"
	cmpb $0xff, 0x210(%r15)
	FAIL_IF e, "type_of_loader"
	cmpl $0x53726448, 0x202(%r15)	/* the header was copied: "HdrS" */
	FAIL_IF e, "zero page header"

	/* 16550: scratch, divisor latch, FIFO bits in IIR, loopback. */
	UART_OUT 7, 0x5a
	UART_IN 7
	cmp $0x5a, %al
	FAIL_IF e, "uart scr"
	UART_OUT 3, 0x80
	UART_OUT 0, 0x01
	UART_OUT 1, 0x00
	UART_IN 0
	cmp $0x01, %al
	FAIL_IF e, "uart dll"
	UART_OUT 3, 0x03
	UART_OUT 1, 0x05
	UART_IN 1
	cmp $0x05, %al
	FAIL_IF e, "uart ier"
	UART_OUT 1, 0x00
	UART_OUT 2, 0x00
	UART_IN 2
	cmp $0x01, %al
	FAIL_IF e, "uart iir"
	UART_OUT 2, 0x07
	UART_IN 2
	cmp $0xc1, %al
	FAIL_IF e, "uart iir fifo"
	UART_OUT 4, 0x1a		/* LOOP, OUT2, RTS: the 8250 driver's probe */
	UART_IN 6
	and $0xf0, %al
	cmp $0x90, %al
	FAIL_IF e, "uart loopback msr"
	UART_OUT 0, 0x5a
	UART_IN 5
	test $0x01, %al
	FAIL_IF nz, "uart loopback dr"
	UART_IN 0
	cmp $0x5a, %al
	FAIL_IF e, "uart loopback rbr"
	UART_IN 5
	test $0x01, %al
	FAIL_IF z, "uart dr after read"
	UART_OUT 4, 0x0b
	UART_IN 6
	and $0xf0, %al
	cmp $0xb0, %al
	FAIL_IF e, "uart msr"

	PUTS "fake: hello from the 64-bit entry\n"
	PUTS "fake: entry="
	lea startup_64(%rip), %rax
	call puthex
	PUTS "\nfake: zero page="
	mov %r15, %rax
	call puthex

	/* The command line: cmd_line_ptr | ext_cmd_line_ptr << 32. */
	PUTS "\nfake: cmdline="
	LOAD64 0xc8(%r15), 0x228(%r15)
	mov %rax, %r14
	mov %rax, %rdi
	call puts
	PUTS "\n"

	/* The e820 table. */
	movzbl 0x1e8(%r15), %r13d
	lea 0x2d0(%r15), %r12
1:	test %r13d, %r13d
	jz 2f
	PUTS "fake: e820 "
	mov (%r12), %rax
	call puthex
	PUTS " "
	mov 8(%r12), %rax
	call puthex
	PUTS " "
	mov 16(%r12), %eax
	call puthex
	PUTS "\n"
	add $20, %r12
	dec %r13d
	jmp 1b
2:
	/* The initrd: where, how big, and its first line. */
	mov 0x21c(%r15), %eax
	test %eax, %eax
	jz 3f
	PUTS "fake: initrd "
	LOAD64 0xc0(%r15), 0x218(%r15)
	mov %rax, %r12
	call puthex
	PUTS " "
	mov 0x21c(%r15), %eax
	call puthex
	PUTS " "
	mov $64, %ecx
4:	movb (%r12), %al
	cmp $10, %al
	je 5f
	call putc
	inc %r12
	dec %ecx
	jnz 4b
5:	PUTS "\n"
3:
	/* Endings chosen by the command line's first word. */
	cmpl $0x70697274, (%r14)	/* "trip" */
	jne 6f
	lidt null_idt(%rip)
	int3
6:	cmpl $0x746c6168, (%r14)	/* "halt" */
	jne 7f
	hlt
7:	cmpl $0x74697865, (%r14)	/* "exit" */
	jne 8f
	movb 4(%r14), %al
	sub $0x30, %al
	jmp exit
8:	cmpl $0x69757066, (%r14)	/* "fpui": an x87 instruction */
	jne 9f
	fninit
	mov $5, %al
	jmp exit
9:	cmpl $0x65776f70, (%r14)	/* "powe": ACPI walk, then soft-off */
	je acpi_poweroff
	cmpl $0x72396663, (%r14)	/* "cf9r": reset through port 0xcf9 */
	jne 10f
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
	PUTS "fake: FAIL still running after the 0xcf9 reset\n"
	mov $3, %al
	jmp exit
10:	cmpl $0x7264626b, (%r14)	/* "kbdr": i8042 reset command */
	jne 11f
	mov $0x64, %dx
	mov $0xfe, %al
	out %al, %dx
	PUTS "fake: FAIL still running after the i8042 reset\n"
	mov $3, %al
	jmp exit
11:	cmpl $0x74726175, (%r14)	/* "uart": interrupt-driven 16550 */
	je uart_irq
	cmpl $0x62706d73, (%r14)	/* "smpb": start vCPU 1 by INIT/SIPI */
	je smp_boot
	cmpl $0x74726976, (%r14)	/* "virt": virtio-blk through the DSDT */
	je virtio_blk
	cmpl $0x6e6f6376, (%r14)	/* "vcon": the virtio console (hvc0) */
	je virtio_con
	cmpl $0x6d757363, (%r14)	/* "csum": a running checksum (migration) */
	je csum_run
	cmpl $0x70616e73, (%r14)	/* "snap": the in-memory snapshot port */
	je snap_run
	cmpl $0x6c6c6966, (%r14)	/* "fill": 222 MiB of data, then spin */
	je fill_run
ok_exit:
	PUTS "fake: ok\n"
	mov $42, %al
exit:
	mov $EXIT_PORT, %dx
	out %al, %dx
	ud2

/*
 * The ACPI tables through boot_params.acpi_rsdp_addr: RSDP signature and
 * both checksums, every XSDT entry's and the DSDT's checksum (each printed
 * as "fake: acpi SIG"), then soft-off as Linux does it: SLP_TYP from the
 * DSDT's \_S5 package, written with SLP_EN to the FADT's PM1a_CNT_BLK.
 */
acpi_poweroff:
	mov 0x70(%r15), %rbx
	test %rbx, %rbx
	FAIL_IF nz, "no acpi_rsdp_addr"
	cmpl $0x20445352, (%rbx)	/* "RSD " */
	FAIL_IF e, "rsdp signature"
	cmpl $0x20525450, 4(%rbx)	/* "PTR " */
	FAIL_IF e, "rsdp signature"
	mov %rbx, %rdi
	mov $20, %ecx
	call sum
	FAIL_IF z, "rsdp checksum"
	mov %rbx, %rdi
	mov $36, %ecx
	call sum
	FAIL_IF z, "rsdp extended checksum"
	mov 24(%rbx), %r12		/* XSDT */
	mov %r12, %rdi
	call table_check
	mov 4(%r12), %r13d
	sub $36, %r13d
	shr $3, %r13d
	lea 36(%r12), %r12
	xor %ebp, %ebp
1:	test %r13d, %r13d
	jz 2f
	mov (%r12), %rdi
	call table_check
	cmpl $0x50434146, (%rdi)	/* "FACP" */
	jne 3f
	mov %rdi, %rbp
3:	add $8, %r12
	dec %r13d
	jmp 1b
2:	test %rbp, %rbp
	FAIL_IF nz, "no FADT"
	mov 40(%rbp), %edi		/* DSDT */
	call table_check
	/* Find "_S5_" followed by PackageOp, PkgLength, NumElements, BytePrefix. */
	mov 4(%rdi), %ecx
	sub $9, %ecx
4:	cmpl $0x5f35535f, (%rdi)
	jne 5f
	cmpb $0x12, 4(%rdi)
	jne 5f
	cmpb $0x0a, 7(%rdi)
	je 6f
5:	inc %rdi
	dec %ecx
	jnz 4b
	PUTS "fake: FAIL no \\_S5 package in the DSDT\n"
	mov $3, %al
	jmp exit
6:	movzbl 8(%rdi), %eax		/* SLP_TYPa */
	shl $10, %eax
	or $0x2000, %eax		/* SLP_EN */
	mov 64(%rbp), %edx		/* PM1a_CNT_BLK */
	PUTS "fake: acpi soft-off\n"
	out %ax, %dx
	PUTS "fake: FAIL still running after soft-off\n"
	mov $3, %al
	jmp exit

/* rdi: an ACPI table; its checksum must be 0.  Prints its signature. */
table_check:
	push %rdi
	mov 4(%rdi), %ecx
	call sum
	FAIL_IF z, "acpi table checksum"
	PUTS "fake: acpi "
	mov (%rsp), %rdi
	mov $4, %ecx
1:	movb (%rdi), %al
	call putc
	inc %rdi
	dec %ecx
	jnz 1b
	PUTS "\n"
	pop %rdi
	ret

/* rdi, ecx: bytes to add; ZF from the 8-bit sum. */
sum:
	push %rdi
	push %rcx
	xor %eax, %eax
1:	add (%rdi), %al
	inc %rdi
	dec %ecx
	jnz 1b
	pop %rcx
	pop %rdi
	test %al, %al
	ret

/*
 * The 16550's interrupts through the in-kernel 8259: IRQ 4 at vector 0x24.
 * First THRE (enabling ETBEI with an empty holding register raises it),
 * then received-data interrupts until a line arrives on stdin; each
 * handler run reads IIR (and drains RBR while LSR.DR).
 */
uart_irq:
	lea idt(%rip), %rdi
	lea irq4_handler(%rip), %rax
	mov %ax, 0x24 * 16(%rdi)
	movw $0x10, 0x24 * 16 + 2(%rdi)
	movw $0x8e00, 0x24 * 16 + 4(%rdi)	/* present, DPL 0, interrupt gate */
	shr $16, %rax
	mov %ax, 0x24 * 16 + 6(%rdi)
	shr $16, %rax
	mov %eax, 0x24 * 16 + 8(%rdi)
	lea idtr(%rip), %rax
	mov %rdi, 2(%rax)
	lidt (%rax)
	/* 8259 pair: ICW1-4, vectors 0x20/0x28, only IRQ 4 unmasked. */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xef, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1
	UART_OUT 3, 0x03
	UART_OUT 2, 0x07		/* FIFOs on, both cleared */
	UART_OUT 4, 0x0b		/* DTR, RTS, OUT2 (the PC's IRQ gate) */
	UART_OUT 1, 0x02		/* ETBEI */
1:	cmpl $0, thr_count(%rip)
	jne 2f
	sti
	hlt
	cli
	jmp 1b
2:	UART_OUT 1, 0x00
	PUTS "fake: thre irq, iir "
	movzbl last_iir(%rip), %eax
	call puthex
	PUTS "\n"
	UART_OUT 1, 0x01		/* ERBFI */
3:	mov rx_count(%rip), %ecx
	test %ecx, %ecx
	jz 4f
	lea rx_buf(%rip), %rdi
	cmpb $10, -1(%rdi,%rcx)
	je 5f
	cmp $60, %ecx
	jae 5f
4:	sti
	hlt
	cli
	jmp 3b
5:	UART_OUT 1, 0x00
	PUTS "fake: rx irqs "
	mov rx_irqs(%rip), %eax
	call puthex
	PUTS " iir "
	movzbl last_iir(%rip), %eax
	call puthex
	PUTS " data "
	lea rx_buf(%rip), %rdi
	movl rx_count(%rip), %ecx
	movb $0, (%rdi,%rcx)
	call puts
	jmp ok_exit

irq4_handler:
	push %rax
	push %rcx
	push %rdx
	push %rdi
	mov $(UART + 2), %dx
	in %dx, %al
	mov %al, last_iir(%rip)
	and $0x0f, %al
	cmp $0x02, %al
	jne 1f
	incl thr_count(%rip)
1:	cmp $0x04, %al
	jne 3f
	incl rx_irqs(%rip)
2:	mov $(UART + 5), %dx
	in %dx, %al
	test $0x01, %al
	jz 3f
	mov $UART, %dx
	in %dx, %al
	mov rx_count(%rip), %ecx
	cmp $60, %ecx
	jae 2b
	lea rx_buf(%rip), %rdi
	mov %al, (%rdi,%rcx)
	incl rx_count(%rip)
	jmp 2b
3:	mov $0x20, %al			/* non-specific EOI */
	out %al, $0x20
	pop %rdi
	pop %rdx
	pop %rcx
	pop %rax
	iretq

/*
 * vCPU 1 started the way Linux starts an AP: INIT, then a start-up IPI
 * with vector 0x08, through the local APIC's ICR.  The AP runs a real-mode
 * stub at 0x8000 that stores 0x5a at 0x8100 and halts.
 */
#define LAPIC 0xfee00000
smp_boot:
	lea ap_stub(%rip), %rsi
	mov $0x8000, %edi
	mov $(ap_stub_end - ap_stub), %ecx
	rep movsb
	movb $0, 0x8100
	mov $LAPIC, %ebx
	movl $0x1ff, 0xf0(%rbx)		/* SVR: software enable, spurious 0xff */
	movl $(1 << 24), 0x310(%rbx)	/* destination: APIC ID 1 */
	movl $0x4500, 0x300(%rbx)	/* INIT, assert */
	call delay
	movl $(1 << 24), 0x310(%rbx)
	movl $0x4608, 0x300(%rbx)	/* start-up, vector 0x08 */
	mov $200, %r12d
1:	cmpb $0x5a, 0x8100
	je 2f
	call delay
	dec %r12d
	jnz 1b
	PUTS "fake: FAIL the AP did not start\n"
	mov $3, %al
	jmp exit
2:	PUTS "fake: ap started\n"
	jmp ok_exit

delay:
	push %rcx
	mov $200000, %ecx
1:	pause
	dec %ecx
	jnz 1b
	pop %rcx
	ret

	.code16
ap_stub:
	movb $0x5a, 0x8100
1:	cli
	hlt
	jmp 1b
ap_stub_end:
	.code64

/*
 * virtio-blk on virtio-mmio (VIRTIO 1.1 4.2, 2.6, 5.2), found the way
 * Linux finds it here: an "LNRO0005" device in the DSDT whose _CRS has a
 * Memory32Fixed base.  Driver init (reset, ACKNOWLEDGE, DRIVER,
 * VERSION_1 + BLK_F_FLUSH, FEATURES_OK, one 8-entry queue, DRIVER_OK),
 * then polled requests: read sector 0, write sector 1, flush, a read past
 * the end (IOERR), read sector 1 back.
 */
#define VQ_DESC 0x30000
#define VQ_AVAIL 0x30400
#define VQ_USED 0x30800
#define VQ_HDR 0x31000
#define VQ_STATUS 0x31100
#define VQ_DATA 0x32000
virtio_blk:
	mov $2, %edx
	call virtio_find
	PUTS "fake: virtio-mmio at "
	mov %rbx, %rax
	call puthex
	PUTS "\n"

	cmpl $0x74726976, 0x00(%rbx)
	FAIL_IF e, "virtio magic"
	cmpl $2, 0x04(%rbx)
	FAIL_IF e, "virtio version 2"
	cmpl $2, 0x08(%rbx)
	FAIL_IF e, "virtio device id 2 (block)"
	movl $0, 0x70(%rbx)		/* reset */
	movl $1, 0x70(%rbx)		/* ACKNOWLEDGE */
	movl $3, 0x70(%rbx)		/* DRIVER */
	movl $1, 0x14(%rbx)
	testl $1, 0x10(%rbx)
	FAIL_IF nz, "virtio VERSION_1 offered"
	movl $0, 0x14(%rbx)
	testl $0x200, 0x10(%rbx)
	FAIL_IF nz, "virtio BLK_F_FLUSH offered"
	movl $1, 0x24(%rbx)
	movl $1, 0x20(%rbx)		/* VERSION_1 */
	movl $0, 0x24(%rbx)
	movl $0x200, 0x20(%rbx)		/* BLK_F_FLUSH */
	movl $0xb, 0x70(%rbx)		/* FEATURES_OK */
	testl $8, 0x70(%rbx)
	FAIL_IF nz, "virtio FEATURES_OK"
	movl $0, 0x30(%rbx)
	cmpl $8, 0x34(%rbx)
	FAIL_IF ae, "virtio QueueNumMax"
	mov $VQ_DESC, %edi
	mov $0x3000, %ecx
	xor %eax, %eax
	rep stosb
	movl $8, 0x38(%rbx)
	movl $VQ_DESC, 0x80(%rbx)
	movl $0, 0x84(%rbx)
	movl $VQ_AVAIL, 0x90(%rbx)
	movl $0, 0x94(%rbx)
	movl $VQ_USED, 0xa0(%rbx)
	movl $0, 0xa4(%rbx)
	movl $1, 0x44(%rbx)		/* QueueReady */
	movl $0xf, 0x70(%rbx)		/* DRIVER_OK */
	PUTS "fake: disk capacity "
	LOAD64 0x104(%rbx), 0x100(%rbx)
	mov %rax, %r13
	call puthex
	PUTS " sectors\n"

	xor %edi, %edi			/* IN sector 0 */
	xor %esi, %esi
	mov $512, %edx
	mov $2, %ecx
	call vreq
	cmp $0, %al
	FAIL_IF e, "virtio read sector 0"
	PUTS "fake: disk sector 0: "
	call put_data_line

	mov $VQ_DATA, %edi		/* OUT sector 1 */
	mov $512, %ecx
	xor %eax, %eax
	rep stosb
	lea disk_text(%rip), %rsi
	mov $VQ_DATA, %edi
	mov $(disk_text_end - disk_text), %ecx
	rep movsb
	mov $1, %edi
	mov $1, %esi
	mov $512, %edx
	xor %ecx, %ecx
	call vreq
	cmp $0, %al
	FAIL_IF e, "virtio write sector 1"
	mov $4, %edi			/* FLUSH */
	xor %esi, %esi
	xor %edx, %edx
	call vreq
	cmp $0, %al
	FAIL_IF e, "virtio flush"
	xor %edi, %edi			/* IN past the end: IOERR */
	mov %r13, %rsi
	mov $512, %edx
	mov $2, %ecx
	call vreq
	cmp $1, %al
	FAIL_IF e, "virtio read past the end is IOERR"
	mov $VQ_DATA, %edi
	mov $512, %ecx
	xor %eax, %eax
	rep stosb
	xor %edi, %edi			/* IN sector 1 */
	mov $1, %esi
	mov $512, %edx
	mov $2, %ecx
	call vreq
	cmp $0, %al
	FAIL_IF e, "virtio read sector 1"
	PUTS "fake: disk sector 1: "
	call put_data_line
	PUTS "fake: virtio ok\n"
	jmp ok_exit

/*
 * virtio_find: ebx = the register base of the first virtio-mmio device of
 * DeviceID edx, found the way Linux finds them here: an "LNRO0005" device
 * in the DSDT whose _CRS has a Memory32Fixed base.  Fails the test if none.
 */
virtio_find:
	mov 0x70(%r15), %rbx
	mov 24(%rbx), %r12		/* XSDT */
	mov 4(%r12), %r13d
	sub $36, %r13d
	shr $3, %r13d
	lea 36(%r12), %r12
1:	test %r13d, %r13d
	FAIL_IF nz, "no FADT"
	mov (%r12), %rbp
	cmpl $0x50434146, (%rbp)	/* "FACP" */
	je 2f
	add $8, %r12
	dec %r13d
	jmp 1b
2:	mov 40(%rbp), %edi		/* DSDT */
	mov 4(%rdi), %ecx
	sub $12, %ecx
3:	cmpl $0x4f524e4c, (%rdi)	/* "LNRO" */
	jne 4f
	cmpl $0x35303030, 4(%rdi)	/* "0005" */
	je 5f
4:	inc %rdi
	dec %ecx
	jnz 3b
	PUTS "fake: FAIL no LNRO0005 device of that DeviceID in the DSDT\n"
	mov $3, %al
	jmp exit
5:	cmpb $0x86, (%rdi)		/* Memory32Fixed */
	jne 6f
	cmpw $0x0009, 1(%rdi)
	je 7f
6:	inc %rdi
	dec %ecx
	jnz 5b
	PUTS "fake: FAIL no Memory32Fixed in the device's _CRS\n"
	mov $3, %al
	jmp exit
7:	mov 4(%rdi), %ebx		/* the register base */
	cmp %edx, 0x08(%rbx)		/* DeviceID */
	jne 4b				/* another device: scan on */
	ret

/*
 * The virtio console (VIRTIO 1.1 5.3), the DSDT's device of DeviceID 3:
 * VERSION_1 only, receiveq 0 with one 64-byte buffer, transmitq 1; a line
 * sent through transmitq, then the first input line (the test feeds it on
 * stdin; softkvm boot routes it to hvc0 under console=hvc0) echoed on
 * ttyS0.
 */
#define VC_RDESC 0x34000
#define VC_RAVAIL 0x34400
#define VC_RUSED 0x34800
#define VC_TDESC 0x35000
#define VC_TAVAIL 0x35400
#define VC_TUSED 0x35800
#define VC_TXBUF 0x36000
#define VC_RXBUF 0x36800
virtio_con:
	mov $3, %edx
	call virtio_find
	PUTS "fake: virtio console at "
	mov %rbx, %rax
	call puthex
	PUTS "\n"
	movl $0, 0x70(%rbx)		/* reset */
	movl $1, 0x70(%rbx)		/* ACKNOWLEDGE */
	movl $3, 0x70(%rbx)		/* DRIVER */
	movl $1, 0x14(%rbx)
	testl $1, 0x10(%rbx)
	FAIL_IF nz, "virtio-console VERSION_1 offered"
	movl $0, 0x14(%rbx)
	cmpl $0, 0x10(%rbx)
	FAIL_IF e, "virtio-console offers no optional feature"
	movl $1, 0x24(%rbx)
	movl $1, 0x20(%rbx)		/* VERSION_1 */
	movl $0, 0x24(%rbx)
	movl $0, 0x20(%rbx)
	movl $0xb, 0x70(%rbx)		/* FEATURES_OK */
	testl $8, 0x70(%rbx)
	FAIL_IF nz, "virtio-console FEATURES_OK"
	mov $VC_RDESC, %edi
	mov $0x3000, %ecx
	xor %eax, %eax
	rep stosb
	movl $2, 0x30(%rbx)
	cmpl $0, 0x34(%rbx)
	FAIL_IF e, "virtio-console has no queue 2 (no multiport)"
	movl $0, 0x30(%rbx)		/* receiveq */
	movl $8, 0x38(%rbx)
	movl $VC_RDESC, 0x80(%rbx)
	movl $VC_RAVAIL, 0x90(%rbx)
	movl $VC_RUSED, 0xa0(%rbx)
	movl $1, 0x44(%rbx)
	movl $1, 0x30(%rbx)		/* transmitq */
	cmpl $8, 0x34(%rbx)
	FAIL_IF ae, "virtio-console QueueNumMax"
	movl $8, 0x38(%rbx)
	movl $VC_TDESC, 0x80(%rbx)
	movl $VC_TAVAIL, 0x90(%rbx)
	movl $VC_TUSED, 0xa0(%rbx)
	movl $1, 0x44(%rbx)
	movl $0xf, 0x70(%rbx)		/* DRIVER_OK */

	movq $VC_RXBUF, VC_RDESC	/* a receive buffer, device-writable */
	movl $64, VC_RDESC + 8
	movw $2, VC_RDESC + 12
	movw $0, VC_RAVAIL + 4
	movw $1, VC_RAVAIL + 2
	mfence
	movl $0, 0x50(%rbx)

	lea vcon_text(%rip), %rsi	/* a line through transmitq */
	mov $VC_TXBUF, %edi
	mov $(vcon_text_end - vcon_text), %ecx
	rep movsb
	movq $VC_TXBUF, VC_TDESC
	movl $(vcon_text_end - vcon_text), VC_TDESC + 8
	movw $0, VC_TDESC + 12
	movw $0, VC_TAVAIL + 4
	movw $1, VC_TAVAIL + 2
	mfence
	movl $1, 0x50(%rbx)
	cmpw $1, VC_TUSED + 2
	FAIL_IF e, "virtio-console transmitq buffer used at the notify"
	testl $1, 0x60(%rbx)
	FAIL_IF nz, "virtio-console InterruptStatus used-buffer bit"
	movl $1, 0x64(%rbx)

	mov $0x7fffffff, %ecx		/* the input line (the test's alarm bounds this) */
1:	cmpw $1, VC_RUSED + 2
	je 2f
	pause
	dec %ecx
	jnz 1b
	PUTS "fake: FAIL no input through receiveq\n"
	mov $3, %al
	jmp exit
2:	PUTS "fake: virtio console got: "
	mov VC_RUSED + 8, %ecx		/* bytes written */
	cmp $64, %ecx
	FAIL_IF be, "virtio-console used length within the buffer"
	mov $VC_RXBUF, %esi
3:	test %ecx, %ecx
	jz 4f
	movb (%rsi), %al
	cmp $0x0a, %al
	je 4f
	call putc
	inc %rsi
	dec %ecx
	jmp 3b
4:	PUTS "\nfake: virtio console ok\n"
	jmp ok_exit
vcon_text:
	.ascii "fake: hello through the virtio console\n"
vcon_text_end:

/* One request: edi type, rsi sector, edx data length (0: none), ecx data
 * descriptor flags (2: device writes).  Returns the status byte in al. */
vreq:
	movl %edi, VQ_HDR
	movl $0, VQ_HDR + 4
	movq %rsi, VQ_HDR + 8
	movb $0xff, VQ_STATUS
	movq $VQ_HDR, VQ_DESC
	movl $16, VQ_DESC + 8
	movw $1, VQ_DESC + 12		/* NEXT */
	movw $1, VQ_DESC + 14
	mov $(VQ_DESC + 16), %edi
	test %edx, %edx
	jz 1f
	movq $VQ_DATA, (%rdi)
	mov %edx, 8(%rdi)
	or $1, %ecx			/* NEXT */
	mov %cx, 12(%rdi)
	movw $2, 14(%rdi)
	add $16, %edi
1:	movq $VQ_STATUS, (%rdi)
	movl $1, 8(%rdi)
	movw $2, 12(%rdi)		/* WRITE */
	movw $0, 14(%rdi)
	movzwl VQ_AVAIL + 2, %eax
	mov %eax, %ecx
	and $7, %ecx
	movw $0, VQ_AVAIL + 4(,%rcx,2)
	inc %eax
	movw %ax, VQ_AVAIL + 2
	mfence
	movl $0, 0x50(%rbx)		/* QueueNotify */
	mov $100000, %ecx
2:	cmpw %ax, VQ_USED + 2
	je 3f
	pause
	dec %ecx
	jnz 2b
	PUTS "fake: FAIL virtio request never completed\n"
	mov $3, %al
	jmp exit
3:	testl $1, 0x60(%rbx)
	FAIL_IF nz, "virtio InterruptStatus used-buffer bit"
	movl $1, 0x64(%rbx)		/* InterruptACK */
	testl $1, 0x60(%rbx)
	FAIL_IF z, "virtio InterruptACK clears"
	movzbl VQ_STATUS, %eax
	ret

/* The data buffer up to its first newline (at most 60 bytes), and "\n". */
put_data_line:
	mov $VQ_DATA, %edi
	mov $60, %ecx
1:	movb (%rdi), %al
	cmp $10, %al
	je 2f
	test %al, %al
	je 2f
	call putc
	inc %rdi
	dec %ecx
	jnz 1b
2:	PUTS "\n"
	ret

disk_text:
	.ascii "written by the guest\n"
disk_text_end:

/*
 * csumN: round r writes 2^18 pseudo-random quadwords (an LCG, Knuth's
 * MMIX constants) of the 8 MiB window r % 16 of [64 MiB, 192 MiB): each
 * is XORed with the generator and folded into a running sum printed after
 * the round; then the sum of the windows written.  The output depends only
 * on memory keeping what was written, whatever stops or moves the VM.
 */
#define CSUM_BASE 0x4000000
#define CSUM_WIN 0x800000
csum_run:
	lea 4(%r14), %rsi
	xor %r12d, %r12d
1:	movzbl (%rsi), %eax
	sub $0x30, %eax
	cmp $9, %eax
	ja 2f
	imul $10, %r12, %r12
	add %rax, %r12
	inc %rsi
	jmp 1b
2:	test %r12, %r12
	jnz 3f
	mov $16, %r12d
3:	mov $1, %r8			/* generator */
	xor %r9d, %r9d			/* running sum */
	xor %r10d, %r10d		/* round */
	movabs $6364136223846793005, %r11
	movabs $1442695040888963407, %r13
4:	mov %r10, %rbx
	and $15, %ebx
	shl $23, %rbx
	add $CSUM_BASE, %rbx		/* this round's window */
	mov $0x40000, %ecx
5:	imul %r11, %r8
	add %r13, %r8
	mov %r8, %rax
	shr $40, %rax
	and $(CSUM_WIN - 8), %eax
	xor %r8, (%rbx,%rax)
	mov (%rbx,%rax), %rax
	imul $31, %r9, %r9
	add %rax, %r9
	dec %ecx
	jnz 5b
	PUTS "fake: csum round "
	mov %r10, %rax
	call puthex
	PUTS " "
	mov %r9, %rax
	call puthex
	PUTS "\n"
	inc %r10
	cmp %r12, %r10
	jb 4b
	mov $CSUM_BASE, %rsi
	mov $16, %ecx			/* the windows written: min(N, 16) */
	cmp %rcx, %r12
	cmovb %r12, %rcx
	shl $20, %ecx			/* 8 MiB / 8 per window */
	xor %eax, %eax
6:	rol $1, %rax
	xor (%rsi), %rax
	add $8, %rsi
	dec %ecx
	jnz 6b
	mov %rax, %rbx
	PUTS "fake: csum total "
	mov %rbx, %rax
	call puthex
	PUTS "\n"
	jmp ok_exit

/*
 * snap: OUT 1 to port 0x502 (softkvm boot --snapshot-resets: take the
 * in-memory snapshot here), then count this run in memory, check that the
 * 4 MiB at 64 MiB are still zero, fill them and leave with 42.  After each
 * reset to the snapshot the output must be the same again.
 */
snap_run:
	mov $0x502, %dx
	mov $1, %al
	out %al, %dx
	incl snap_count(%rip)
	PUTS "fake: snap run "
	mov snap_count(%rip), %eax
	call puthex
	mov $CSUM_BASE, %rsi
	mov $(0x400000 / 8), %ecx
1:	cmpq $0, (%rsi)
	jne 2f
	add $8, %rsi
	dec %ecx
	jnz 1b
	PUTS " fresh\n"
	jmp 3f
2:	PUTS " dirty\n"
3:	mov $CSUM_BASE, %rdi
	mov $(0x400000 / 8), %ecx
	movabs $0x5a5a5a5a5a5a5a5a, %rax
	rep stosq
	jmp ok_exit

/* fill (bench-migrate, --mem 256M): a non-zero pattern over [18 MiB,
 * 240 MiB), so a snapshot holds nearly all of memory; then spin. */
fill_run:
	mov $0x1200000, %rdi
	mov $((0xF000000 - 0x1200000) / 8), %rcx
	movabs $0x0123456789abcdef, %rax
	rep stosq
	PUTS "fake: filled\n"
1:	pause
	jmp 1b

/* al: one character, when the transmitter is ready. */
putc:
	push %rax
	push %rdx
	mov $(UART + 5), %dx
1:	in %dx, %al
	test $0x20, %al
	jz 1b
	mov (%rsp), %rdx
	mov 8(%rsp), %rax
	mov $UART, %dx
	out %al, %dx
	pop %rdx
	pop %rax
	ret

/* rdi: a NUL-terminated string. */
puts:
	push %rax
1:	movb (%rdi), %al
	test %al, %al
	jz 2f
	call putc
	inc %rdi
	jmp 1b
2:	pop %rax
	ret

/* rax: 16 hex digits. */
puthex:
	push %rbx
	push %rcx
	mov %rax, %rbx
	mov $16, %ecx
1:	rol $4, %rbx
	mov %ebx, %eax
	and $0xf, %eax
	cmp $10, %al
	jb 2f
	add $0x27, %al
2:	add $0x30, %al
	call putc
	dec %ecx
	jnz 1b
	pop %rcx
	pop %rbx
	ret

	.balign 8
thr_count: .long 0
snap_count: .long 0
rx_irqs: .long 0
rx_count: .long 0
last_iir: .byte 0
rx_buf: .skip 64
	.balign 8
idtr:	.word 0x30 * 16 - 1
	.quad 0
	.balign 16
idt:	.skip 0x30 * 16
	.balign 8
null_idt:
	.word 0
	.quad 0
	.balign 16
	.skip 1024
stack_top:
payload_end:
