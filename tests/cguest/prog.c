/*
 * The compiled-C guest's program: string, math, hashing, sorting and
 * bignum work whose every result is printed, so that the same objects run
 * natively and under a KVM must print the same bytes (cg.h).  Nothing
 * printed depends on addresses, time or CPUID.  Sizes are chosen so that
 * the whole run is a few million instructions.
 */
#include "cg.h"

/* ---- output: a buffer flushed through cg_write ---- */

static char obuf[4096];
static size_t olen;

static void flush(void)
{
	if (olen)
		cg_write(obuf, olen);
	olen = 0;
}

static void put(char c)
{
	if (olen == sizeof(obuf))
		flush();
	obuf[olen++] = c;
}

static void puts_(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		put(s[i]);
}

static void udec(u64 v)
{
	char t[24];
	int n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		put(t[--n]);
}

static void sdec(s64 v)
{
	if (v < 0) {
		put('-');
		udec(-(u64)v);
	} else {
		udec((u64)v);
	}
}

static void hex(u64 v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		put("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static u64 dbits(double d)
{
	u64 u;
	memcpy(&u, &d, 8);
	return u;
}

/* A double in decimal, 17 significant digits, computed with doubles (so the
 * formatting is itself floating-point work), then its exact bits. */
static void dbl(double d)
{
	u64 bits = dbits(d);
	if (d != d) {
		puts_("nan");
	} else if (d == __builtin_inf() || d == -__builtin_inf()) {
		puts_(d < 0 ? "-inf" : "inf");
	} else {
		if (bits >> 63) {
			put('-');
			d = -d;
		}
		int e10 = 0;
		if (d != 0) {
			while (d >= 10) {
				d /= 10;
				e10++;
			}
			while (d < 1) {
				d *= 10;
				e10--;
			}
		}
		for (int i = 0; i < 17; i++) {
			int dig = (int)d;
			put((char)('0' + dig));
			if (i == 0)
				put('.');
			d = (d - dig) * 10;
		}
		put('e');
		sdec(e10);
	}
	puts_(" [");
	hex(bits, 16);
	put(']');
}

static void kv(const char *k)
{
	puts_(k);
	puts_(" = ");
}

static void nl(void)
{
	put('\n');
}

/* ---- a PRNG ---- */

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 xrand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* ---- strings ---- */

#define NSTR 256
static char text[64 * 1024];
static char *strs[NSTR];

static void to_upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 32);
}

static const char *find(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (*hay == *needle && !memcmp(hay, needle, n))
			return hay;
	return 0;
}

static void reverse(char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n / 2; i++) {
		char t = s[i];
		s[i] = s[n - 1 - i];
		s[n - 1 - i] = t;
	}
}

