/* 64-bit trampoline into a 32-bit code segment (native side of bcd32). */
	.section .note.GNU-stack, "", @progbits
	.section .rodata
	.globl blob_start, blob_end, blob_op, code32, farptr
	.code64
blob_start:
	/* tramp(rdi = data): at blob+0 */
	push %rbx
	push %rbp
	mov %rsp, %rbp
	lea stack_top(%rip), %rsp
	mov %rdi, %rsi
	lcall *farptr(%rip)
	mov %rbp, %rsp
	pop %rbp
	pop %rbx
	ret
	.balign 8
farptr:	.long 0
	.word 0x23
	.code32
code32:
	mov $0x2b, %eax
	mov %eax, %ds
	mov %eax, %es
	mov (%esi), %eax
	pushl 4(%esi)
	popfl
blob_op:
	daa
	nop
	nop
	pushfl
	popl 4(%esi)
	mov %eax, (%esi)
	lret
	.balign 16
	.fill 256, 1, 0
stack_top:
blob_end:
