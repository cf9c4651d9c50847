/* SHA-256 through OpenSSL's digest functions of its own (SHA256_Init
 * and the rest), deprecated in 3.0 in favour of EVP: EVP fetches a
 * provider first, which costs every run 2 MB and its configuration file
 * for what the plain functions do as fast (with the same SHA
 * instructions) and without either. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "util.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("planmake: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *
xmalloc(size_t size)
{
	void *p;

	if ((p = malloc(size ? size : 1)) == NULL)
		fatal("out of memory");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		fatal("out of memory");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatal("out of memory");
	if ((p = realloc(p, n * size > 0 ? n * size : 1)) == NULL)
		fatal("out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
xasprintf(char **strp, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("bad format string");
	*strp = xmalloc((size_t)n + 1);
	vsnprintf(*strp, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return n;
}

void
buf_grow(struct buf *b, size_t extra)
{
	size_t need;

	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < need)
		b->cap *= 2;
	b->data = xreallocarray(b->data, b->cap, 1);
	b->data[b->len] = '\0';	/* the promise of struct buf */
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, int c)
{
	buf_grow(b, 1);
	b->data[b->len++] = (char)c;
	b->data[b->len] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("bad format string");
	buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
}

char *
buf_detach(struct buf *b)
{
	char *p;

	p = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The hash of n bytes for the map: eight bytes a step, mixed. */
static uint64_t
smap_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	while (n >= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 29;
	return h;
}

/* The slot of key (of hash h) in m: where it is, or the empty slot it
 * would go in. */
static size_t
smap_slot(const struct smap *m, const char *key, size_t n, uint64_t h)
{
	const struct smap_ent *e;
	size_t i, mask;

	mask = m->cap - 1;
	i = (size_t)(uint32_t)h & mask;
	while ((e = &m->ents[i])->key != NULL) {
		if (e->hash == h && strncmp(e->key, key, n) == 0 &&
		    e->key[n] == '\0')
			break;
		i = (i + 1) & mask;
	}
	return i;
}

void *
smap_getn(const struct smap *m, const char *key, size_t n)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = smap_slot(m, key, n, smap_hash(key, n));
	return m->ents[i].key ? m->ents[i].val : NULL;
}

void *
smap_get(const struct smap *m, const char *key)
{
	return smap_getn(m, key, strlen(key));
}

/* Grow the table to cap slots (a power of two, more than now), placing
 * every key by its stored hash. */
static void
smap_resize_to(struct smap *m, size_t cap)
{
	struct smap_ent *ents;
	size_t i, j;

	ents = xcalloc(cap, sizeof(*ents));
	for (i = 0; i < m->cap; i++) {
		if (m->ents[i].key == NULL)
			continue;
		j = (size_t)(uint32_t)m->ents[i].hash & (cap - 1);
		while (ents[j].key != NULL)
			j = (j + 1) & (cap - 1);
		ents[j] = m->ents[i];
	}
	free(m->ents);
	m->ents = ents;
	m->cap = cap;
}

static void
smap_resize(struct smap *m)
{
	smap_resize_to(m, m->cap ? m->cap * 2 : 16);
}

int
order_drifted(size_t misses, size_t used)
{
	/* A few new or moved files cost a few misses: not worth a write. */
	return misses > 64 && misses * 8 > used;
}

void
smap_reserve(struct smap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (n > cap / 4 * 3)
		cap *= 2;
	if (cap > m->cap)
		smap_resize_to(m, cap);
}

void *
smap_put(struct smap *m, const char *key, void *val)
{
	struct smap_ent *e;
	uint64_t h;
	size_t n;
	void *old;

	/* Up to 3/4 full: a probe compares the hash in the slot, so a
	 * longer run of slots costs little beside the memory saved. */
	if (m->len + 1 > m->cap / 4 * 3)
		smap_resize(m);
	n = strlen(key);
	h = smap_hash(key, n);
	e = &m->ents[smap_slot(m, key, n, h)];
	if (e->key != NULL) {
		old = e->val;
		e->val = val;
		return old;
	}
	e->key = m->borrowed ? (char *)key : xstrndup(key, n);
	e->val = val;
	e->hash = h;
	m->len++;
	return NULL;
}

void
smap_free(struct smap *m)
{
	size_t i;

	for (i = 0; i < m->cap && !m->borrowed; i++)
		free(m->ents[i].key);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

int
file_read(const char *path, struct buf *b, char **errp)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1) {
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		xasprintf(errp, "cannot read %s: Is a directory", path);
		return -1;
	}
	if (fstat(fd, &st) == 0 && st.st_size > 0)
		buf_grow(b, (size_t)st.st_size);
	for (;;) {
		buf_grow(b, 65536);
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			xasprintf(errp, "cannot read %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	close(fd);
	return 0;
}

void
filestat_set(struct filestat *fs, const struct stat *st)
{
	fs->size = (uint64_t)st->st_size;
	fs->ino = (uint64_t)st->st_ino;
	fs->dev = (uint64_t)st->st_dev;
	fs->mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 +
	    st->st_mtim.tv_nsec;
	fs->ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 +
	    st->st_ctim.tv_nsec;
}

int
file_stat(const char *path, struct filestat *fs)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	filestat_set(fs, &st);
	return 0;
}

int
mkdir_p(const char *dir, char **errp)
{
	char *p, *s;

	s = xstrdup(dir);
	for (p = s + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		int end = *p == '\0';
		*p = '\0';
		if (mkdir(s, 0777) == -1 && errno != EEXIST) {
			xasprintf(errp, "cannot create directory %s: %s", s,
			    strerror(errno));
			free(s);
			return -1;
		}
		if (end)
			break;
		*p = '/';
	}
	free(s);
	return 0;
}

