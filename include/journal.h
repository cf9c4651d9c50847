/* journal: the record of a running build in .planmake/journal.  Each
 * finished task is appended at once as one line with its own checksum,
 * so that a killed run loses nothing that finished; planmake.lock is
 * rewritten from it at the end of a run or at the next start. */
#ifndef PM_JOURNAL_H
#define PM_JOURNAL_H

#include <stddef.h>

#define JOURNAL_VERSION		1
/* The journal is flushed to disk once a second while records come, or
 * after this many records: durability in batches, never per file. */
#ifndef JOURNAL_SYNC_EVERY
#define JOURNAL_SYNC_EVERY	1024
#endif

struct journal;

/* Start a new journal at path, replacing any old one.  NULL and *errp
 * on failure. */
struct journal	*journal_open(const char *path, char **errp);

/* Append a record of n fields (none may be empty of meaning to the
 * reader; any bytes but NUL are allowed).  It is written with one
 * write(2) at once, and flushed to disk with the batch.  -1 and *errp
 * on failure. */
int		 journal_append(struct journal *j, const char *const *fields,
		    size_t n, char **errp);

/* Flush what was appended to disk (with the files written before it,
 * where the system can: syncfs on Linux). */
int		 journal_sync(struct journal *j, char **errp);

/* Flush and close j.  NULL is a no-op. */
int		 journal_close(struct journal *j, char **errp);

/* Called for each whole record read back: its fields, unescaped,
 * modified only by the callee.  Borrowed for the call. */
typedef void	(*journal_fn)(char **fields, size_t n, void *arg);

/* Read the journal at path, calling fn for every record whose checksum
 * holds.  A torn or corrupt record is skipped and counted in *nbad,
 * with *badline the line of the first one.  Returns the number of
 * records read (0 for a missing file), or -1 and *errp when the file
 * cannot be read or is not a journal of a known version. */
long		 journal_read(const char *path, journal_fn fn, void *arg,
		    size_t *nbad, size_t *badline, char **errp);

#endif
