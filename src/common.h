/* Shared basics for every layer: fixed-width names and small helpers. */
#ifndef SOFTKVM_COMMON_H
#define SOFTKVM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1ULL << (n))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define PAGE_SIZE 4096UL
#define PAGE_SHIFT 12
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((u64)(a) - 1))

/* Thread-local data on the KVM_RUN path: the initial-exec model reaches
 * it without a __tls_get_addr call (the library is preloaded or linked,
 * never dlopen'ed, so its TLS is in the static block).  A few bytes only:
 * a dlopen would take them from glibc's static TLS surplus. */
#define SKVM_TLS __thread __attribute__((tls_model("initial-exec")))

/* Symbols with internal linkage across the library's objects. */
#define SKVM_HIDDEN __attribute__((visibility("hidden")))

#endif
