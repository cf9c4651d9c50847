#include "keymemo.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* The file: a header, the entries, and the fingerprint of all before it.
 *	header	"PMKEYMEM", u32 version, u32 0x01020304 (byte order),
 *		u64 entry count
 *	entry	16 bytes fingerprint, 32 bytes SHA-256 key
 * Integers are in the byte order of the machine that wrote the file; a
 * file from another order is simply not used. */
#define MAGIC		"PMKEYMEM"
#define HEADER_LEN	24
#define ENTRY_LEN	48
#define ORDER_MARK	0x01020304u

struct entry {
	unsigned char	 fp[16];
	unsigned char	 key[32];
};

struct keymemo {
	char		*file;		/* the file read, which holds loaded */
	struct entry	*loaded;	/* the file's entries, in its order */
	size_t		 nloaded;
	unsigned char	*usedmark;	/* per loaded entry: used this run */
	size_t		 cursor;	/* the loaded entry expected next */
	uint32_t	*index;		/* open addressing over all entries
					   (numbered as in order), by
					   fingerprint: 1 + entry, or 0 */
	size_t		 indexcap;
	struct entry	*fresh;		/* entries added in this run */
	size_t		 nfresh, freshcap;
	uint32_t	*order;		/* entries used, in order of use: i
					   for loaded[i], nloaded + i for
					   fresh[i] */
	size_t		 nused, usedcap;
	size_t		 misses;	/* lookups the cursor did not answer */
	size_t		 hits, added;
	int		 verify;	/* compute every key; mend the memo */
};

/* The fingerprint: two 64-bit lanes, each 16 bytes folded in by a
 * 64x64->128-bit multiply whose halves are xored, the other lane rotated
 * in so that a product that happens to vanish loses nothing; the length
 * seeds both, so zero padding of the tail is unambiguous. */
#define K0	0xa0761d6478bd642fULL
#define K1	0xe7037ed1a0b428dbULL
#define K2	0x8ebc6af09c88c6e3ULL
#define K3	0x589965cc75374cc3ULL

static uint64_t
fold(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
	uint64_t ah = a >> 32, al = a & 0xffffffffu;
	uint64_t bh = b >> 32, bl = b & 0xffffffffu;
	uint64_t hh = ah * bh, hl = ah * bl, lh = al * bh, ll = al * bl;
	uint64_t mid = (ll >> 32) + (hl & 0xffffffffu) + (lh & 0xffffffffu);
	uint64_t lo = (ll & 0xffffffffu) | mid << 32;
	uint64_t hi = hh + (hl >> 32) + (lh >> 32) + (mid >> 32);

	return lo ^ hi;
#endif
}

static uint64_t
rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static uint64_t
load64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

/* One 16-byte block into the lanes. */
static void
fold_block(uint64_t *a, uint64_t *b, const unsigned char *p)
{
	uint64_t w0 = load64(p), w1 = load64(p + 8), na;

	na = fold(w0 ^ *a ^ K1, w1 ^ K2) ^ rotl(*b, 29);
	*b = fold(w1 ^ *b ^ K3, w0 ^ K0) ^ rotl(*a, 31);
	*a = na;
}

void
keymemo_fingerprint(const void *data, size_t n, unsigned char fp[16])
{
	const unsigned char *p = data;
	unsigned char tail[16] = { 0 };
	uint64_t a = K0 ^ (uint64_t)n, b = K1 ^ ((uint64_t)n * K2);
	size_t left;

	for (left = n; left >= 16; left -= 16, p += 16)
		fold_block(&a, &b, p);
	memcpy(tail, p, left);		/* always one last block, padded */
	fold_block(&a, &b, tail);
	a = fold(a ^ K0, b ^ K3) ^ b;
	b = fold(b ^ K1, a ^ K2) ^ a;
	memcpy(fp, &a, 8);
	memcpy(fp + 8, &b, 8);
}

struct keymemo *
keymemo_new(void)
{
	return xcalloc(1, sizeof(struct keymemo));
}

static void
keymemo_clear(struct keymemo *km)
{
	free(km->file);
	free(km->usedmark);
	free(km->index);
	free(km->fresh);
	free(km->order);
	memset(km, 0, sizeof(*km));
}