char *
path_dirname(const char *path)
{
	const char *slash;

	if ((slash = strrchr(path, '/')) == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

char *
path_join(const char *dir, const char *name)
{
	char *s;

	if (name[0] == '/' || strcmp(dir, ".") == 0)
		return xstrdup(name);
	xasprintf(&s, "%s/%s", dir, name);
	return s;
}

/* Write all n bytes to fd, retrying short writes. */
static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
file_stage(const char *path, const void *data, size_t len, int sync,
    char **tmpp, char **errp)
{
	struct stat st;
	char *dir, *tmp;
	mode_t mode;
	int fd;

	*tmpp = NULL;
	dir = path_dirname(path);
	if (mkdir_p(dir, errp) == -1) {
		free(dir);
		return -1;
	}
	free(dir);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		xasprintf(errp, "cannot write %s: Is a directory", path);
		return -1;
	}
	mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
	xasprintf(&tmp, "%s.pm-tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666)) == -1) {
		xasprintf(errp, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (write_all(fd, data, len) == -1 || (sync && fsync(fd) == -1) ||
	    (mode && fchmod(fd, mode) == -1)) {
		xasprintf(errp, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) == -1) {
		xasprintf(errp, "cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	*tmpp = tmp;
	return 0;
}

int
file_commit(const char *tmp, const char *path, char **errp)
{
	if (rename(tmp, path) == -1) {
		xasprintf(errp, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, int sync,
    char **errp)
{
	char *tmp;
	int rc;

	if (file_stage(path, data, len, sync, &tmp, errp) == -1)
		return -1;
	rc = file_commit(tmp, path, errp);
	free(tmp);
	return rc;
}

int
hex64_valid(const char *s)
{
	static unsigned char ok[256];
	unsigned char all = 1;
	size_t i;

	if (strnlen(s, 65) != 64)
		return 0;
	if (!ok['0']) {
		for (i = '0'; i <= '9'; i++)
			ok[i] = 1;
		for (i = 'a'; i <= 'f'; i++)
			ok[i] = 1;
	}
	/* No branch per digit: random digits would mispredict half of
	 * them, and a lock line has 128. */
	for (i = 0; i < 64; i++)
		all &= ok[(unsigned char)s[i]];
	return all;
}

/* struct sha256 holds a SHA256_CTX. */
typedef char	sha256_ctx_fits[sizeof(SHA256_CTX) <= sizeof(struct sha256) ?
		    1 : -1];

void
sha256_init(struct sha256 *h)
{
	if (SHA256_Init((SHA256_CTX *)h) != 1)
		fatal("SHA-256 failed");
}

void
sha256_update(struct sha256 *h, const void *p, size_t n)
{
	if (SHA256_Update((SHA256_CTX *)h, p, n) != 1)
		fatal("SHA-256 failed");
}

void
sha256_final(struct sha256 *h, unsigned char out[32])
{
	if (SHA256_Final(out, (SHA256_CTX *)h) != 1)
		fatal("SHA-256 failed");
}

void
hex_digest(const unsigned char md[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void
sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	struct sha256 h;

	/* Not SHA256(): in OpenSSL 3 it goes through EVP. */
	sha256_init(&h);
	sha256_update(&h, p, n);
	sha256_final(&h, md);
	hex_digest(md, out);
}

int
utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, k, need;
	uint64_t w;
	uint32_t cp;

	for (i = 0; i < n; i += need + 1) {
		/* ASCII eight bytes at a time: a plan is mostly ASCII. */
		while (i + 8 <= n) {
			memcpy(&w, u + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i == n)
			break;
		if (u[i] < 0x80) {
			need = 0;
			continue;
		}
		if (u[i] >= 0xc2 && u[i] <= 0xdf)
			need = 1, cp = u[i] & 0x1f;
		else if (u[i] >= 0xe0 && u[i] <= 0xef)
			need = 2, cp = u[i] & 0x0f;
		else if (u[i] >= 0xf0 && u[i] <= 0xf4)
			need = 3, cp = u[i] & 0x07;
		else
			goto fail;
		if (i + need >= n)
			goto fail;
		for (k = 1; k <= need; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				goto fail;
			cp = cp << 6 | (u[i + k] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (need == 3 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			goto fail;
	}
	return 1;
fail:
	if (bad)
		*bad = i;
	return 0;
}

double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The size of an arena's largest chunks. */
#define ARENA_CHUNK	(2 * 1024 * 1024)

void *
arena_alloc(struct arena *a, size_t n)
{
	size_t size;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if ((size_t)(a->end - a->cur) < n) {
		/* Chunks grow from 64 kB to 2 MB: small plans stay small. */
		size = a->nchunks < 5 ? (size_t)65536 << a->nchunks :
		    ARENA_CHUNK;
		if (n > size / 4)
			size = n;
		if (posix_memalign(&p, 16, size) != 0)
			fatal("out of memory");
		a->chunks = xreallocarray(a->chunks, a->nchunks + 1,
		    sizeof(*a->chunks));
		a->chunks[a->nchunks++] = p;
		a->cur = p;
		a->end = a->cur + size;
	}
	p = a->cur;
	a->cur += n;
	memset(p, 0, n);
	return p;
}

void
arena_free(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}

/* Undo, in place, the escapes of a field of the lock or the journal:
 * \\, \t and \n.  -1 on any other escape. */
int
unescape_field(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		switch (*++s) {
		case '\\': *w++ = '\\'; break;
		case 't': *w++ = '\t'; break;
		case 'n': *w++ = '\n'; break;
		default: return -1;
		}
	}
	*w = '\0';
	return 0;
}
