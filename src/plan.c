#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "parser.h"
#include "util.h"
#include "yamlplan.h"

/* The deepest chain of variables expanded inside one another. */
#define EXPAND_DEPTH	1000

/* The settings a task reads, besides "tier.NAME". */
static const char *const settings[] = {
	"tier", "model", "max_tokens", "temperature", "system", "context",
	"max_input_bytes",
};
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

/* Where to report a problem with a reference: at offset off of text,
 * which starts at l, or, when text is NULL, at l itself. */
struct where {
	const char		*text;
	size_t			 off;
	const struct loc	*l;
};

/* One expansion under way. */
struct expand {
	struct plan		*p;
	struct buf		 out;
	const struct loc	*base;	/* where the top-level text starts */
	int			 depth;
	int			 failed;	/* an error at this reference */
};

struct plan *
plan_new(void)
{
	return xcalloc(1, sizeof(struct plan));
}

/* Free a variable and what it owns. */
static void
var_free(struct var *v)
{
	free(v->name);
	free(v->value);
	free(v);
}

/* Free a target-specific setting and what it owns. */
static void
tset_free(struct tset *ts)
{
	if (ts == NULL)
		return;
	free(ts->target);
	free(ts->name);
	free(ts->value);
	free(ts);
}

void
rule_free(struct rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ntargets; i++)
		free(r->targets[i]);
	for (i = 0; i < r->nprereqs; i++)
		free(r->prereqs[i]);
	free(r->targets);
	free(r->tlocs);
	free(r->prereqs);
	free(r->plocs);
	free(r->prompt);
	free(r);
}

void
plan_free(struct plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_free(p->rules[i]);
	free(p->rules);
	for (i = 0; i < p->vars.cap; i++)
		if (p->vars.keys[i] != NULL)
			var_free(p->vars.vals[i]);
	smap_free(&p->vars);
	for (i = 0; i < p->phony.cap; i++)
		free(p->phony.vals[i]);
	smap_free(&p->phony);
	for (i = 0; i < p->ntsets; i++)
		tset_free(p->tsets[i]);
	free(p->tsets);
	smap_free(&p->tsetmap);
	for (i = 0; i < p->ngoals; i++)
		free(p->goals[i]);
	free(p->goals);
	for (i = 0; i < p->strings.cap; i++)
		free(p->strings.vals[i]);
	smap_free(&p->strings);
	free(p->file);
	free(p->dir);
	free(p);
}

const char *
plan_intern(struct plan *p, const char *s)
{
	char *copy;

	if ((copy = smap_get(&p->strings, s)) != NULL)
		return copy;
	copy = xstrdup(s);
	smap_put(&p->strings, s, copy);
	return copy;
}

/* Whether the n bytes at s make a variable name: letters, digits, '_',
 * '.' and '-'. */
static int
is_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '.' || s[i] == '-')
			continue;
		return 0;
	}
	return 1;
}

int
plan_cmdline_var(struct plan *p, const char *arg)
{
	struct loc l = { NULL, 0, 0 };
	const char *eq;
	char *name;

	if ((eq = strchr(arg, '=')) == NULL || !is_name(arg,
	    (size_t)(eq - arg)))
		return -1;
	name = xstrndup(arg, (size_t)(eq - arg));
	plan_set_var(p, name, eq + 1, VAR_CMDLINE, 0, &l);
	free(name);
	return 0;
}

void
plan_set_var(struct plan *p, const char *name, const char *value,
    int origin, int simple, const struct loc *l)
{
	struct var *v;

	if ((v = smap_get(&p->vars, name)) != NULL) {
		if (v->origin == VAR_CMDLINE && origin != VAR_CMDLINE)
			return;
		free(v->value);
	} else {
		v = xcalloc(1, sizeof(*v));
		v->name = xstrdup(name);
		smap_put(&p->vars, name, v);
	}
	v->value = xstrdup(value);
	v->origin = origin;
	v->simple = simple;
	if (l != NULL)
		v->loc = *l;
	else
		memset(&v->loc, 0, sizeof(v->loc));
}

/* The place w names, in *at; NULL when there is none. */
static const struct loc *
where_loc(const struct where *w, struct loc *at)
{
	size_t i, bol;
	int nl;

	if (w->l == NULL)
		return NULL;
	*at = *w->l;
	if (w->text == NULL)
		return at;
	for (i = bol = 0, nl = 0; i < w->off; i++)
		if (w->text[i] == '\n') {
			nl++;
			bol = i + 1;
		}
	if (nl > 0) {
		at->line += nl;
		at->col = (int)(w->off - bol) + 1;
	} else
		at->col += (int)w->off;
	return at;
}

