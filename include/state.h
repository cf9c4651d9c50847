/* state: planmake.lock, the committed record of which request wrote
 * each target and what it wrote. */
#ifndef PM_STATE_H
#define PM_STATE_H

#include <stddef.h>

#include "util.h"

#define LOCK_VERSION 1

struct lock_entry {
	char	*path;		/* the target: in the entry's block, and
				   the map's key */
	char	 key[65];	/* the request key of the task that wrote it */
	char	 hash[65];	/* SHA-256 of what was written */
	char	 removed;	/* forgotten: lock_get() does not see it */
};

struct lock {
	struct smap	 bypath;	/* path -> struct lock_entry *; keys
					   borrowed from the entries */
	int		 dirty;		/* changed since loaded */
};

/* Read the lock file at path into l (zeroed by the caller).  A missing
 * file is an empty lock.  A malformed line or an unknown version is an
 * error: -1 and *errp naming the file and line. */
int			 lock_load(struct lock *l, const char *path,
			    char **errp);
/* The entry for path, or NULL (also when it was removed).  Borrowed. */
struct lock_entry	*lock_get(struct lock *l, const char *path);
/* Record that key wrote hash to path. */
void			 lock_set(struct lock *l, const char *path,
			    const char *key, const char *hash);
/* Forget path (a target no longer in the plan stays unless removed). */
void			 lock_remove(struct lock *l, const char *path);
/* Write the lock, sorted by path, atomically (temporary file, fsync,
 * rename).  -1 and *errp on failure. */
int			 lock_save(struct lock *l, const char *path,
			    char **errp);
void			 lock_free(struct lock *l);

#endif
