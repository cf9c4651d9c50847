/* keymemo: the request keys of the last run, by a fingerprint of their
 * canonical text, kept in .planmake/keys.
 *
 * A key is the SHA-256 of its request's canonical JSON, some 1,100 bytes
 * a task; a no-op computes every task's key only to find it unchanged,
 * and SHA-256 was then the largest part of its time.  The memo maps a
 * 128-bit fingerprint of those exact bytes (several times cheaper to
 * take) to the key they hashed to: the same text gives the same key
 * without SHA-256, any other text misses and is hashed.  A fingerprint
 * is not a key: two texts that differ collide with odds of 2^-128, and
 * only a memo entry, never the cache or the lock, is found by one.
 *
 * Entries are saved in the order the run used them, and the next run,
 * asking in much the same order, finds each at a cursor; an index is
 * built only when a lookup misses it. */
#ifndef PM_KEYMEMO_H
#define PM_KEYMEMO_H

#include <stddef.h>

#define KEYMEMO_VERSION	1

struct keymemo;

struct keymemo	*keymemo_new(void);
void		 keymemo_free(struct keymemo *km);

/* Read the memo at path.  A missing file is an empty memo; a damaged
 * one or one of another version leaves km empty and returns -1 with
 * *errp (the caller warns: the memo only saves time). */
int		 keymemo_load(struct keymemo *km, const char *path,
		    char **errp);

/* Write the memo to path (temporary file and rename) when this run
 * added to it or used it in another order than the file's.  Entries
 * this run did not use are kept while they number no more than those it
 * used (and a thousand more).  -1 and *errp on failure. */
int		 keymemo_save(struct keymemo *km, const char *path,
		    char **errp);

/* The fingerprint of the n bytes at p. */
void		 keymemo_fingerprint(const void *p, size_t n,
		    unsigned char fp[16]);

/* The key remembered for fp into key: 1, or 0 when there is none. */
int		 keymemo_find(struct keymemo *km, const unsigned char fp[16],
		    unsigned char key[32]);

/* Remember that the text of fingerprint fp hashed to key. */
void		 keymemo_add(struct keymemo *km, const unsigned char fp[16],
		    const unsigned char key[32]);

/* From now on find nothing, so that every key is computed, and mend
 * the entries that disagree (-B, --refresh: the way out of a memo
 * that is wrong however it got so). */
void		 keymemo_verify(struct keymemo *km);

/* Lookups answered, and entries added or mended, since km was made. */
size_t		 keymemo_hits(const struct keymemo *km);
size_t		 keymemo_added(const struct keymemo *km);

#endif