/* The offset of the bracket closing the one at s[i], '(' or '{',
 * counting nested brackets of its kind; n when it is not closed. */
static size_t
ref_end(const char *s, size_t n, size_t i)
{
	char open, close;
	int depth;

	open = s[i];
	close = open == '(' ? ')' : '}';
	for (depth = 0; i < n; i++) {
		if (s[i] == open)
			depth++;
		else if (s[i] == close && --depth == 0)
			return i;
	}
	return n;
}

static void	expand_text(struct expand *e, const char *s, size_t n,
		    const struct where *fixed);

/* Append the value of the variable named by the n bytes at name.
 * Returns 0, having reported why, when the reference must stay as
 * written: the variable is undefined or refers to itself. */
static int
expand_ref(struct expand *e, const char *name, size_t n,
    const struct where *w)
{
	struct loc at;
	struct var *v;

	if ((v = smap_getn(&e->p->vars, name, n)) == NULL) {
		diag_warning(where_loc(w, &at),
		    "undefined variable '%.*s' left as written", (int)n, name);
		return 0;
	}
	if (v->simple) {
		buf_addstr(&e->out, v->value);
		return 1;
	}
	if (v->busy || e->depth >= EXPAND_DEPTH) {
		if (!e->failed)
			diag_error(where_loc(w, &at), v->busy ?
			    "variable '%s' refers to itself" :
			    "variable '%s' is nested too deeply", v->name);
		e->failed = 1;
		return 0;
	}
	v->busy = 1;
	e->depth++;
	expand_text(e, v->value, strlen(v->value), w);
	e->depth--;
	v->busy = 0;
	return 1;
}

/* Expand the n bytes at s into e->out.  Problems are reported at fixed,
 * or, when it is NULL, at the reference's own place from e->base. */
static void
expand_text(struct expand *e, const char *s, size_t n,
    const struct where *fixed)
{
	struct where here;
	const char *d;
	size_t i, j, end;

	for (i = 0; i < n; ) {
		if ((d = memchr(s + i, '$', n - i)) == NULL) {
			buf_add(&e->out, s + i, n - i);
			break;
		}
		j = (size_t)(d - s);
		buf_add(&e->out, s + i, j - i);
		if (j + 1 < n && s[j + 1] == '$') {
			buf_addc(&e->out, '$');
			i = j + 2;
			continue;
		}
		if (j + 1 == n || (s[j + 1] != '(' && s[j + 1] != '{') ||
		    (end = ref_end(s, n, j + 1)) == n) {
			buf_addc(&e->out, '$');
			i = j + 1;
			continue;
		}
		i = end + 1;
		if (!is_name(s + j + 2, end - j - 2)) {
			/* Shell code such as $(date +%s): not ours. */
			buf_add(&e->out, s + j, i - j);
			continue;
		}
		if (fixed == NULL) {
			here.text = s;
			here.off = j;
			here.l = e->base;
			e->failed = 0;
		}
		if (!expand_ref(e, s + j + 2, end - j - 2,
		    fixed ? fixed : &here))
			buf_add(&e->out, s + j, i - j);
	}
}

char *
plan_expand(struct plan *p, const char *text, size_t n,
    const struct loc *l)
{
	struct expand e;

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.base = l;
	buf_grow(&e.out, n);
	expand_text(&e, text, n, NULL);
	return buf_detach(&e.out);
}

/* Expand a stored value, reporting any problem at l. */
static char *
expand_at(struct plan *p, const char *value, const struct loc *l)
{
	struct expand e;
	struct where w;

	memset(&e, 0, sizeof(e));
	e.p = p;
	w.text = NULL;
	w.off = 0;
	w.l = l;
	expand_text(&e, value, strlen(value), &w);
	return buf_detach(&e.out);
}

/* Whether a target may be a default goal: make skips names starting
 * with '.' unless they hold a '/' ("./out.txt"). */
static int
goal_ok(const char *name)
{
	return name[0] != '.' || strchr(name, '/') != NULL;
}

