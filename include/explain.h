/* explain: why a task's request is not the one that wrote its targets.
 * When a task is written, the parts of its key (model, parameters, the
 * system text's hash, each input's path and hash, the prompt, the
 * targets) are kept in .planmake/manifests/ under the key; a later run
 * names the first part that differs. */
#ifndef PM_EXPLAIN_H
#define PM_EXPLAIN_H

struct spec;
struct task;

/* The manifest of t's request as resolved in s (s->key computed), as a
 * JSON text.  The caller frees the result. */
char	*explain_manifest(const struct spec *s, const struct task *t);

/* Save the manifest of t under statedir/manifests/, written whole.  -1
 * and *errp on failure. */
int	 explain_save(const char *statedir, const struct spec *s,
	    const struct task *t, char **errp);

/* The first difference between the request of key oldkey (from its
 * saved manifest) and t's request now, in a few words: "input
 * 'PLAN.md' changed", "prompt line 2 changed: 'a' -> 'b'", ...  NULL
 * when no manifest of oldkey was kept.  The caller frees the result. */
char	*explain_diff(const char *statedir, const char *oldkey,
	    const struct spec *s, const struct task *t);

/* The first difference between two manifests (JSON texts), or NULL
 * when either cannot be read or nothing differs.  Exposed for tests.
 * The caller frees the result. */
char	*explain_compare(const char *old, const char *now);

/* The file of key's manifest under statedir.  The caller frees it. */
char	*explain_path(const char *statedir, const char *key);

#endif
