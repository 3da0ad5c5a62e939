/*
 * The compiled-C guest (docs/testing.md, check-cguest): prog.c and lib.c
 * are compiled once per flag set (-O2; -O2 -march=x86-64-v3) without libc
 * and linked twice, the same objects each time: with start_native.S into a
 * static Linux program, and with start_guest.S into a flat long-mode guest
 * image (guest.ld) that run.c runs on /dev/kvm and compares with the
 * native program's output, byte for byte.
 */
#ifndef SKVM_CGUEST_H
#define SKVM_CGUEST_H

#define CG_LOAD 0x100000	/* where the image is loaded and entered (ring 0) */
#define CG_IDT 0x9000		/* the runner's IDT; stub v at CG_LOAD + 0x100 + 16v */
#define CG_STUBS (CG_LOAD + 0x100)
#define CG_USTACK 0x3f00000	/* ring-3 stack top */
#define CG_MEM (64u << 20)	/* guest RAM */
#define CG_PORT_OUT 0xe9	/* output bytes (rep outsb) */
#define CG_PORT_EXIT 0xf4	/* 32-bit OUT: cg_main's return value */
#define CG_PORT_FAULT 0xf5	/* 32-bit OUT from ring 0: an exception (rax vector) */

#if !defined(__ASSEMBLER__) && !__STDC_HOSTED__
typedef unsigned long size_t;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long s64;

/* provided by the start files */
void cg_write(const char *p, size_t n);
int cg_main(void);

/* lib.c: what the compiler may call, and strlen */
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
#endif

#endif
