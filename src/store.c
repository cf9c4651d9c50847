#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dag.h"
#include "explain.h"
#include "hashdb.h"
#include "journal.h"
#include "keyhash.h"
#include "keymemo.h"
#include "log.h"
#include "request.h"
#include "state.h"
#include "statelock.h"
#include "util.h"

#define STATS_VERSION	1

struct store {
	char			*statedir;
	char			*lockfile;
	char			*hashpath;	/* .planmake/hashes */
	char			*jpath;		/* .planmake/journal */
	char			*kmpath;	/* .planmake/keys */
	int			 readonly;
	struct statelock	*wl;
	struct hashdb		*hdb;
	struct keymemo		*km;		/* the keys of the last run */
	struct journal		*j;
	struct smap		 hits;		/* key -> count, this run */
};

/* What replaying a journal needs. */
struct replay {
	struct lock	*lock;
	struct store	*st;
	size_t		 unknown;	/* records of an unknown kind */
	size_t		 unwritten;	/* targets announced, not written */
	long		 deadpid;	/* of the run that was killed, or 0 */
};

static void
hit_add(struct smap *m, const char *key, uintptr_t n)
{
	uintptr_t old = (uintptr_t)smap_get(m, key);

	smap_put(m, key, (void *)(old + n));
}

/* Apply one journal record to the lock. */
static void
on_record(char **f, size_t n, void *arg)
{
	struct replay *rp = arg;
	size_t i;

	if (strcmp(f[0], "set") == 0 && n >= 4 && (n - 1) % 3 == 0) {
		for (i = 1; i < n; i += 3)
			if (f[i][0] == '\0' || !hex64_valid(f[i + 1]) ||
			    !hex64_valid(f[i + 2]))
				goto unknown;
		/* Only the targets that were written: each holds the hash
		 * the record announced.  A temporary file the killed run
		 * left beside one goes. */
		for (i = 1; i < n; i += 3) {
			char have[65], *err = NULL, *tmp;

			if (rp->deadpid > 0) {
				xasprintf(&tmp, "%s.pm-tmp.%ld", f[i],
				    rp->deadpid);
				if (unlink(tmp) == 0)
					log_debug(LOG_STATE, "removed %s", tmp);
				free(tmp);
			}

			if (hashdb_hash(rp->st->hdb, f[i], have, &err) == 1 &&
			    strcmp(have, f[i + 2]) == 0)
				lock_set(rp->lock, f[i], f[i + 1], f[i + 2]);
			else
				rp->unwritten++;
			free(err);
		}
		return;
	}
	if (strcmp(f[0], "del") == 0 && n == 2) {
		lock_remove(rp->lock, f[1]);
		return;
	}
	if (strcmp(f[0], "hit") == 0 && n == 2 && hex64_valid(f[1])) {
		hit_add(&rp->st->hits, f[1], 1);
		return;
	}
unknown:
	rp->unknown++;
}

static void
on_wait(long pid, const char *path, void *arg)
{
	(void)arg;
	if (pid > 0)
		log_status("waiting for planmake (pid %ld), which is building "
		    "here (it holds %s)", pid, path);
	else
		log_status("waiting for another planmake, which is building "
		    "here (it holds %s)", path);
}

void
store_hits_load(const char *statedir, struct smap *hits)
{
	struct buf b = { 0 };
	char *path, *p, *nl, *tab, *err = NULL;

	path = path_join(statedir, "stats");
	if (file_read(path, &b, &err) == -1) {
		free(err);
		free(path);
		buf_free(&b);
		return;
	}
	free(path);
	for (p = b.data; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		if (*p == '#' || (tab = strchr(p, '\t')) == NULL)
			continue;
		*tab = '\0';
		if (hex64_valid(p))
			hit_add(hits, p, (uintptr_t)strtoul(tab + 1, NULL,
			    10));
	}
	buf_free(&b);
}

