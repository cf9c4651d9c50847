/* util: allocation that never fails, growable buffers, a string map,
 * files written whole, SHA-256.  The bottom of the module stack. */
#ifndef PM_UTIL_H
#define PM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define PM_NORETURN __attribute__((noreturn))
#define PM_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Print "planmake: " and the message to stderr, then exit 2. */
PM_NORETURN void	fatal(const char *fmt, ...) PM_PRINTF(1, 2);

/* Allocators: they die on out-of-memory and never return NULL. */
void	*xmalloc(size_t size);
void	*xcalloc(size_t n, size_t size);
void	*xreallocarray(void *p, size_t n, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
/* Format into a new string at *strp.  The caller frees it. */
int	 xasprintf(char **strp, const char *fmt, ...) PM_PRINTF(2, 3);

/* A growable byte buffer, always NUL-terminated once data is non-NULL. */
struct buf {
	char	*data;		/* owned */
	size_t	 len;
	size_t	 cap;
};

void	 buf_grow(struct buf *b, size_t extra);
void	 buf_add(struct buf *b, const void *p, size_t n);
void	 buf_addstr(struct buf *b, const char *s);
void	 buf_addc(struct buf *b, int c);
void	 buf_printf(struct buf *b, const char *fmt, ...) PM_PRINTF(2, 3);
/* Hand the contents to the caller (never NULL) and reset b. */
char	*buf_detach(struct buf *b);
void	 buf_free(struct buf *b);

/* A map from strings to pointers, open addressing.  Keys are copied
 * (unless borrowed is set). */
struct smap_ent {
	char		 *key;		/* owned, or NULL in an empty slot */
	void		 *val;
	uint64_t	  hash;		/* of key: most probes compare this,
					   not strings */
};
struct smap {
	struct smap_ent	 *ents;		/* one array, so that a probe reads
					   one cache line */
	size_t		  cap;		/* a power of two, or 0 */
	size_t		  len;
	int		  borrowed;	/* set before the first put: keys are
					   the caller's, neither copied nor
					   freed, and must outlive the map */
};

/* The value stored under key, or NULL. */
void	*smap_get(const struct smap *m, const char *key);
/* The value under the first n bytes of key, or NULL. */
void	*smap_getn(const struct smap *m, const char *key, size_t n);
/* Store val under key, replacing any old value; returns the old value. */
void	*smap_put(struct smap *m, const char *key, void *val);
/* Whether a store read back by cursor (the hash store, the key memo)
 * was looked up so far out of its saved order that it is worth saving
 * again in the new one: misses lookups the cursor did not answer, of
 * used records. */
int	 order_drifted(size_t misses, size_t used);
/* Make room for n keys in all, so that as many puts do not grow the
 * table.  Filling a table from another one's slot order while it grows
 * piles keys into long runs; reserving first avoids that. */
void	 smap_reserve(struct smap *m, size_t n);
/* Free the keys and tables (not the values). */
void	 smap_free(struct smap *m);
/* The FNV-1a hash of n bytes. */
uint64_t hash_bytes(const void *p, size_t n);

/* Read a whole file into b (appending).  -1 and *errp on failure. */
int	 file_read(const char *path, struct buf *b, char **errp);
/* Write a file whole or not at all: a temporary file in the same
 * directory, written, flushed with fsync when sync is set, then renamed
 * over path.  Missing directories are created; an existing file's mode
 * is kept. */
int	 file_write_atomic(const char *path, const void *data, size_t len,
	    int sync, char **errp);
/* The two halves of file_write_atomic(), so that several files can be
 * written before any is renamed into place.  file_stage() writes data to
 * a new temporary file beside path (creating directories, taking path's
 * mode if it exists) and sets *tmpp to its name, which the caller frees;
 * file_commit() renames tmp over path, removing tmp when that fails. */
int	 file_stage(const char *path, const void *data, size_t len, int sync,
	    char **tmpp, char **errp);
int	 file_commit(const char *tmp, const char *path, char **errp);

struct stat;

/* What a stat(2) tells of whether a file's content may have changed,
 * as the hash store compares it with the stat it hashed a file under. */
struct filestat {
	uint64_t	 size;
	uint64_t	 ino;
	uint64_t	 dev;
	int64_t		 mtime;		/* nanoseconds since the epoch */
	int64_t		 ctime;
};

/* stat(2) path into *fs: 0, or -1 with errno. */
int	 file_stat(const char *path, struct filestat *fs);
/* *fs from what stat(2) or fstat(2) put in *st. */
void	 filestat_set(struct filestat *fs, const struct stat *st);

/* Create dir and its parents.  An existing directory is fine. */
int	 mkdir_p(const char *dir, char **errp);
/* The directory part of path ("." when there is none).  Caller frees. */
char	*path_dirname(const char *path);
/* dir/name, or name alone when dir is "." or name is absolute. */
char	*path_join(const char *dir, const char *name);

/* Whether s is 64 lower-case hex digits and a NUL (a SHA-256 as
 * sha256_hex() writes it). */
int	 hex64_valid(const char *s);
/* SHA-256 of n bytes as 64 lower-case hex digits and a NUL. */
void	 sha256_hex(const void *p, size_t n, char out[65]);
/* SHA-256, streamed: sha256_init(), any number of sha256_update(), then
 * sha256_final() with the 32 bytes of the digest. */
struct sha256 {
	uint64_t	 opaque[16];	/* OpenSSL's SHA256_CTX */
};
void	 sha256_init(struct sha256 *h);
void	 sha256_update(struct sha256 *h, const void *p, size_t n);
void	 sha256_final(struct sha256 *h, unsigned char out[32]);
/* The 32 bytes at md as 64 lower-case hex digits and a NUL. */
void	 hex_digest(const unsigned char md[32], char out[65]);

/* Whether the n bytes at s are valid UTF-8.  On failure *bad is the
 * offset of the first bad byte. */
int	 utf8_valid(const char *s, size_t n, size_t *bad);

/* Monotonic time in seconds. */
double	 now_mono(void);

/* Memory for many small pieces freed together: handed out in order from
 * large chunks, and freed all at once by arena_free().  The chunks are
 * not asked for huge pages: a 2 MB page is resident whole, which cost a
 * 10,000-task no-op 3 MB of its peak memory and saved no time. */
struct arena {
	char	 *cur;
	char	 *end;
	void	**chunks;
	size_t	  nchunks;
};

/* n bytes from a, zeroed and aligned for any type.  Never NULL. */
void	*arena_alloc(struct arena *a, size_t n);
/* Free every piece of a; a is empty and usable again. */
void	 arena_free(struct arena *a);

/* Undo, in place, the escapes of a field of the lock or the journal:
 * \\, \t and \n.  -1 on any other escape. */
int	 unescape_field(char *s);

#endif
