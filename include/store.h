/* store: the state a build keeps beside its plan, as one: the writer's
 * lock (.planmake/lock), the file hashes (.planmake/hashes), the journal
 * of the running build (.planmake/journal), the request manifests
 * (.planmake/manifests/), the cache's hit counts (.planmake/stats) and
 * planmake.lock, which is rewritten from the journal. */
#ifndef PM_STORE_H
#define PM_STORE_H

#include <stddef.h>

struct filestat;
struct lock;
struct smap;
struct spec;
struct task;
struct store;

struct store_opts {
	const char	*statedir;	/* .planmake */
	const char	*lockfile;	/* planmake.lock */
	int		 readonly;	/* -n, -q: take no lock, write nothing */
	int		 nowait;	/* --no-wait: fail when another writes */
	int		 verify_keys;	/* -B, --refresh: compute every key
					   and mend the key memo */
};

/* Open the state: take the writer's lock (unless readonly), load the
 * hashes and planmake.lock into l (zeroed by the caller), and replay
 * the journal of a run that did not end into l.  Unless readonly, a
 * replayed lock is saved at once and a new journal started.  A damaged
 * hash store or journal record is a warning.  NULL and *errp when the
 * lock cannot be taken or planmake.lock or the journal is unreadable or
 * of an unknown version. */
struct store	*store_open(const struct store_opts *o, struct lock *l,
		    char **errp);

/* The content hash of path (see hashdb_hash()): 1, 0 when it does not
 * exist, -1 and *errp. */
int		 store_hash(struct store *st, const char *path, char out[65],
		    char **errp);
/* The same, given the stat of path the caller took (see
 * hashdb_hash_stat()); fs NULL stats it here. */
int		 store_hash_stat(struct store *st, const char *path,
		    const struct filestat *fs, char out[65], char **errp);

/* t's targets are about to be written, each with its node's hash, by
 * the request of s: journal them, and drop the stat each target's node
 * keeps (it is taken anew when needed).  A record whose files did not change
 * (the run died first) is not replayed.  Failures are warnings. */
void		 store_writing(struct store *st, const struct task *t,
		    const struct spec *s);

/* t's targets have just been written (after store_writing()): remember
 * their hashes, so they are not read back, and keep the manifest of
 * the request.  Failures are warnings. */
void		 store_written(struct store *st, const struct task *t,
		    const struct spec *s);

/* The cache answered key. */
void		 store_hit(struct store *st, const char *key);

/* A path removed from the lock (by -t clean). */
void		 store_removed(struct store *st, const char *path);

/* Finish: flush the journal, save l (when changed) and the rest, then
 * drop the journal and the writer's lock, and free st.  Returns -1 and
 * *errp when planmake.lock could not be saved (the journal is then
 * kept, for the next run to replay). */
int		 store_close(struct store *st, struct lock *l, char **errp);

/* The number of files read for their hash so far. */
size_t		 store_reads(const struct store *st);

/* Read statedir/stats into hits: key -> count, stored as uintptr_t in
 * the pointer.  A missing file is no hits. */
void		 store_hits_load(const char *statedir, struct smap *hits);

#endif
