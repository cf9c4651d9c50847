#include "tools.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dag.h"
#include "explain.h"
#include "log.h"
#include "plan.h"
#include "request.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* One cache entry as found on disk. */
struct centry {
	char	 key[65];
	char	*path;		/* owned */
	long	 size;
};

static int
hex64(const char *s, size_t n)
{
	size_t i;

	if (n != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
centry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct centry *)a)->key,
	    ((const struct centry *)b)->key);
}

/* Every entry of cachedir, sorted by key, in *out.  Returns the count. */
static size_t
cache_scan(const char *cachedir, struct centry **out)
{
	struct centry *v = NULL;
	struct dirent *de, *fe;
	struct stat st;
	size_t n = 0, cap = 0;
	DIR *top, *sub;
	char *dir, *path;

	if ((top = opendir(cachedir)) == NULL) {
		*out = NULL;
		return 0;
	}
	while ((de = readdir(top)) != NULL) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		dir = path_join(cachedir, de->d_name);
		if ((sub = opendir(dir)) == NULL) {
			free(dir);
			continue;
		}
		while ((fe = readdir(sub)) != NULL) {
			size_t len = strlen(fe->d_name);

			if (len != 69 || strcmp(fe->d_name + 64, ".json") != 0 ||
			    !hex64(fe->d_name, 64))
				continue;
			path = path_join(dir, fe->d_name);
			if (stat(path, &st) == -1) {
				free(path);
				continue;
			}
			if (n == cap)
				v = xreallocarray(v, cap = cap ? cap * 2 : 64,
				    sizeof(*v));
			memcpy(v[n].key, fe->d_name, 64);
			v[n].key[64] = '\0';
			v[n].path = path;
			v[n].size = (long)st.st_size;
			n++;
		}
		closedir(sub);
		free(dir);
	}
	closedir(top);
	if (n > 0)
		qsort(v, n, sizeof(*v), centry_cmp);
	*out = v;
	return n;
}

static void
centries_free(struct centry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/* The model an entry names, or "?".  The caller frees the result. */
static char *
entry_model(const char *path)
{
	json_t *root;
	const char *m;
	char *s;

	if ((root = json_load_file(path, 0, NULL)) == NULL)
		return xstrdup("(unreadable)");
	m = json_string_value(json_object_get(root, "model"));
	s = xstrdup(m && *m ? m : "?");
	json_decref(root);
	return s;
}

/* key -> the first target (by path) the lock says it wrote. */
static void
lock_bykey(struct lock *l, struct smap *m)
{
	size_t i;

	for (i = 0; i < l->bypath.cap; i++) {
		struct lock_entry *e = l->bypath.ents[i].val;
		const char *old;

		if (l->bypath.ents[i].key == NULL || e->removed)
			continue;
		old = smap_get(m, e->key);
		if (old == NULL || strcmp(e->path, old) < 0)
			smap_put(m, e->key, e->path);
	}
}

/* The keys the plan's tasks have now, for those whose inputs all exist,
 * into keys (key -> non-NULL). */
static void
plan_keys(struct plan *p, struct dag *d, struct store *st, struct smap *keys)
{
	struct spec sp;
	char *err = NULL;
	size_t i, k;
	int ok;

	for (i = 0; i < d->ntasks; i++) {
		struct task *t = d->tasks[i];

		if (t->rule->prompt == NULL)
			continue;
		for (k = 0, ok = 1; k < t->nins && ok; k++) {
			struct node *n = t->ins[k];

			if (n->phony || n->hashed)
				continue;
			if (store_hash_stat(st, n->path, dag_node_stat(n),
			    n->hash, &err) != 1) {
				free(err);
				err = NULL;
				ok = 0;
			} else
				n->hashed = 1;
		}
		memset(&sp, 0, sizeof(sp));
		if (ok && request_spec(&sp, p, t, &err) == 0) {
			request_key(&sp, t);
			smap_put(keys, sp.key, t);
		}
		free(err);
		err = NULL;
		spec_clear(&sp);
	}
}

/* -t cache: list the entries. */
static int
cache_list(const struct tool_opts *o)
{
	struct smap hits = { 0 }, bykey = { 0 };
	struct lock l = { 0 };
	struct centry *v;
	char *cachedir, *err = NULL, *model;
	const char *target;
	unsigned long h, nhits = 0;
	long bytes = 0;
	size_t n, i;

	if (lock_load(&l, o->lockfile, &err) == -1) {
		log_error("%s", err);
		free(err);
		return 2;
	}
	lock_bykey(&l, &bykey);
	store_hits_load(o->statedir, &hits);
	cachedir = path_join(o->statedir, "cache");
	n = cache_scan(cachedir, &v);
	for (i = 0; i < n; i++) {
		h = (unsigned long)(uintptr_t)smap_get(&hits, v[i].key);
		target = smap_get(&bykey, v[i].key);
		model = entry_model(v[i].path);
		printf("%.16s\t%ld\t%lu\t%s\t%s\n", v[i].key, v[i].size, h,
		    model, target ? target : "-");
		free(model);
		bytes += v[i].size;
		nhits += h;
	}
	printf("%zu entr%s, %ld bytes, %lu hit%s\n", n, n == 1 ? "y" : "ies",
	    bytes, nhits, nhits == 1 ? "" : "s");
	centries_free(v, n);
	free(cachedir);
	smap_free(&hits);
	smap_free(&bykey);
	lock_free(&l);
	return 0;
}

/* -t cache gc: drop what nothing reaches. */
static int
cache_gc(struct plan *p, struct dag *d, const struct tool_opts *o)
{
	struct smap keys = { 0 };
	struct store_opts so = { 0 };
	struct lock l = { 0 };
	struct store *st;
	struct centry *v;
	char *cachedir, *err = NULL, *mpath;
	long freed = 0;
	size_t n, i, ndrop = 0;
	int rc = 0;

	so.statedir = o->statedir;
	so.lockfile = o->lockfile;
	so.nowait = o->nowait;
	if ((st = store_open(&so, &l, &err)) == NULL) {
		log_error("%s", err);
		free(err);
		return 2;
	}
	for (i = 0; i < l.bypath.cap; i++) {
		struct lock_entry *e = l.bypath.ents[i].val;

		if (l.bypath.ents[i].key != NULL && !e->removed)
			smap_put(&keys, e->key, e);
	}
	plan_keys(p, d, st, &keys);
	cachedir = path_join(o->statedir, "cache");
	n = cache_scan(cachedir, &v);
	for (i = 0; i < n; i++) {
		if (smap_get(&keys, v[i].key) != NULL)
			continue;
		if (unlink(v[i].path) == -1) {
			log_error("cannot remove %s: %s", v[i].path,
			    strerror(errno));
			rc = 1;
			continue;
		}
		mpath = explain_path(o->statedir, v[i].key);
		unlink(mpath);
		free(mpath);
		log_note("dropped %s", v[i].path);
		freed += v[i].size;
		ndrop++;
	}
	log_status("cache: dropped %zu of %zu entries (%ld bytes); %zu kept",
	    ndrop, n, freed, n - ndrop);
	centries_free(v, n);
	free(cachedir);

	/* Manifests whose entry had gone already. */
	cachedir = path_join(o->statedir, "manifests");
	n = cache_scan(cachedir, &v);
	for (i = 0; i < n; i++)
		if (smap_get(&keys, v[i].key) == NULL)
			unlink(v[i].path);
	centries_free(v, n);
	free(cachedir);
	smap_free(&keys);
	if (store_close(st, &l, &err) == -1) {
		log_error("%s", err);
		free(err);
		rc = 1;
	}
	lock_free(&l);
	return rc;
}

int
tool_cache(struct plan *p, struct dag *d, const struct tool_opts *o,
    int argc, char **argv)
{
	if (argc == 0)
		return cache_list(o);
	if (argc == 1 && strcmp(argv[0], "gc") == 0)
		return cache_gc(p, d, o);
	log_error("-t cache takes nothing, or gc");
	return 2;
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
tool_clean(struct dag *d, const struct tool_opts *o, int argc, char **argv)
{
	struct store_opts so = { 0 };
	struct lock l = { 0 };
	struct store *st;
	char **paths, hash[65], *err = NULL;
	size_t i, n = 0, nrm = 0, nkept = 0;
	int rc = 0, force = o->force, h;

	for (i = 0; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "-f") == 0)
			force = 1;
		else {
			log_error("-t clean takes only -f");
			return 2;
		}
	}
	so.statedir = o->statedir;
	so.lockfile = o->lockfile;
	so.nowait = o->nowait;
	if ((st = store_open(&so, &l, &err)) == NULL) {
		log_error("%s", err);
		free(err);
		return 2;
	}
	paths = xcalloc(l.bypath.len + 1, sizeof(*paths));
	for (i = 0; i < l.bypath.cap; i++) {
		struct lock_entry *e = l.bypath.ents[i].val;

		struct node *tn;

		/* Only this plan's targets: another plan may share the
		 * directory, and so the lock. */
		if (l.bypath.ents[i].key != NULL && !e->removed &&
		    (tn = dag_find(d, e->path)) != NULL && tn->producer != NULL)
			paths[n++] = xstrdup(e->path);
	}
	qsort(paths, n, sizeof(*paths), path_cmp);
	for (i = 0; i < n; i++) {
		struct lock_entry *e = lock_get(&l, paths[i]);

		if ((h = store_hash(st, paths[i], hash, &err)) == -1) {
			log_error("%s", err);
			free(err);
			err = NULL;
			rc = 1;
			continue;
		}
		if (h == 1 && strcmp(hash, e->hash) != 0 && !force) {
			log_warning("kept '%s': it was edited since planmake "
			    "wrote it (-t clean -f removes it too)", paths[i]);
			nkept++;
			continue;
		}
		if (h == 1 && unlink(paths[i]) == -1) {
			log_error("cannot remove %s: %s", paths[i],
			    strerror(errno));
			rc = 1;
			continue;
		}
		if (h == 1) {
			log_note("removed %s", paths[i]);
			nrm++;
		}
		lock_remove(&l, paths[i]);
		store_removed(st, paths[i]);
	}
	log_status("clean: removed %zu file%s%s", nrm, nrm == 1 ? "" : "s",
	    nkept ? "; kept the edited ones" : "");
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	if (store_close(st, &l, &err) == -1) {
		log_error("%s", err);
		free(err);
		rc = 1;
	}
	lock_free(&l);
	return rc;
}
