/*
 * The compiled-C guest's objects as a static Linux program (no libc):
 * cg_write is write(1), cg_main's value the exit status.
 */
	.text
	.globl _start, cg_write
_start:
	xor %ebp, %ebp
	and $-16, %rsp
	call cg_main
	mov %eax, %edi
	mov $231, %eax		/* exit_group */
	syscall
	hlt

/* cg_write(p, n): write(1, p, n) until all is written */
cg_write:
1:	test %rsi, %rsi
	jz 2f
	push %rsi
	push %rdi
	mov %rsi, %rdx
	mov %rdi, %rsi
	mov $1, %edi
	mov $1, %eax		/* write */
	syscall
	pop %rdi
	pop %rsi
	test %rax, %rax
	jle 3f
	add %rax, %rdi
	sub %rax, %rsi
	jmp 1b
2:	ret
3:	mov $1, %edi
	mov $231, %eax
	syscall
	.section .note.GNU-stack, "", @progbits
