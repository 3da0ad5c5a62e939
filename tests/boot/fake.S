/*
 * A fake bzImage for `softkvm boot` tests: a real setup header (boot
 * protocol 2.15, 64-bit entry) and, at the 64-bit entry, code that checks
 * the state Documentation/arch/x86/boot.rst promises ("64-bit Boot
 * Protocol"), exercises the 16550 registers, reports the zero page on
 * ttyS0 and leaves through the debug-exit port with status 42 (3 when a
 * check fails).  The command line picks other endings: "triple" ends in a
 * triple fault, "halt" halts with interrupts off, "exit7" exits with 7, "fpui" runs
 * FNINIT and exits with 5.
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
	mov 0xc8(%r15), %eax
	shl $32, %rax
	mov 0x228(%r15), %ecx
	or %rcx, %rax
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
	mov 0xc0(%r15), %eax
	shl $32, %rax
	mov 0x218(%r15), %ecx
	or %rcx, %rax
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
9:
	PUTS "fake: ok\n"
	mov $42, %al
exit:
	mov $EXIT_PORT, %dx
	out %al, %dx
	ud2

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
null_idt:
	.word 0
	.quad 0
	.balign 16
	.skip 1024
stack_top:
payload_end:
