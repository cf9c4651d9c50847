#include "hashdb.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* The file: a header, the records, and the SHA-256 of all before it.
 *	header	"PMHASHDB", u32 version, u32 0x01020304 (byte order),
 *		u64 record count, u64 reserved
 *	record	u64 size, u64 inode, u64 device, i64 mtime, i64 ctime,
 *		i64 hashed (ns since the epoch, when the hash was taken),
 *		32 bytes SHA-256, u32 path length, the path (no NUL)
 * Integers are in the byte order of the machine that wrote the file; a
 * file from another order is simply not used. */
#define MAGIC		"PMHASHDB"
#define HEADER_LEN	32
#define RECORD_LEN	84
#define ORDER_MARK	0x01020304u

struct hrec {
	uint64_t	size, ino, dev;
	int64_t		mtime, ctime, hashed;
	unsigned char	hash[32];
	int		used;		/* looked at in this run */
	int		heap;		/* allocated alone, not in db->bulk */
	size_t		idx;		/* in db->loaded, for a loaded one */
	char		path[];		/* the map's key, NUL-terminated */
};

/* The bytes a record of a path of n bytes takes in db->bulk. */
#define REC_SIZE(n)	((sizeof(struct hrec) + (n) + 1 + 7) & ~(size_t)7)

/* The store is saved in the order in which the run looked its files
 * up, and the next run looks them up in much the same order: a cursor
 * into the records loaded answers most lookups with one comparison,
 * and the map by path is built only when a lookup misses it. */
struct hashdb {
	struct smap	 map;		/* path -> struct hrec *, the keys
					   borrowed from the records; only
					   once mapped is set */
	int		 mapped;
	char		*bulk;		/* the records loaded, one block:
					   each path beside its record */
	struct hrec	**loaded;	/* those records in file order */
	size_t		 nloaded;
	size_t		 cursor;	/* the next one expected */
	struct hrec	**order;	/* records in the order first used */
	size_t		 nused, usedcap;
	size_t		 misses;	/* lookups the cursor did not answer */
	size_t		 nreads;
	int		 dirty;
	struct buf	 content;	/* reused for each file read */
};

struct hashdb *
hashdb_new(void)
{
	return xcalloc(1, sizeof(struct hashdb));
}

static void
hashdb_clear(struct hashdb *db)
{
	size_t i;

	for (i = 0; i < db->map.cap; i++) {
		struct hrec *r = db->map.ents[i].val;

		if (db->map.ents[i].key != NULL && r->heap)
			free(r);
	}
	smap_free(&db->map);
	db->mapped = 0;
	free(db->bulk);
	db->bulk = NULL;
	free(db->loaded);
	db->loaded = NULL;
	db->nloaded = db->cursor = 0;
	free(db->order);
	db->order = NULL;
	db->nused = db->usedcap = 0;
}

/* Build the map by path from the records loaded, once. */
static void
map_build(struct hashdb *db)
{
	size_t i;

	if (db->mapped)
		return;
	db->mapped = 1;
	db->map.borrowed = 1;
	smap_reserve(&db->map, db->nloaded);
	/* A path is saved once; were it not, the last record wins. */
	for (i = 0; i < db->nloaded; i++)
		smap_put(&db->map, db->loaded[i]->path, db->loaded[i]);
}

/* The record of path, or NULL. */
static struct hrec *
rec_find(struct hashdb *db, const char *path)
{
	struct hrec *r;

	if (db->cursor < db->nloaded &&
	    strcmp(db->loaded[db->cursor]->path, path) == 0)
		return db->loaded[db->cursor++];
	map_build(db);
	if ((r = smap_get(&db->map, path)) != NULL && !r->heap)
		db->cursor = r->idx + 1;	/* on from there */
	db->misses++;
	return r;
}

/* Note that r was looked at in this run. */
static void
rec_use(struct hashdb *db, struct hrec *r)
{
	if (r->used)
		return;
	r->used = 1;
	if (db->nused == db->usedcap) {
		db->usedcap = db->usedcap ? 2 * db->usedcap : 1024;
		db->order = xreallocarray(db->order, db->usedcap,
		    sizeof(*db->order));
	}
	db->order[db->nused++] = r;
}

void
hashdb_free(struct hashdb *db)
{
	if (db == NULL)
		return;
	hashdb_clear(db);
	buf_free(&db->content);
	free(db);
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(&ts);
}