void
keymemo_free(struct keymemo *km)
{
	if (km == NULL)
		return;
	keymemo_clear(km);
	free(km);
}

int
keymemo_load(struct keymemo *km, const char *path, char **errp)
{
	struct buf b = { 0 };
	struct stat st;
	unsigned char sum[16];
	uint32_t version, order;
	uint64_t count;
	char *err = NULL;
	size_t body;

	keymemo_clear(km);
	if (stat(path, &st) == -1 && errno == ENOENT)
		return 0;
	if (file_read(path, &b, &err) == -1) {
		buf_free(&b);
		*errp = err;
		return -1;
	}
	if (b.len < HEADER_LEN + 16 || memcmp(b.data, MAGIC, 8) != 0)
		goto bad;
	memcpy(&version, b.data + 8, 4);
	memcpy(&order, b.data + 12, 4);
	memcpy(&count, b.data + 16, 8);
	if (order != ORDER_MARK) {
		xasprintf(errp, "%s was written with another byte order; "
		    "computing every key again", path);
		buf_free(&b);
		return -1;
	}
	if (version != KEYMEMO_VERSION) {
		xasprintf(errp, "%s is of another format (version %u); "
		    "computing every key again", path, (unsigned)version);
		buf_free(&b);
		return -1;
	}
	body = b.len - HEADER_LEN - 16;
	if (count > body / ENTRY_LEN || count * ENTRY_LEN != body ||
	    count >= UINT32_MAX)
		goto bad;
	keymemo_fingerprint(b.data, b.len - 16, sum);
	if (memcmp(sum, b.data + b.len - 16, 16) != 0)
		goto bad;
	km->nloaded = (size_t)count;
	km->file = buf_detach(&b);
	km->loaded = (struct entry *)(km->file + HEADER_LEN);	/* bytes */
	km->usedmark = xcalloc(km->nloaded + 1, 1);
	return 0;
bad:
	buf_free(&b);
	xasprintf(errp, "%s is damaged; computing every key again", path);
	return -1;
}

/* Entry n, numbered as in km->order. */
static struct entry *
entry_at(struct keymemo *km, size_t n)
{
	return n < km->nloaded ? &km->loaded[n] : &km->fresh[n - km->nloaded];
}

/* The index slot of fp: its entry's, or the empty one it would take. */
static size_t
index_slot(struct keymemo *km, const unsigned char fp[16])
{
	size_t j, mask = km->indexcap - 1;
	uint64_t h;

	memcpy(&h, fp, 8);
	for (j = (size_t)h & mask; km->index[j] != 0; j = (j + 1) & mask)
		if (memcmp(entry_at(km, km->index[j] - 1)->fp,
		    fp, 16) == 0)
			break;
	return j;
}

/* Index every entry by fingerprint (a fingerprint given twice keeps its
 * first entry), at least half the slots empty. */
static void
index_build(struct keymemo *km)
{
	size_t n, total = km->nloaded + km->nfresh, cap, j;

	for (cap = 64; cap < 2 * (total + 1); cap *= 2)
		continue;
	if (km->index != NULL && cap <= km->indexcap)
		return;
	free(km->index);
	km->indexcap = cap;
	km->index = xcalloc(cap, sizeof(*km->index));
	for (n = 0; n < total; n++)
		if (km->index[j = index_slot(km, entry_at(km, n)->fp)] == 0)
			km->index[j] = (uint32_t)(n + 1);
}

/* The entry of fp, or -1. */
static long
entry_find(struct keymemo *km, const unsigned char fp[16])
{
	size_t j;

	if (km->cursor < km->nloaded &&
	    memcmp(km->loaded[km->cursor].fp, fp, 16) == 0)
		return (long)km->cursor++;
	km->misses++;
	index_build(km);
	if (km->index[j = index_slot(km, fp)] == 0)
		return -1;
	if (km->index[j] - 1 < km->nloaded)
		km->cursor = km->index[j];	/* on from there */
	return (long)km->index[j] - 1;
}