/* Add this run's hits to statedir/stats. */
static void
stats_fold(struct store *st)
{
	struct smap all = { 0 };
	struct buf b = { 0 };
	char *path, *err = NULL;
	size_t i;

	if (st->hits.len == 0)
		return;
	store_hits_load(st->statedir, &all);
	for (i = 0; i < st->hits.cap; i++)
		if (st->hits.ents[i].key != NULL)
			hit_add(&all, st->hits.ents[i].key,
			    (uintptr_t)st->hits.ents[i].val);
	buf_printf(&b, "# planmake stats %d\n", STATS_VERSION);
	for (i = 0; i < all.cap; i++)
		if (all.ents[i].key != NULL)
			buf_printf(&b, "%s\t%lu\n", all.ents[i].key,
			    (unsigned long)(uintptr_t)all.ents[i].val);
	path = path_join(st->statedir, "stats");
	if (file_write_atomic(path, b.data, b.len, 0, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
	free(path);
	buf_free(&b);
	smap_free(&all);
	smap_free(&st->hits);
}

static void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	statelock_release(st->wl);
	hashdb_free(st->hdb);
	keyhash_use_memo(NULL);
	keymemo_free(st->km);
	free(st->kmpath);
	smap_free(&st->hits);
	free(st->statedir);
	free(st->lockfile);
	free(st->hashpath);
	free(st->jpath);
	free(st);
}

/* Replay a journal left by a run that did not end into l, and unless
 * read-only make planmake.lock say it. */
static int
store_recover(struct store *st, struct lock *l, char **errp)
{
	struct replay rp = { l, st, 0, 0, 0 };
	size_t nbad, badline;
	long nrec;

	if (st->wl != NULL)
		rp.deadpid = statelock_previous(st->wl);
	nrec = journal_read(st->jpath, on_record, &rp, &nbad, &badline, errp);
	if (nrec == -1)
		return -1;
	/* A reader may see the last record of a live writer half-done. */
	if (nbad > 0 && !st->readonly)
		log_warning("%s:%zu: %zu torn or corrupt record%s skipped "
		    "(a run was cut off); their tasks are rebuilt, from the "
		    "cache where it has them", st->jpath, badline, nbad,
		    nbad == 1 ? "" : "s");
	if (rp.unknown > 0)
		log_warning("%s: %zu record%s of an unknown kind skipped",
		    st->jpath, rp.unknown, rp.unknown == 1 ? "" : "s");
	if (rp.unwritten > 0)
		log_debug(LOG_STATE, "%s: %zu target%s announced but not "
		    "written", st->jpath, rp.unwritten, rp.unwritten == 1 ?
		    "" : "s");
	if (nrec == 0 && nbad == 0)
		return 0;
	log_note("%s: %ld record%s of a run that did not finish replayed "
	    "into %s", st->jpath, nrec, nrec == 1 ? "" : "s", st->lockfile);
	if (st->readonly)
		return 0;
	if (l->dirty && lock_save(l, st->lockfile, errp) == -1)
		return -1;
	stats_fold(st);
	return 0;
}

struct store *
store_open(const struct store_opts *o, struct lock *l, char **errp)
{
	struct store *st;
	char *err = NULL;

	st = xcalloc(1, sizeof(*st));
	st->statedir = xstrdup(o->statedir);
	st->lockfile = xstrdup(o->lockfile);
	st->hashpath = path_join(o->statedir, "hashes");
	st->jpath = path_join(o->statedir, "journal");
	st->readonly = o->readonly;
	st->hdb = hashdb_new();
	st->kmpath = path_join(o->statedir, "keys");
	st->km = keymemo_new();
	if (!o->readonly && (st->wl = statelock_take(o->statedir, o->nowait,
	    on_wait, NULL, errp)) == NULL)
		goto fail;
	if (lock_load(l, o->lockfile, errp) == -1)
		goto fail;
	if (hashdb_load(st->hdb, st->hashpath, &err) == -1) {
		log_warning("%s", err);
		free(err);
		err = NULL;
	}
	if (keymemo_load(st->km, st->kmpath, &err) == -1) {
		log_warning("%s", err);
		free(err);
		err = NULL;
	}
	if (o->verify_keys)
		keymemo_verify(st->km);
	keyhash_use_memo(st->km);
	if (store_recover(st, l, errp) == -1)
		goto fail;
	if (!o->readonly && (st->j = journal_open(st->jpath, errp)) == NULL)
		goto fail;
	return st;
fail:
	store_free(st);
	return NULL;
}

int
store_hash(struct store *st, const char *path, char out[65], char **errp)
{
	return hashdb_hash(st->hdb, path, out, errp);
}

int
store_hash_stat(struct store *st, const char *path,
    const struct filestat *fs, char out[65], char **errp)
{
	return hashdb_hash_stat(st->hdb, path, fs, out, errp);
}

/* Append a record, warning when it cannot be. */
static void
journal_add(struct store *st, const char *const *f, size_t n)
{
	char *err = NULL;

	if (st->j == NULL)
		return;
	if (journal_append(st->j, f, n, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
}

void
store_writing(struct store *st, const struct task *t, const struct spec *s)
{
	const char **f;
	size_t i, n = 0;

	f = xcalloc(1 + 3 * t->nouts, sizeof(*f));
	f[n++] = "set";
	for (i = 0; i < t->nouts; i++) {
		dag_node_forget(t->outs[i]);
		f[n++] = t->outs[i]->path;
		f[n++] = s->key;
		f[n++] = t->outs[i]->hash;
	}
	journal_add(st, f, n);
	free(f);
}

void
store_written(struct store *st, const struct task *t, const struct spec *s)
{
	char *err = NULL;
	size_t i;

	for (i = 0; i < t->nouts; i++)
		hashdb_record(st->hdb, t->outs[i]->path, t->outs[i]->hash);
	if (explain_save(st->statedir, s, t, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
}

void
store_hit(struct store *st, const char *key)
{
	const char *f[2] = { "hit", key };

	hit_add(&st->hits, key, 1);
	journal_add(st, f, 2);
}

void
store_removed(struct store *st, const char *path)
{
	const char *f[2] = { "del", path };

	journal_add(st, f, 2);
}

/* Keep the hash of a file not looked at in this run while it exists. */
static int
keep_existing(const char *path, void *arg)
{
	(void)arg;
	return access(path, F_OK) == 0;
}

int
store_close(struct store *st, struct lock *l, char **errp)
{
	char *err = NULL;
	int rc = 0;

	if (st == NULL)
		return 0;
	if (st->readonly) {
		store_free(st);
		return 0;
	}
	if (journal_close(st->j, &err) == -1) {
		log_warning("%s", err);
		free(err);
		err = NULL;
	}
	st->j = NULL;
	if (l->dirty && lock_save(l, st->lockfile, errp) == -1)
		rc = -1;
	stats_fold(st);
	if (hashdb_save(st->hdb, st->hashpath, keep_existing, NULL, &err) ==
	    -1) {
		log_warning("%s", err);
		free(err);
		err = NULL;
	}
	if (keymemo_save(st->km, st->kmpath, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
	if (rc == 0 && unlink(st->jpath) == -1 && errno != ENOENT)
		log_warning("cannot remove %s: %s", st->jpath,
		    strerror(errno));
	store_free(st);
	return rc;
}

size_t
store_reads(const struct store *st)
{
	return hashdb_reads(st->hdb);
}