static int
from_hex(const char *s, unsigned char *h)
{
	int i, hi, lo;

	for (i = 0; i < 32; i++) {
		hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
		lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' :
		    s[2 * i + 1] - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return -1;
		h[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Fill r's stat fields from fs. */
static void
rec_stat(struct hrec *r, const struct filestat *fs)
{
	r->size = fs->size;
	r->ino = fs->ino;
	r->dev = fs->dev;
	r->mtime = fs->mtime;
	r->ctime = fs->ctime;
}

/* The record of path, created empty when there is none. */
static struct hrec *
rec_get(struct hashdb *db, const char *path)
{
	struct hrec *r;
	size_t n;

	if ((r = rec_find(db, path)) == NULL) {
		n = strlen(path);
		r = xcalloc(1, sizeof(*r) + n + 1);
		memcpy(r->path, path, n + 1);
		r->heap = 1;
		db->map.borrowed = 1;
		smap_put(&db->map, r->path, r);
	}
	return r;
}

/* Read n bytes of f into p, adding them to the checksum.  -1 at a short
 * read. */
static int
take(FILE *f, struct sha256 *md, void *p, size_t n)
{
	if (fread(p, 1, n, f) != n)
		return -1;
	sha256_update(md, p, n);
	return 0;
}

int
hashdb_load(struct hashdb *db, const char *path, char **errp)
{
	unsigned char head[HEADER_LEN], rec[RECORD_LEN], sum[32], want[32];
	uint64_t count, i;
	uint32_t version, order, plen;
	struct sha256 md;
	struct hrec *r;
	struct stat st;
	double t0 = now_mono();
	size_t names, at;
	FILE *f;

	/* Streamed, so that a large store costs no buffer of its size. */
	if ((f = fopen(path, "rb")) == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	sha256_init(&md);
	if (take(f, &md, head, HEADER_LEN) == -1 ||
	    memcmp(head, MAGIC, 8) != 0)
		goto bad;
	memcpy(&version, head + 8, 4);
	memcpy(&order, head + 12, 4);
	memcpy(&count, head + 16, 8);
	if (order != ORDER_MARK) {
		xasprintf(errp, "%s was written with another byte order; "
		    "hashing every file again", path);
		fclose(f);
		return -1;
	}
	if (version != HASHDB_VERSION) {
		xasprintf(errp, "%s is of another format (version %u); "
		    "hashing every file again", path, (unsigned)version);
		fclose(f);
		return -1;
	}
	/* The paths' bytes are what the file holds beyond the fixed
	 * parts: with them the block of records is sized at once. */
	if (count > 100000000 || fstat(fileno(f), &st) == -1 ||
	    (uint64_t)st.st_size < HEADER_LEN + 32 + count * RECORD_LEN)
		goto bad;
	names = (size_t)((uint64_t)st.st_size - HEADER_LEN - 32 -
	    count * RECORD_LEN);
	db->bulk = xmalloc((size_t)count * REC_SIZE(0) + names);
	db->loaded = xcalloc((size_t)count + 1, sizeof(*db->loaded));
	for (i = at = 0; i < count; i++) {
		if (take(f, &md, rec, RECORD_LEN) == -1)
			goto bad;
		memcpy(&plen, rec + 80, 4);
		if (plen == 0 || plen > 4096 || plen > names)
			goto bad;
		names -= plen;
		r = (struct hrec *)(db->bulk + at);
		at += REC_SIZE(plen);
		r->used = 0;
		r->heap = 0;
		r->idx = (size_t)i;
		memcpy(&r->size, rec, 8);
		memcpy(&r->ino, rec + 8, 8);
		memcpy(&r->dev, rec + 16, 8);
		memcpy(&r->mtime, rec + 24, 8);
		memcpy(&r->ctime, rec + 32, 8);
		memcpy(&r->hashed, rec + 40, 8);
		memcpy(r->hash, rec + 48, 32);
		if (take(f, &md, r->path, plen) == -1 ||
		    memchr(r->path, '\0', plen) != NULL)
			goto bad;
		r->path[plen] = '\0';
		db->loaded[db->nloaded++] = r;
	}
	sha256_final(&md, sum);
	if (fread(want, 1, 32, f) != 32 || memcmp(sum, want, 32) != 0 ||
	    fgetc(f) != EOF)
		goto bad;
	fclose(f);
	log_debug(LOG_STATE, "%s: %zu file hashes, loaded in %.1f ms", path,
	    db->nloaded, (now_mono() - t0) * 1000);
	return 0;
bad:
	xasprintf(errp, "%s is damaged; hashing every file again", path);
	hashdb_clear(db);
	fclose(f);
	return -1;
}

static void
put_rec(struct buf *b, const char *path, const struct hrec *r)
{
	unsigned char rec[RECORD_LEN];
	uint32_t plen = (uint32_t)strlen(path);

	memcpy(rec, &r->size, 8);
	memcpy(rec + 8, &r->ino, 8);
	memcpy(rec + 16, &r->dev, 8);
	memcpy(rec + 24, &r->mtime, 8);
	memcpy(rec + 32, &r->ctime, 8);
	memcpy(rec + 40, &r->hashed, 8);
	memcpy(rec + 48, r->hash, 32);
	memcpy(rec + 80, &plen, 4);
	buf_add(b, rec, sizeof(rec));
	buf_add(b, path, plen);
}

int
hashdb_save(struct hashdb *db, const char *path,
    int (*keep)(const char *path, void *arg), void *arg, char **errp)
{
	unsigned char sum[32];
	struct buf b = { 0 };
	uint32_t version = HASHDB_VERSION, order = ORDER_MARK;
	uint64_t count = 0, zero = 0;
	struct sha256 md;
	size_t i;
	int rc;

	/* Saved again when the order of lookups drifted from the file's,
	 * so that the next run finds its records in order. */
	if (!db->dirty && !order_drifted(db->misses, db->nused))
		return 0;
	log_debug(LOG_STATE, "%s: saved (%s; %zu records used, %zu lookups "
	    "out of order)", path, db->dirty ? "changed" : "reordered",
	    db->nused, db->misses);
	buf_grow(&b, HEADER_LEN + (db->nloaded + db->nused) *
	    (RECORD_LEN + 32) + 32);
	buf_add(&b, MAGIC, 8);
	buf_add(&b, &version, 4);
	buf_add(&b, &order, 4);
	buf_add(&b, &count, 8);
	buf_add(&b, &zero, 8);
	/* What this run looked at, in its order; then what it kept. */
	for (i = 0; i < db->nused; i++)
		if (db->order[i]->hashed != 0) {
			put_rec(&b, db->order[i]->path, db->order[i]);
			count++;
		}
	map_build(db);
	for (i = 0; i < db->map.cap; i++) {
		const char *k = db->map.ents[i].key;
		struct hrec *r = db->map.ents[i].val;

		if (k == NULL || r->hashed == 0 || r->used)
			continue;
		if (keep != NULL && !keep(k, arg))
			continue;
		put_rec(&b, k, r);
		count++;
	}
	memcpy(b.data + 16, &count, 8);
	sha256_init(&md);
	sha256_update(&md, b.data, b.len);
	sha256_final(&md, sum);
	buf_add(&b, sum, 32);
	rc = file_write_atomic(path, b.data, b.len, 0, errp);
	buf_free(&b);
	if (rc == 0)
		db->dirty = 0;
	return rc;
}

/* Read all of fd into b, from its start.  -1 with errno on failure. */
static int
read_fd(int fd, struct buf *b)
{
	ssize_t n;

	b->len = 0;
	for (;;) {
		buf_grow(b, 65536);
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	return 0;
}

/* Whether record r still tells the content of a file of stat fs. */
static int
rec_fresh(const struct hrec *r, const struct filestat *fs, const char **why)
{
	if (r->hashed == 0) {
		*why = "first time";
		return 0;
	}
	if (r->size != fs->size || r->mtime != fs->mtime ||
	    r->ctime != fs->ctime || r->ino != fs->ino || r->dev != fs->dev) {
		*why = "its stat changed";
		return 0;
	}
	if (r->mtime >= r->hashed - HASHDB_RACY_NS ||
	    r->ctime >= r->hashed - HASHDB_RACY_NS) {
		*why = "modified too close to when it was hashed (racy)";
		return 0;
	}
	return 1;
}

int
hashdb_hash(struct hashdb *db, const char *path, char out[65], char **errp)
{
	return hashdb_hash_stat(db, path, NULL, out, errp);
}

int
hashdb_hash_stat(struct hashdb *db, const char *path,
    const struct filestat *fs, char out[65], char **errp)
{
	struct filestat now;
	struct stat st;
	struct hrec *r;
	const char *why;
	int64_t t;
	int fd;

	if (fs == NULL) {
		if (file_stat(path, &now) == -1) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 0;
			xasprintf(errp, "cannot stat %s: %s", path,
			    strerror(errno));
			return -1;
		}
		fs = &now;
	}
	r = rec_find(db, path);
	if (r != NULL && rec_fresh(r, fs, &why)) {
		rec_use(db, r);
		hex_digest(r->hash, out);
		return 1;
	}
	if (r == NULL)
		why = "first time";

	/* The time is taken before reading, so that a write during the
	 * read falls in the racy window. */
	t = now_ns();
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		xasprintf(errp, "cannot read %s: Is a directory", path);
		close(fd);
		return -1;
	}
	if (read_fd(fd, &db->content) == -1) {
		xasprintf(errp, "cannot read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	db->nreads++;
	log_debug(LOG_STATE, "%s %s: %s", r && r->hashed ? "rehash" : "hash",
	    path, why);
	sha256_hex(db->content.data ? db->content.data : "", db->content.len,
	    out);
	r = rec_get(db, path);
	filestat_set(&now, &st);
	rec_stat(r, &now);
	r->hashed = t;
	from_hex(out, r->hash);
	rec_use(db, r);
	db->dirty = 1;
	return 1;
}

void
hashdb_record(struct hashdb *db, const char *path, const char hash[65])
{
	struct filestat fs;
	struct hrec *r;
	int64_t t;

	t = now_ns();
	r = rec_get(db, path);
	db->dirty = 1;
	if (file_stat(path, &fs) == -1) {
		r->hashed = 0;		/* not saved, never fresh */
		return;
	}
	rec_stat(r, &fs);
	r->hashed = t;
	from_hex(hash, r->hash);
	rec_use(db, r);
}

size_t
hashdb_reads(const struct hashdb *db)
{
	return db->nreads;
}

size_t
hashdb_count(struct hashdb *db)
{
	map_build(db);
	return db->map.len;
}