/* Note entry n (as numbered in km->order) as used next. */
static void
use(struct keymemo *km, size_t n)
{
	if (n < km->nloaded) {
		if (km->usedmark[n])
			return;
		km->usedmark[n] = 1;
	} else if (n < km->nloaded + km->nfresh)
		return;		/* a fresh one is in order from its start */
	if (km->nused == km->usedcap) {
		km->usedcap = km->usedcap ? 2 * km->usedcap : 1024;
		km->order = xreallocarray(km->order, km->usedcap,
		    sizeof(*km->order));
	}
	km->order[km->nused++] = (uint32_t)n;
}

void
keymemo_verify(struct keymemo *km)
{
	km->verify = 1;
}

int
keymemo_find(struct keymemo *km, const unsigned char fp[16],
    unsigned char key[32])
{
	long n;

	if (km->verify || (n = entry_find(km, fp)) == -1)
		return 0;
	memcpy(key, entry_at(km, (size_t)n)->key, 32);
	use(km, (size_t)n);
	km->hits++;
	return 1;
}

void
keymemo_add(struct keymemo *km, const unsigned char fp[16],
    const unsigned char key[32])
{
	struct entry *e;
	size_t j;

	index_build(km);
	if (km->index[j = index_slot(km, fp)] != 0) {
		/* Known (asked again, or under verify): mended if wrong. */
		e = entry_at(km, km->index[j] - 1);
		if (memcmp(e->key, key, 32) != 0) {
			memcpy(e->key, key, 32);
			km->added++;
		}
		use(km, km->index[j] - 1);
		return;
	}
	if (km->nloaded + km->nfresh + 1 >= UINT32_MAX)
		return;		/* past any plan: just not remembered */
	if (km->nfresh == km->freshcap) {
		km->freshcap = km->freshcap ? 2 * km->freshcap : 1024;
		km->fresh = xreallocarray(km->fresh, km->freshcap,
		    sizeof(*km->fresh));
	}
	memcpy(km->fresh[km->nfresh].fp, fp, 16);
	memcpy(km->fresh[km->nfresh].key, key, 32);
	km->index[j] = (uint32_t)(km->nloaded + km->nfresh + 1);
	use(km, km->nloaded + km->nfresh);	/* before it is counted */
	km->nfresh++;
	km->added++;
	index_build(km);	/* grown when half full */
}

int
keymemo_save(struct keymemo *km, const char *path, char **errp)
{
	struct buf b = { 0 };
	unsigned char sum[16];
	uint32_t version = KEYMEMO_VERSION, order = ORDER_MARK;
	uint64_t count;
	size_t i, keep;
	int rc;

	/* Nothing new, and asked in the file's order: the file stands. */
	if (km->added == 0 && !order_drifted(km->misses, km->nused))
		return 0;
	keep = 2 * km->nused + 1024;	/* the unused: up to nused + 1024 */
	buf_grow(&b, HEADER_LEN + (km->nused + km->nloaded) * ENTRY_LEN + 16);
	buf_add(&b, MAGIC, 8);
	buf_add(&b, &version, 4);
	buf_add(&b, &order, 4);
	buf_add(&b, "\0\0\0\0\0\0\0\0", 8);
	for (i = 0; i < km->nused; i++)
		buf_add(&b, km->order[i] < km->nloaded ?
		    &km->loaded[km->order[i]] :
		    &km->fresh[km->order[i] - km->nloaded], ENTRY_LEN);
	count = km->nused;
	index_build(km);
	for (i = 0; i < km->nloaded && count < keep; i++)
		if (!km->usedmark[i] &&
		    km->index[index_slot(km, km->loaded[i].fp)] == i + 1) {
			buf_add(&b, &km->loaded[i], ENTRY_LEN);
			count++;
		}
	memcpy(b.data + 16, &count, 8);
	keymemo_fingerprint(b.data, b.len, sum);
	buf_add(&b, sum, 16);
	rc = file_write_atomic(path, b.data, b.len, 0, errp);
	buf_free(&b);
	log_debug(LOG_STATE, "%s: %zu keys saved (%zu new or mended, %zu "
	    "lookups out of order)", path, (size_t)count, km->added,
	    km->misses);
	return rc;
}

size_t
keymemo_hits(const struct keymemo *km)
{
	return km->hits;
}

size_t
keymemo_added(const struct keymemo *km)
{
	return km->added;
}
