/* cache: answers stored by request key under .planmake/cache, so the
 * same request never costs tokens twice. */
#ifndef PM_CACHE_H
#define PM_CACHE_H

#include <stddef.h>

/* Token counts in one form for every provider. */
struct usage {
	long	in;		/* uncached input tokens */
	long	out;
	long	cache_write;
	long	cache_read;
};

struct cache_entry {
	char		 key[65];
	char		*model;		/* owned */
	char		*answer;	/* owned, NUL-terminated */
	size_t		 answerlen;
	struct usage	 usage;
};

/* Look key up in the cache directory dir (".planmake/cache").  Returns
 * 1 and fills e (free with cache_entry_clear()) on a hit, 0 on a miss.
 * A corrupt or truncated entry is a miss, with *warnp set to a message
 * the caller frees (else *warnp is left NULL). */
int	cache_get(const char *dir, const char *key, struct cache_entry *e,
	    char **warnp);
/* Store e under e->key: written to a temporary file and renamed into
 * place, so a reader sees all of it or none.  -1 and *errp on failure. */
int	cache_put(const char *dir, const struct cache_entry *e, char **errp);
void	cache_entry_clear(struct cache_entry *e);

#endif