void
plan_add_rule(struct plan *p, struct rule *r)
{
	size_t i;

	if (p->nrules == p->rulescap) {
		p->rulescap = p->rulescap ? 2 * p->rulescap : 16;
		p->rules = xreallocarray(p->rules, p->rulescap,
		    sizeof(*p->rules));
	}
	p->rules[p->nrules++] = r;
	if (p->ngoals > 0)
		return;
	for (i = 0; i < r->ntargets; i++) {
		if (!goal_ok(r->targets[i]))
			continue;
		if (p->goals == NULL)
			p->goals = xreallocarray(NULL, r->ntargets,
			    sizeof(*p->goals));
		p->goals[p->ngoals++] = xstrdup(r->targets[i]);
	}
}

int
plan_add_tset(struct plan *p, struct tset *ts)
{
	const char *guess;
	char *key;

	if (!plan_is_setting(ts->name)) {
		if ((guess = plan_setting_suggest(ts->name)) != NULL)
			diag_error(&ts->loc,
			    "unknown setting '%s'; did you mean '%s'?",
			    ts->name, guess);
		else
			diag_error(&ts->loc, "unknown setting '%s'", ts->name);
		tset_free(ts);
		return -1;
	}
	if (p->ntsets == p->tsetscap) {
		p->tsetscap = p->tsetscap ? 2 * p->tsetscap : 16;
		p->tsets = xreallocarray(p->tsets, p->tsetscap,
		    sizeof(*p->tsets));
	}
	p->tsets[p->ntsets++] = ts;
	xasprintf(&key, "%s\t%s", ts->name, ts->target);
	smap_put(&p->tsetmap, key, ts);
	free(key);
	return 0;
}

void
plan_add_phony(struct plan *p, const char *name, const struct loc *l)
{
	struct loc *copy;

	if (smap_get(&p->phony, name) != NULL)
		return;
	copy = xcalloc(1, sizeof(*copy));
	if (l != NULL)
		*copy = *l;
	smap_put(&p->phony, name, copy);
}

int
plan_is_phony(const struct plan *p, const char *name)
{
	return smap_get(&p->phony, name) != NULL;
}

int
plan_is_setting(const char *name)
{
	size_t i;

	if (strncmp(name, "tier.", 5) == 0)
		return name[5] != '\0';
	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(name, settings[i]) == 0)
			return 1;
	return 0;
}

/* The edit distance between a and b, counting a swap of neighbours as
 * one edit; 3 when it is surely more than 2. */
static int
distance(const char *a, const char *b)
{
	int d[20][20];
	size_t i, j, na, nb;
	int best, cost;

	na = strlen(a);
	nb = strlen(b);
	if (na >= 20 || nb >= 20 || na > nb + 2 || nb > na + 2)
		return 3;
	for (i = 0; i <= na; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= nb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= na; i++)
		for (j = 1; j <= nb; j++) {
			cost = a[i - 1] != b[j - 1];
			best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[na][nb];
}

const char *
plan_setting_suggest(const char *name)
{
	const char *best;
	size_t i;
	int d, bestd;

	best = NULL;
	bestd = 3;
	for (i = 0; i < NSETTINGS; i++)
		if ((d = distance(name, settings[i])) < bestd) {
			best = settings[i];
			bestd = d;
		}
	return best;
}

char *
plan_setting(struct plan *p, const char *target, const char *name,
    struct loc *where)
{
	struct tset *ts;
	struct var *v;
	char *key;

	v = smap_get(&p->vars, name);
	if (v != NULL && v->origin == VAR_CMDLINE) {
		if (where != NULL)
			memset(where, 0, sizeof(*where));
		return v->simple ? xstrdup(v->value) :
		    expand_at(p, v->value, NULL);
	}
	if (target != NULL) {
		xasprintf(&key, "%s\t%s", name, target);
		ts = smap_get(&p->tsetmap, key);
		free(key);
		if (ts != NULL) {
			if (where != NULL)
				*where = ts->loc;
			return expand_at(p, ts->value, &ts->loc);
		}
	}
	if (v == NULL)
		return NULL;
	if (where != NULL)
		*where = v->loc;
	return v->simple ? xstrdup(v->value) :
	    expand_at(p, v->value, &v->loc);
}

/* Whether path ends in suffix. */
static int
ends_with(const char *path, const char *suffix)
{
	size_t n, m;

	n = strlen(path);
	m = strlen(suffix);
	return n >= m && strcmp(path + n - m, suffix) == 0;
}

int
plan_load(struct plan *p, const char *path)
{
	int nerr;

	nerr = diag_nerrors();
	free(p->file);
	free(p->dir);
	p->file = xstrdup(path);
	p->dir = path_dirname(path);
	if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
		yamlplan_load(p, path);
	else
		parser_load(p, path);
	return diag_nerrors() > nerr ? -1 : 0;
}