static u32 fnv1a32(const void *p, size_t n)
{
	const u8 *b = p;
	u32 h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static u64 fnv1a64(const void *p, size_t n)
{
	const u8 *b = p;
	u64 h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void string_work(void)
{
	static const char words[][8] = {"alpha", "beta", "gamma", "delta", "eps",
					"zeta", "eta", "theta", "iota", "kappa"};
	char *p = text;
	u64 total = 0;
	for (int i = 0; i < NSTR; i++) {
		strs[i] = p;
		int nw = (int)(xrand() % 24);
		for (int w = 0; w < nw; w++) {
			const char *s = words[xrand() % 10];
			size_t l = strlen(s);
			memcpy(p, s, l);
			p += l;
			*p++ = (w + 1 < nw) ? ' ' : 0;
		}
		if (!nw)
			*p++ = 0;
		total += strlen(strs[i]);
	}
	kv("strings: total length");
	udec(total);
	nl();
	u32 found = 0, at = 0;
	for (int i = 0; i < NSTR; i++) {
		const char *f = find(strs[i], "theta iota");
		if (f) {
			found++;
			at += (u32)(f - strs[i]);
		}
	}
	kv("strings: 'theta iota' found");
	udec(found);
	puts_(", offsets sum ");
	udec(at);
	nl();
	for (int i = 0; i < NSTR; i += 3)
		to_upper(strs[i]);
	for (int i = 1; i < NSTR; i += 5)
		reverse(strs[i]);
	kv("strings: fnv1a32 of the text");
	hex(fnv1a32(text, (size_t)(p - text)), 8);
	nl();
	/* memmove both ways, memset, memcmp */
	memmove(text + 7, text, 20000);
	memmove(text + 100, text + 133, 30000);
	memset(text + 40000, 'x', 5003);
	kv("strings: fnv1a64 after moves");
	hex(fnv1a64(text, 50000), 16);
	nl();
	int cmp_sum = 0;
	for (int i = 0; i + 1 < NSTR; i++)
		cmp_sum += strcmp(strs[i], strs[i + 1]) < 0 ? 1 : 0;
	kv("strings: ascending neighbours");
	sdec(cmp_sum);
	nl();
	puts_("strings: sample: ");
	puts_(strs[3]);
	nl();
}

/* ---- floating point ---- */

static double my_exp(double x)
{
	/* range reduction by ln 2, then a Taylor series */
	const double ln2 = 0.6931471805599453;
	int k = (int)(x / ln2 + (x < 0 ? -0.5 : 0.5));
	double r = x - k * ln2, t = 1, s = 1;
	for (int i = 1; i < 25; i++) {
		t *= r / i;
		s += t;
	}
	u64 b = dbits(s) + ((u64)(s64)k << 52);
	double out;
	memcpy(&out, &b, 8);
	return out;
}

static double my_log(double x)
{
	/* Newton on exp */
	double y = 0;
	for (int i = 0; i < 60; i++)
		y = y - 1 + x / my_exp(y);
	return y;
}

static double my_sin(double x)
{
	const double pi = 3.141592653589793;
	x -= 2 * pi * (double)(s64)(x / (2 * pi));
	double t = x, s = x;
	for (int i = 1; i < 20; i++) {
		t *= -x * x / ((2 * i) * (2 * i + 1));
		s += t;
	}
	return s;
}

static double my_floor(double x)
{
	double t = (double)(s64)x;
	return t > x ? t - 1 : t;
}

#define NF 4096
static float fa[NF], fb[NF], fc[NF];
static double da[1024], db[1024];

static u32 mxcsr_get(void)
{
	return __builtin_ia32_stmxcsr();
}

static void mxcsr_set(u32 v)
{
	__builtin_ia32_ldmxcsr(v);
}

static void float_work(void)
{
	double s = 0, c = 0; /* Kahan */
	for (int i = 1; i <= 20000; i++) {
		double y = 1.0 / ((double)i * i) - c;
		double t = s + y;
		c = (t - s) - y;
		s = t;
	}
	kv("fp: sum 1/k^2, k <= 20000 (Kahan)");
	dbl(s);
	nl();
	kv("fp: pi from it");
	dbl(__builtin_sqrt(6 * s));
	nl();
	kv("fp: exp(1)");
	dbl(my_exp(1));
	nl();
	kv("fp: exp(-7.25)");
	dbl(my_exp(-7.25));
	nl();
	kv("fp: log(10)");
	dbl(my_log(10));
	nl();
	kv("fp: sin(1e3)");
	dbl(my_sin(1000));
	nl();
	/* sqrt and division in each rounding mode, and with FTZ/DAZ */
	u32 m0 = mxcsr_get();
	for (u32 rc = 0; rc < 4; rc++) {
		mxcsr_set((m0 & ~0x6000u) | rc << 13);
		volatile double two = 2, three = 3, tiny = 1e-308;
		double q = 1 / three, r = __builtin_sqrt(two), u = tiny / 1e10;
		float fq = (float)q;
		mxcsr_set(m0);
		puts_("fp: rounding ");
		udec(rc);
		puts_(": 1/3 ");
		dbl(q);
		puts_(" sqrt2 ");
		dbl(r);
		puts_(" denormal ");
		dbl(u);
		puts_(" (float)1/3 ");
		hex(dbits((double)fq), 16);
		nl();
	}
	mxcsr_set(m0 | 0x8040); /* FTZ, DAZ */
	volatile double tiny = 1e-308;
	double z = tiny / 1e10, w = tiny * 1e-5 + 0;
	mxcsr_set(m0);
	kv("fp: ftz/daz");
	dbl(z);
	put(' ');
	dbl(w);
	nl();
	/* conversions and rounding */
	static const double vals[] = {2.5, -2.5, 3.5, -0.49999999999999994, 1e300, -1e-300,
				      123456789.987654321, -987654.5, 0.1, 4503599627370497.0};
	u64 h = 0;
	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		double v = vals[i];
		h = h * 31 + dbits(my_floor(v > 9e18 || v < -9e18 ? 0 : v));
		h = h * 31 + dbits(__builtin_floor(v)) + dbits(__builtin_ceil(v)) * 3 +
		    dbits(__builtin_trunc(v)) * 5 + dbits(__builtin_rint(v)) * 7;
		h = h * 31 + (u64)(s64)(v > 9e18 || v < -9e18 ? 0 : v);
		h = h * 31 + dbits((double)(float)v);
		h = h * 31 + (u64)(u32)(int)(float)(v / 1e10);
	}
	kv("fp: conversions and rounding hash");
	hex(h, 16);
	nl();
	/* vectorisable float loops (fixed trip counts) */
	for (int i = 0; i < NF; i++) {
		fa[i] = (float)(xrand() % 20000) / 7.0f - 1000;
		fb[i] = (float)(xrand() % 10000) / 3.0f;
	}
	for (int k = 0; k < 8; k++)
		for (int i = 0; i < NF; i++)
			fc[i] = fa[i] * 1.5f + fb[i] * fc[i] / 1024.0f;
	for (int i = 0; i < NF; i++)
		fa[i] = fc[i] > fa[i] ? fc[i] : fa[i];
	float fsum = 0;
	for (int i = 0; i < NF; i++)
		fsum += fa[i];
	kv("fp: float loops, sum");
	dbl((double)fsum);
	nl();
	/* a double matrix product 32x32 */
	for (int i = 0; i < 1024; i++)
		da[i] = (double)(s64)(xrand() % 2001 - 1000) / 64;
	for (int i = 0; i < 32; i++)
		for (int j = 0; j < 32; j++) {
			double acc = 0;
			for (int k = 0; k < 32; k++)
				acc += da[i * 32 + k] * da[k * 32 + j];
			db[i * 32 + j] = acc;
		}
	double tr = 0, fr = 0;
	for (int i = 0; i < 32; i++)
		tr += db[i * 33];
	for (int i = 0; i < 1024; i++)
		fr += db[i] * db[i];
	kv("fp: matmul trace");
	dbl(tr);
	puts_(", frobenius^2 ");
	dbl(fr);
	nl();
	/* long double: the x87 */
	long double ls = 0;
	for (int i = 1; i <= 2000; i++)
		ls += 1.0L / ((long double)i * i * i);
	long double lr = __builtin_sqrtl(ls) / 3;
	u64 lm;
	u16 le;
	memcpy(&lm, &lr, 8);
	memcpy(&le, (char *)&lr + 8, 2);
	kv("fp: x87 zeta(3) partial sqrt/3");
	hex(le, 4);
	put(':');
	hex(lm, 16);
	puts_(" ~ ");
	dbl((double)lr);
	nl();
	kv("fp: mxcsr after");
	hex(mxcsr_get() & 0xffc0, 4);
	nl();
}

/* ---- hashing ---- */

static u32 crc_table[256];

static void crc_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static u32 crc32(const u8 *p, size_t n)
{
	u32 c = ~0u;
	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

/* CRC-32C: with SSE4.2 the instruction, else bit by bit; same value */
static u32 crc32c(const u8 *p, size_t n)
{
	u32 c = ~0u;
#ifdef __SSE4_2__
	size_t i = 0;
	u64 c64 = c;
	for (; i + 8 <= n; i += 8) {
		u64 v;
		memcpy(&v, p + i, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
	}
	c = (u32)c64;
	for (; i < n; i++)
		c = __builtin_ia32_crc32qi(c, p[i]);
#else
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0x82f63b78u ^ (c >> 1) : c >> 1;
	}
#endif
	return ~c;
}

static u64 rotl(u64 x, int r)
{
	return x << r | x >> (64 - r);
}

/* xxhash64-style: four lanes, multiply-rotate rounds, avalanche */
static u64 xxh(const u8 *p, size_t n)
{
	const u64 P1 = 0x9e3779b185ebca87ull, P2 = 0xc2b2ae3d27d4eb4full,
		  P3 = 0x165667b19e3779f9ull;
	u64 v[4] = {P1 + P2, P2, 0, -P1};
	size_t i = 0;
	for (; i + 32 <= n; i += 32)
		for (int l = 0; l < 4; l++) {
			u64 w;
			memcpy(&w, p + i + 8 * l, 8);
			v[l] = rotl(v[l] + w * P2, 31) * P1;
		}
	u64 h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18) + n;
	for (; i < n; i++)
		h = rotl(h ^ (p[i] * P3), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* big-endian loads: MOVBE with -march=x86-64-v3 */
static u32 be32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static void put_be32(u8 *p, u32 v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static u32 ror(u32 x, int r)
{
	return x >> r | x << (32 - r);
}

static const u32 sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

static void sha_block(u32 h[8], const u8 *blk)
{
	u32 w[64];
	for (int i = 0; i < 16; i++)
		w[i] = be32(blk + 4 * i);
	for (int i = 16; i < 64; i++) {
		u32 s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		u32 s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	u32 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		u32 t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
			 sha_k[i] + w[i];
		u32 t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha256(const u8 *msg, size_t n, u8 out[32])
{
	u32 h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	size_t full = n / 64, r = n % 64;
	for (size_t i = 0; i < full; i++)
		sha_block(h, msg + 64 * i);
	/* the tail, 0x80, zeros and the bit length: one or two blocks */
	u8 tail[128];
	memset(tail, 0, sizeof(tail));
	memcpy(tail, msg + 64 * full, r);
	tail[r] = 0x80;
	size_t tl = r < 56 ? 64 : 128;
	u64 bits = (u64)n * 8;
	put_be32(tail + tl - 8, (u32)(bits >> 32));
	put_be32(tail + tl - 4, (u32)bits);
	sha_block(h, tail);
	if (tl == 128)
		sha_block(h, tail + 64);
	for (int i = 0; i < 8; i++)
		put_be32(out + 4 * i, h[i]);
}

static void sha_line(const char *what, const u8 *m, size_t n)
{
	u8 d[32];
	sha256(m, n, d);
	puts_("hash: sha256(");
	puts_(what);
	puts_(") = ");
	for (int i = 0; i < 32; i++)
		hex(d[i], 2);
	nl();
}

static u8 blob[48 * 1024];

static void hash_work(void)
{
	for (size_t i = 0; i < sizeof(blob); i += 8) {
		u64 v = xrand();
		memcpy(blob + i, &v, 8);
	}
	crc_init();
	kv("hash: crc32(\"123456789\")");
	hex(crc32((const u8 *)"123456789", 9), 8);
	nl();
	kv("hash: crc32c(\"123456789\")");
	hex(crc32c((const u8 *)"123456789", 9), 8);
	nl();
	kv("hash: crc32 / crc32c of 48 KiB");
	hex(crc32(blob, sizeof(blob)), 8);
	put(' ');
	hex(crc32c(blob, sizeof(blob)), 8);
	nl();
	kv("hash: xxh-style of 48 KiB, of 1..100 byte prefixes");
	u64 x = 0;
	for (size_t n = 1; n <= 100; n++)
		x ^= xxh(blob, n) + n;
	hex(xxh(blob, sizeof(blob)), 16);
	put(' ');
	hex(x, 16);
	nl();
	sha_line("\"\"", (const u8 *)"", 0);
	sha_line("\"abc\"", (const u8 *)"abc", 3);
	sha_line("56-byte NIST message",
		 (const u8 *)"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	sha_line("48 KiB", blob, sizeof(blob));
	/* bit twiddling: POPCNT, LZCNT, TZCNT with x86-64-v3 */
	u64 pc = 0, lz = 0, tz = 0;
	for (int i = 0; i < 4096; i++) {
		u64 v = xrand() >> (i & 63);
		pc += (u64)__builtin_popcountll(v);
		if (v) {
			lz += (u64)__builtin_clzll(v);
			tz += (u64)__builtin_ctzll(v);
		}
	}
	kv("hash: popcount/clz/ctz sums");
	udec(pc);
	put(' ');
	udec(lz);
	put(' ');
	udec(tz);
	nl();
}

/* ---- sorting ---- */

#define NSORT 8192
static u32 ka[NSORT], kb[NSORT];
static double dsort[2048];

static void merge_sort(u32 *a, u32 *tmp, size_t n)
{
	if (n < 16) {
		for (size_t i = 1; i < n; i++) {
			u32 v = a[i];
			size_t j = i;
			for (; j && a[j - 1] > v; j--)
				a[j] = a[j - 1];
			a[j] = v;
		}
		return;
	}
	size_t h = n / 2;
	merge_sort(a, tmp, h);
	merge_sort(a + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = a[i] <= a[j] ? a[i++] : a[j++];
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

static void quick_sort(double *a, long lo, long hi)
{
	while (lo < hi) {
		double p = a[(lo + hi) / 2];
		long i = lo, j = hi;
		while (i <= j) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i <= j) {
				double t = a[i];
				a[i++] = a[j];
				a[j--] = t;
			}
		}
		if (j - lo < hi - i) {
			quick_sort(a, lo, j);
			lo = i;
		} else {
			quick_sort(a, i, hi);
			hi = j;
		}
	}
}

static void sort_work(void)
{
	for (int i = 0; i < NSORT; i++)
		ka[i] = (u32)xrand();
	merge_sort(ka, kb, NSORT);
	int sorted = 1;
	u64 h = 0;
	for (int i = 0; i < NSORT; i++) {
		if (i && ka[i - 1] > ka[i])
			sorted = 0;
		h = h * 0x100000001b3ull ^ ka[i];
	}
	kv("sort: 8192 u32 merge sort");
	puts_(sorted ? "sorted" : "NOT sorted");
	puts_(", min ");
	hex(ka[0], 8);
	puts_(" max ");
	hex(ka[NSORT - 1], 8);
	puts_(" hash ");
	hex(h, 16);
	nl();
	for (int i = 0; i < 2048; i++)
		dsort[i] = my_sin((double)(xrand() % 100000) / 97);
	quick_sort(dsort, 0, 2047);
	sorted = 1;
	for (int i = 1; i < 2048; i++)
		if (dsort[i - 1] > dsort[i])
			sorted = 0;
	kv("sort: 2048 doubles quicksort");
	puts_(sorted ? "sorted" : "NOT sorted");
	puts_(", median ");
	dbl(dsort[1024]);
	nl();
	/* vectorisable integer loops over the sorted keys */
	u32 mn = ~0u, mx = 0;
	u64 sum = 0;
	for (int i = 0; i < NSORT; i++) {
		kb[i] = (ka[i] * 3 + (ka[NSORT - 1 - i] >> 3)) ^ 0x5a5a5a5au;
		sum += kb[i];
	}
	for (int i = 0; i < NSORT; i++) {
		mn = kb[i] < mn ? kb[i] : mn;
		mx = kb[i] > mx ? kb[i] : mx;
	}
	kv("sort: integer loops min/max/sum");
	hex(mn, 8);
	put(' ');
	hex(mx, 8);
	put(' ');
	udec(sum);
	nl();
}

/* ---- bignum: 1000! and 3^2000 in decimal, base 10^9 limbs ---- */

#define LIMBS 400
static u32 big[LIMBS];

static int big_mul(u32 *a, int n, u32 m)
{
	u64 carry = 0;
	for (int i = 0; i < n; i++) {
		u64 v = (u64)a[i] * m + carry;
		a[i] = (u32)(v % 1000000000u);
		carry = v / 1000000000u;
	}
	while (carry) {
		a[n++] = (u32)(carry % 1000000000u);
		carry /= 1000000000u;
	}
	return n;
}

static void big_print(const char *what, const u32 *a, int n)
{
	char digits[LIMBS * 9 + 1];
	int len = 0;
	for (int i = n - 1; i >= 0; i--) {
		u32 v = a[i];
		char t[9];
		for (int k = 8; k >= 0; k--) {
			t[k] = (char)('0' + v % 10);
			v /= 10;
		}
		int k = 0;
		if (i == n - 1)
			while (k < 8 && t[k] == '0')
				k++;
		for (; k < 9; k++)
			digits[len++] = t[k];
	}
	digits[len] = 0;
	u32 dsum = 0;
	for (int i = 0; i < len; i++)
		dsum += (u32)(digits[i] - '0');
	puts_("bignum: ");
	puts_(what);
	puts_(": ");
	udec((u64)len);
	puts_(" digits, sum ");
	udec(dsum);
	puts_(", ");
	char head[31];
	memcpy(head, digits, 30);
	head[30] = 0;
	puts_(head);
	puts_("...");
	puts_(digits + len - 30);
	nl();
}

/* 128-bit products: MULX with BMI2 */
static u64 mulmod(u64 a, u64 b, u64 m)
{
	return (u64)((unsigned __int128)a * b % m);
}

static u64 powmod(u64 b, u64 e, u64 m)
{
	u64 r = 1;
	for (; e; e >>= 1, b = mulmod(b, b, m))
		if (e & 1)
			r = mulmod(r, b, m);
	return r;
}

static void bignum_work(void)
{
	memset(big, 0, sizeof(big));
	big[0] = 1;
	int n = 1;
	for (u32 k = 2; k <= 1000; k++)
		n = big_mul(big, n, k);
	big_print("1000!", big, n);
	memset(big, 0, sizeof(big));
	big[0] = 1;
	n = 1;
	for (int k = 0; k < 2000; k++)
		n = big_mul(big, n, 3);
	big_print("3^2000", big, n);
	/* Miller-Rabin on a few 64-bit numbers */
	static const u64 cands[] = {18446744073709551557ull, 18446744073709551559ull,
				    1000000000000000003ull, 999999999999999989ull,
				    4611686018427387847ull, 3215031751ull};
	puts_("bignum: primes:");
	for (unsigned c = 0; c < sizeof(cands) / sizeof(cands[0]); c++) {
		u64 m = cands[c], d = m - 1;
		int s = 0;
		while (!(d & 1))
			d >>= 1, s++;
		int prime = 1;
		static const u64 bases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
		for (unsigned b = 0; b < 12 && prime; b++) {
			u64 x = powmod(bases[b], d, m);
			if (x == 1 || x == m - 1)
				continue;
			int ok = 0;
			for (int r = 1; r < s; r++) {
				x = mulmod(x, x, m);
				if (x == m - 1) {
					ok = 1;
					break;
				}
			}
			prime = ok;
		}
		put(' ');
		put(prime ? 'P' : 'c');
	}
	nl();
}

int cg_main(void)
{
	puts_("softkvm compiled-C guest\n");
	string_work();
	float_work();
	hash_work();
	sort_work();
	bignum_work();
	puts_("done\n");
	flush();
	return 0;
}
