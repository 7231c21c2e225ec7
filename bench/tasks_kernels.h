/* bench/tasks_kernels.h — the sequential parts of the task-parallel kernels
 * shared by bench_tasks (numago) and its peers (bench_tasks_omp: OpenMP
 * tasks, bench_tasks_tbb: oneTBB task_group), so that every implementation
 * does the same work: SHA-1 and the UTS tree rules, the N-queens board
 * check, the sequential sort and merge below the cutoffs, the sort's input
 * and checksum, the fib/skynet/nqueens reference values, and the peers'
 * command line and output line.  C11 and C++ compatible (the TBB peer). */
#ifndef NG_BENCH_TASKS_KERNELS_H
#define NG_BENCH_TASKS_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double tk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- fib: no cutoff; one task per call that is not a leaf (spawn fib(n-1),
 * run fib(n-2) inline, join) ---- */
static inline int64_t tk_fib_seq(int n)
{
	return n < 2 ? n : tk_fib_seq(n - 1) + tk_fib_seq(n - 2);
}
static inline int64_t tk_fib_ref(int n)
{
	int64_t a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		int64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* ---- SHA-1 (FIPS 180-4), for messages of at most 55 bytes: one block ---- */
static inline uint32_t tk_rol(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static inline void tk_sha1_short(const uint8_t *msg, size_t len, uint8_t out[20])
{
	uint32_t w[80];
	uint8_t blk[64];
	memset(blk, 0, sizeof blk);
	memcpy(blk, msg, len);
	blk[len] = 0x80;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		blk[63 - i] = (uint8_t)(bits >> (8 * i));
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
		       (uint32_t)blk[4 * i + 2] << 8 | (uint32_t)blk[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = tk_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t h0 = 0x67452301u, h1 = 0xEFCDAB89u, h2 = 0x98BADCFEu, h3 = 0x10325476u,
	         h4 = 0xC3D2E1F0u;
	uint32_t a = h0, b = h1, c = h2, d = h3, e = h4, t;
#define TK_SHA1_ROUND(f, k)                              \
	do {                                             \
		t = tk_rol(a, 5) + (f) + e + (k) + w[i]; \
		e = d;                                   \
		d = c;                                   \
		c = tk_rol(b, 30);                       \
		b = a;                                   \
		a = t;                                   \
	} while (0)
	for (int i = 0; i < 20; i++)
		TK_SHA1_ROUND((b & c) | (~b & d), 0x5A827999u);
	for (int i = 20; i < 40; i++)
		TK_SHA1_ROUND(b ^ c ^ d, 0x6ED9EBA1u);
	for (int i = 40; i < 60; i++)
		TK_SHA1_ROUND((b & c) | (b & d) | (c & d), 0x8F1BBCDCu);
	for (int i = 60; i < 80; i++)
		TK_SHA1_ROUND(b ^ c ^ d, 0xCA62C1D6u);
#undef TK_SHA1_ROUND
	uint32_t h[5] = {h0 + a, h1 + b, h2 + c, h3 + d, h4 + e};
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

/* 1 if SHA-1("abc") is FIPS 180's test vector. */
static inline int tk_sha1_selftest(void)
{
	static const uint8_t want[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
	                                 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
	                                 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
	uint8_t got[20];
	tk_sha1_short((const uint8_t *)"abc", 3, got);
	return memcmp(got, want, 20) == 0;
}

/* ---- UTS (Unbalanced Tree Search, Olivier et al., LCPC 2006): the rules of
 * the reference uts.c with its SHA-1 splittable RNG.  A node's state is a
 * 20-byte digest; the root's is SHA-1 of 16 zero bytes and the big-endian
 * seed; child i's is SHA-1 of the parent's state and big-endian i; a
 * node's random number is its last 4 state bytes, big-endian, & 0x7fffffff,
 * and its probability that divided by 2^31. ---- */
enum { TK_UTS_BIN = 0, TK_UTS_GEO = 1 };
enum { TK_GEO_LINEAR = 0, TK_GEO_EXPDEC = 1, TK_GEO_CYCLIC = 2, TK_GEO_FIXED = 3 };
enum { TK_UTS_MAXCHILDREN = 100 };

typedef struct tk_uts_tree {
	const char *name;
	int type;     /* TK_UTS_BIN | TK_UTS_GEO */
	int shape;    /* GEO: TK_GEO_* */
	double b0;    /* root branching factor */
	int gen_mx;   /* GEO: depth */
	double q;     /* BIN: probability of a non-leaf */
	int m;        /* BIN: a non-leaf's children */
	int seed;     /* root seed */
	int64_t want; /* node count; 0: unknown (the sequential count is used) */
	const char *desc;
} tk_uts_tree;

/* T1 and T3 are the UTS distribution's sample trees (sample_trees.sh) with
 * their published sizes; T1S (T1 one level shallower) and T3S (T3 with
 * q = 0.1245) are smaller trees for the default run, with the sizes this
 * code's sequential count gives (the same code that reproduces T1's and
 * T3's published sizes). */
static const tk_uts_tree tk_uts_trees[] = {
    {"T1", TK_UTS_GEO, TK_GEO_FIXED, 4, 10, 0, 0, 19, 4130071,
     "geometric fixed, b0=4, d=10, seed 19"},
    {"T3", TK_UTS_BIN, 0, 2000, 0, 0.124875, 8, 42, 4112897,
     "binomial, b0=2000, q=0.124875, m=8, seed 42"},
    {"T1S", TK_UTS_GEO, TK_GEO_FIXED, 4, 9, 0, 0, 19, 1031269,
     "geometric fixed, b0=4, d=9, seed 19"},
    {"T3S", TK_UTS_BIN, 0, 2000, 0, 0.1245, 8, 42, 1270745,
     "binomial, b0=2000, q=0.1245, m=8, seed 42"},
};

static inline const tk_uts_tree *tk_uts_find(const char *name)
{
	for (size_t i = 0; i < sizeof tk_uts_trees / sizeof tk_uts_trees[0]; i++)
		if (strcmp(tk_uts_trees[i].name, name) == 0)
			return &tk_uts_trees[i];
	return NULL;
}

typedef struct tk_uts_node {
	uint8_t state[20];
	int height;
} tk_uts_node;

static inline void tk_uts_root(const tk_uts_tree *t, tk_uts_node *root)
{
	uint8_t s[20];
	memset(s, 0, sizeof s);
	s[16] = (uint8_t)(t->seed >> 24);
	s[17] = (uint8_t)(t->seed >> 16);
	s[18] = (uint8_t)(t->seed >> 8);
	s[19] = (uint8_t)t->seed;
	tk_sha1_short(s, 20, root->state);
	root->height = 0;
}

static inline void tk_uts_child(const tk_uts_node *parent, int i, tk_uts_node *child)
{
	uint8_t m[24];
	memcpy(m, parent->state, 20);
	m[20] = (uint8_t)(i >> 24);
	m[21] = (uint8_t)(i >> 16);
	m[22] = (uint8_t)(i >> 8);
	m[23] = (uint8_t)i;
	tk_sha1_short(m, 24, child->state);
	child->height = parent->height + 1;
}

static inline double tk_uts_prob(const tk_uts_node *n)
{
	uint32_t b = (uint32_t)n->state[16] << 24 | (uint32_t)n->state[17] << 16 |
	             (uint32_t)n->state[18] << 8 | (uint32_t)n->state[19];
	return (double)(b & 0x7fffffffu) / 2147483648.0;
}

static inline int tk_uts_num_children(const tk_uts_tree *t, const tk_uts_node *n)
{
	int nc;
	if (t->type == TK_UTS_BIN) {
		if (n->height == 0)
			return (int)floor(t->b0); /* capped at ceil(b0): the same */
		nc = tk_uts_prob(n) < t->q ? t->m : 0;
	} else {
		double bi = t->b0;
		int d = n->height;
		if (d > 0) {
			switch (t->shape) {
			case TK_GEO_EXPDEC:
				bi = t->b0 * pow((double)d, -log(t->b0) / log((double)t->gen_mx));
				break;
			case TK_GEO_FIXED:
				bi = d < t->gen_mx ? t->b0 : 0;
				break;
			case TK_GEO_LINEAR:
			default:
				bi = t->b0 * (1.0 - (double)d / (double)t->gen_mx);
				break;
			}
		}
		double p = 1.0 / (1.0 + bi);
		double u = tk_uts_prob(n);
		nc = (int)floor(log(1 - u) / log(1 - p));
	}
	return nc > TK_UTS_MAXCHILDREN ? TK_UTS_MAXCHILDREN : nc;
}

static inline int64_t tk_uts_seq_node(const tk_uts_tree *t, const tk_uts_node *n)
{
	int nc = tk_uts_num_children(t, n);
	int64_t count = 1;
	for (int i = 0; i < nc; i++) {
		tk_uts_node c;
		tk_uts_child(n, i, &c);
		count += tk_uts_seq_node(t, &c);
	}
	return count;
}

static inline int64_t tk_uts_seq(const tk_uts_tree *t)
{
	tk_uts_node root;
	tk_uts_root(t, &root);
	return tk_uts_seq_node(t, &root);
}

/* ---- N-queens: board[r] is row r's column; tasks per placement down to
 * row `cutoff`, sequential below ---- */
enum { TK_NQ_MAX = 20 };
static inline int tk_nq_ok(const signed char *board, int row, int col)
{
	for (int r = 0; r < row; r++) {
		int c = board[r];
		if (c == col || c - col == row - r || col - c == row - r)
			return 0;
	}
	return 1;
}
static inline int64_t tk_nq_seq(int n, int row, signed char *board)
{
	if (row == n)
		return 1;
	int64_t count = 0;
	for (int c = 0; c < n; c++)
		if (tk_nq_ok(board, row, c)) {
			board[row] = (signed char)c;
			count += tk_nq_seq(n, row + 1, board);
		}
	return count;
}
static inline int64_t tk_nq_ref(int n)
{
	static const int64_t known[] = {1,     1,     0,      0,       2,        10,
	                                4,     40,    92,     352,     724,      2680,
	                                14200, 73712, 365596, 2279184, 14772512, 95815104};
	return n >= 0 && n < (int)(sizeof known / sizeof known[0]) ? known[n] : -1;
}

/* ---- cilksort: mergesort whose merge splits at the larger half's middle
 * element and its binary-searched place in the other half; sequential
 * below TK_SORT_CUT elements (sort) and TK_MERGE_CUT (merge) ---- */
enum { TK_SORT_CUT = 2048, TK_MERGE_CUT = 2048 };

static inline void tk_isort(int32_t *a, int64_t n)
{
	for (int64_t i = 1; i < n; i++) {
		int32_t v = a[i];
		int64_t j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

/* sequential quicksort (median of three, insertion sort below 24) */
static inline void tk_qsort(int32_t *a, int64_t n)
{
	while (n > 24) {
		int32_t x = a[0], y = a[n / 2], z = a[n - 1];
		int32_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
		int64_t i = 0, j = n - 1;
		for (;;) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i >= j)
				break;
			int32_t t = a[i];
			a[i] = a[j];
			a[j] = t;
			i++;
			j--;
		}
		/* recurse into the smaller part, loop on the larger */
		if (j + 1 < n - j - 1) {
			tk_qsort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			tk_qsort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	tk_isort(a, n);
}

static inline void tk_merge_seq(const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                                int32_t *out)
{
	int64_t i = 0, j = 0, k = 0;
	while (i < na && j < nb)
		out[k++] = b[j] < a[i] ? b[j++] : a[i++];
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
}

/* first index in b[0..n) whose element is >= v */
static inline int64_t tk_lower_bound(const int32_t *b, int64_t n, int32_t v)
{
	int64_t lo = 0, hi = n;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (b[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* the input: n pseudo-random ints (splitmix64), the same in every program */
static inline void tk_sort_input(int32_t *a, int64_t n)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int64_t i = 0; i < n; i++) {
		x += 0x9E3779B97F4A7C15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		a[i] = (int32_t)(uint32_t)z;
	}
}

/* An order-independent checksum (sum of a mix of each element): equal for
 * a permutation of the input. */
static inline int64_t tk_sort_checksum(const int32_t *a, int64_t n)
{
	uint64_t s = 0;
	for (int64_t i = 0; i < n; i++) {
		uint64_t z = (uint64_t)(uint32_t)a[i] * 0x9E3779B97F4A7C15ull;
		s += z ^ (z >> 29);
	}
	return (int64_t)(s >> 1);
}

/* The checksum if a[] is sorted, else -1. */
static inline int64_t tk_sort_verify(const int32_t *a, int64_t n)
{
	for (int64_t i = 1; i < n; i++)
		if (a[i - 1] > a[i])
			return -1;
	return tk_sort_checksum(a, n);
}

/* ---- skynet: a 10-ary tree of tasks; leaf k returns k; the sum of a tree
 * of `size` leaves is size*(size-1)/2 ---- */
enum { TK_SKYNET_DIV = 10 };

/* ---- the peers' protocol ----
 * bench_tasks_{omp,tbb} --threads P --reps R [--cutoff C] KERNEL SIZE
 *   KERNEL SIZE: fib N | nqueens N | sort N | uts TREE | skynet N
 * Prints one line: "result <int64> times <s> <s> ..." (R wall times in
 * seconds, after one untimed warm-up), exit status 0.  The result is the
 * kernel's value (sort: the checksum of the sorted output, -1 if it is not
 * sorted) for the caller to verify. */
typedef struct tk_args {
	int threads, reps, cutoff;
	const char *kernel, *size;
} tk_args;

static inline int tk_parse(int argc, char **argv, tk_args *a, const char *help)
{
	a->threads = 0;
	a->reps = 5;
	a->cutoff = 3;
	a->kernel = NULL;
	a->size = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s\n\nusage: %s --threads P --reps R [--cutoff C] KERNEL SIZE\n"
			       "  fib N | nqueens N (--cutoff: rows with tasks) | sort N | uts "
			       "T1|T3|T1S|T3S | skynet N\n"
			       "prints: result <value> times <seconds>...\n",
			       help, argv[0]);
			exit(0);
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			a->threads = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			a->reps = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--cutoff") == 0 && i + 1 < argc) {
			a->cutoff = atoi(argv[++i]);
		} else if (a->kernel == NULL) {
			a->kernel = argv[i];
		} else if (a->size == NULL) {
			a->size = argv[i];
		} else {
			fprintf(stderr, "%s: unexpected '%s' (try --help)\n", argv[0], argv[i]);
			exit(2);
		}
	}
	if (a->kernel == NULL || a->size == NULL) {
		fprintf(stderr, "%s: KERNEL SIZE missing (try --help)\n", argv[0]);
		exit(2);
	}
	if (a->reps < 1)
		a->reps = 1;
	return 0;
}

#endif
