#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "expand.h"
#include "parser.h"
#include "util.h"
#include "yamlplan.h"

/* The settings a task reads, besides "tier.NAME". */
static const char *const settings[] = {
	"tier", "model", "max_tokens", "temperature", "system", "context",
	"max_input_bytes",
};
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

struct plan *
plan_new(void)
{
	return xcalloc(1, sizeof(struct plan));
}

/* Free a variable and what it owns. */
static void
var_free(struct var *v)
{
	if (v == NULL)
		return;
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
	if (r == NULL)
		return;
	if (!r->prompt_kept)
		free(r->prompt);
	free(r->stem);
	if (r->packed == 1)
		free(r);
	/* else the plan's arena frees it */
}

/* Free the values of a map and the map. */
static void
smap_free_all(struct smap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		if (m->ents[i].key != NULL)
			free(m->ents[i].val);
	smap_free(m);
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
	for (i = 0; i < p->npatterns; i++)
		rule_free(p->patterns[i]);
	free(p->patterns);
	for (i = 0; i < p->ninstances; i++)
		rule_free(p->instances[i]);
	free(p->instances);
	for (i = 0; i < p->vars.cap; i++)
		if (p->vars.ents[i].key != NULL)
			var_free(p->vars.ents[i].val);
	smap_free(&p->vars);
	smap_free_all(&p->phony);
	for (i = 0; i < p->ntsets; i++)
		tset_free(p->tsets[i]);
	free(p->tsets);
	smap_free(&p->tsetmap);
	free(p->ptsets);
	smap_free(&p->ptsetmap);
	smap_free(&p->bytarget);
	smap_free(&p->warned);
	smap_free(&p->tsettargets);
	for (i = 0; i < p->ngoals; i++)
		free(p->goals[i]);
	free(p->goals);
	smap_free_all(&p->strings);
	free(p->file);
	free(p->dir);
	arena_free(&p->mem);
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

int
plan_cmdline_var(struct plan *p, const char *arg)
{
	struct loc l = { NULL, 0, 0 };
	const char *eq;
	char *name;

	if ((eq = strchr(arg, '=')) == NULL || !plan_is_name(arg,
	    (size_t)(eq - arg)))
		return -1;
	name = xstrndup(arg, (size_t)(eq - arg));
	plan_set_var(p, name, eq + 1, VAR_CMDLINE, 0, &l);
	free(name);
	return 0;
}

/* Store the n bytes at value in name. */
static void
set_var(struct plan *p, const char *name, const char *value, size_t n,
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
	v->value = xstrndup(value, n);
	v->origin = origin;
	v->simple = simple;
	if (l != NULL)
		v->loc = *l;
	else
		memset(&v->loc, 0, sizeof(v->loc));
}

void
plan_set_var(struct plan *p, const char *name, const char *value,
    int origin, int simple, const struct loc *l)
{
	set_var(p, name, value, strlen(value), origin, simple, l);
}

void
plan_assign(struct plan *p, const char *name, int op, const char *value,
    size_t n, const struct loc *l, plan_locate_fn locate, void *arg)
{
	struct var *v;
	struct buf b = { 0 };
	char *x;

	v = smap_get(&p->vars, name);
	if (v != NULL && v->origin == VAR_CMDLINE)
		return;
	switch (op) {
	case ASSIGN_COND:
		if (v != NULL)
			return;
		/* FALLTHROUGH */
	case ASSIGN_RECURSIVE:
		set_var(p, name, value, n, VAR_FILE, 0, l);
		return;
	case ASSIGN_SIMPLE:
		x = plan_expand_at(p, NULL, value, n, locate,
		    locate || arg ? arg : (void *)l, 0);
		set_var(p, name, x, strlen(x), VAR_FILE, 1, l);
		free(x);
		return;
	default:
		break;
	}
	if (v == NULL) {
		set_var(p, name, value, n, VAR_FILE, 0, l);
		return;
	}
	buf_addstr(&b, v->value);
	if (n > 0 && b.len > 0)
		buf_addc(&b, ' ');
	if (v->simple) {
		x = plan_expand_at(p, NULL, value, n, locate,
		    locate || arg ? arg : (void *)l, 0);
		buf_addstr(&b, x);
		free(x);
	} else
		buf_add(&b, value, n);
	if (b.data == NULL)
		buf_grow(&b, 0);
	free(v->value);
	v->value = buf_detach(&b);
}


/* ---- rules ---- */

/* Round n up to a multiple of a, a power of two. */
static size_t
align_to(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* The pieces that plan_alloc() cuts pieces from, and the biggest piece
 * it cuts: larger ones come from the arena directly. */
#define PIECE_SIZE	65536
#define PIECE_MAX	(PIECE_SIZE / 8)

/* n bytes from p's arena aligned to a (a power of two up to 16), with
 * no rounding of n: 100,000 rules waste nothing between them. */
static void *
plan_alloc(struct plan *p, size_t n, size_t a)
{
	char *mem;

	if (n > PIECE_MAX)
		return arena_alloc(&p->mem, n);
	mem = p->memcur != NULL ? (char *)align_to((uintptr_t)p->memcur, a) :
	    NULL;
	if (mem == NULL || mem > p->memend || (size_t)(p->memend - mem) < n) {
		mem = arena_alloc(&p->mem, PIECE_SIZE);
		p->memend = mem + PIECE_SIZE;
	}
	p->memcur = mem + n;
	return mem;
}

char *
plan_strndup(struct plan *p, const char *s, size_t n)
{
	char *copy;

	copy = plan_alloc(p, n + 1, 1);
	memcpy(copy, s, n);
	copy[n] = '\0';
	return copy;
}

/* A packed place: the line as an offset from the rule's, plus 128, in
 * the top byte, the column below. */
#define WPOS_COLBITS	24
#define WPOS_COLMAX	((1 << WPOS_COLBITS) - 1)

/* Whether l can be packed against the rule's place at. */
static int
packable(const struct loc *l, const struct loc *at)
{
	return l->file == at->file && l->line - at->line >= -128 &&
	    l->line - at->line <= 127 && l->col >= 0 && l->col <= WPOS_COLMAX;
}

/* The packed places of a rule whose locs is NULL: after the word
 * pointers, in the rule's block. */
static const uint32_t *
wpos_of(const struct rule *r)
{
	return (const uint32_t *)(r->prereqs + r->nprereqs);
}

/* Place i of r's words, targets first. */
static struct loc
word_loc(const struct rule *r, size_t i)
{
	struct loc l;
	uint32_t w;

	if (r->locs != NULL)
		return r->locs[i];
	w = wpos_of(r)[i];
	l.file = r->loc.file;
	l.line = r->loc.line + (int)(w >> WPOS_COLBITS) - 128;
	l.col = (int)(w & WPOS_COLMAX);
	return l;
}

struct loc
rule_tloc(const struct rule *r, size_t i)
{
	return word_loc(r, i);
}

struct loc
rule_ploc(const struct rule *r, size_t i)
{
	return word_loc(r, r->ntargets + i);
}

/* Whether every place of the words can be packed against at. */
static int
all_packable(const struct pword *t, size_t nt, const struct pword *pr,
    size_t np, const struct loc *at)
{
	size_t i;

	for (i = 0; i < nt; i++)
		if (!packable(&t[i].loc, at))
			return 0;
	for (i = 0; i < np; i++)
		if (!packable(&pr[i].loc, at))
			return 0;
	return 1;
}

/* Store the place of word i at l, packed or whole. */
static void
set_word_loc(struct rule *r, uint32_t *wpos, size_t i, const struct loc *l)
{
	if (r->locs != NULL)
		r->locs[i] = *l;
	else
		wpos[i] = (uint32_t)(l->line - r->loc.line + 128) <<
		    WPOS_COLBITS | (uint32_t)l->col;
}

/* Copy the n words at w into the strings at s, their pointers at v and
 * their places from word k on.  Returns the byte after the strings. */
static char *
copy_words(struct rule *r, uint32_t *wpos, char **v, size_t k,
    const struct pword *w, size_t n, char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memcpy(s, w[i].s, w[i].len);
		s[w[i].len] = '\0';
		v[i] = s;
		set_word_loc(r, wpos, k + i, &w[i].loc);
		s += w[i].len + 1;
	}
	return s;
}

struct rule *
rule_new(struct plan *p, const struct loc *at, const struct pword *t,
    size_t nt, const struct pword *pr, size_t np)
{
	struct rule *r;
	size_t i, size, chars, ptrs, places;
	uint32_t *wpos;
	char *mem, *s;
	int packs;

	for (chars = 0, i = 0; i < nt; i++)
		chars += t[i].len + 1;
	for (i = 0; i < np; i++)
		chars += pr[i].len + 1;
	packs = all_packable(t, nt, pr, np, at);
	ptrs = align_to(sizeof(*r), sizeof(char *));
	places = ptrs + (nt + np) * sizeof(char *);
	size = places + (nt + np) * (packs ? sizeof(uint32_t) :
	    sizeof(struct loc)) + chars;
	mem = p != NULL ? plan_alloc(p, size, sizeof(void *)) :
	    xmalloc(size);
	r = (struct rule *)mem;
	memset(r, 0, sizeof(*r));
	r->packed = p != NULL ? 2 : 1;
	r->loc = *at;
	r->targets = (char **)(mem + ptrs);
	r->prereqs = r->targets + nt;
	r->ntargets = (uint32_t)nt;
	r->nprereqs = (uint32_t)np;
	wpos = (uint32_t *)(mem + places);
	if (!packs)
		r->locs = (struct loc *)wpos;
	s = mem + places + (nt + np) * (packs ? sizeof(uint32_t) :
	    sizeof(struct loc));
	s = copy_words(r, wpos, r->targets, 0, t, nt, s);
	copy_words(r, wpos, r->prereqs, nt, pr, np, s);
	return r;
}

/* Whether a target may be a default goal: make skips names starting
 * with '.' unless they hold a '/' ("./out.txt"). */
static int
goal_ok(const char *name)
{
	return name[0] != '.' || strchr(name, '/') != NULL;
}

/* Append r to a growable array of rules. */
static void
push_rule(struct rule ***v, size_t *n, size_t *cap, struct rule *r)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = r;
}

int
plan_add_rule(struct plan *p, struct rule *r)
{
	struct loc l;
	size_t i, npct;

	for (i = npct = 0; i < r->ntargets; i++)
		if (strchr(r->targets[i], '%') != NULL)
			npct++;
	if (npct > 0 && npct < r->ntargets) {
		for (i = 0; strchr(r->targets[i], '%') == NULL; i++)
			continue;
		l = rule_tloc(r, i);
		diag_error(&l, "a rule mixes pattern targets such "
		    "as '%s' with plain ones", r->targets[i]);
		rule_free(r);
		return -1;
	}
	if (npct > 0) {
		r->pattern = 1;
		push_rule(&p->patterns, &p->npatterns, &p->patternscap, r);
		return 0;
	}
	push_rule(&p->rules, &p->nrules, &p->rulescap, r);
	if (p->ngoals > 0)
		return 0;
	for (i = 0; i < r->ntargets; i++) {
		if (!goal_ok(r->targets[i]))
			continue;
		if (p->goals == NULL)
			p->goals = xreallocarray(NULL, r->ntargets,
			    sizeof(*p->goals));
		p->goals[p->ngoals++] = xstrdup(r->targets[i]);
	}
	return 0;
}

int
plan_match(const char *pattern, const char *name, const char **stem,
    size_t *stemlen)
{
	const char *s;
	size_t n;
	int m;

	m = expand_match(pattern, strlen(pattern), name, strlen(name), &s,
	    &n);
	if (m && strchr(pattern, '%') != NULL && n == 0)
		m = 0;	/* make's '%' matches one byte or more */
	if (stem != NULL)
		*stem = s;
	if (stemlen != NULL)
		*stemlen = n;
	return m;
}

/* Append to b the words of r (n of them from word k on, targets first)
 * with '%' replaced by the stem, as pwords with their places. */
static struct pword *
replace_all(struct buf *b, const struct rule *r, char *const *v, size_t k,
    size_t n, const char *stem, size_t stemlen)
{
	struct pword *w;
	size_t i, *off;

	w = xcalloc(n + 1, sizeof(*w));
	off = xcalloc(n + 1, sizeof(*off));
	for (i = 0; i < n; i++) {
		off[i] = b->len;
		expand_replace(b, v[i], strlen(v[i]), stem, stemlen);
		w[i].len = b->len - off[i];
		w[i].loc = word_loc(r, k + i);
	}
	for (i = 0; i < n; i++)
		w[i].s = b->data + off[i];
	free(off);
	return w;
}

struct rule *
plan_instantiate(struct plan *p, struct rule *pat, const char *stem,
    size_t stemlen)
{
	struct buf tb = { 0 }, pb = { 0 };
	struct pword *t, *pr;
	struct rule *r;

	buf_grow(&tb, 0);
	buf_grow(&pb, 0);
	t = replace_all(&tb, pat, pat->targets, 0, pat->ntargets, stem,
	    stemlen);
	pr = replace_all(&pb, pat, pat->prereqs, pat->ntargets,
	    pat->nprereqs, stem, stemlen);
	r = rule_new(p, &pat->loc, t, pat->ntargets, pr, pat->nprereqs);
	free(t);
	free(pr);
	buf_free(&tb);
	buf_free(&pb);
	r->prompt_loc = pat->prompt_loc;
	r->stem = xstrndup(stem, stemlen);
	r->from = pat;
	if (pat->prompt != NULL)
		r->prompt = plan_expand_rule(p, r, pat->prompt,
		    strlen(pat->prompt), &pat->prompt_loc, 1);
	pat->ninstances++;
	push_rule(&p->instances, &p->ninstances, &p->instancescap, r);
	return r;
}

/* ---- settings ---- */

int
plan_add_tset(struct plan *p, struct tset *ts)
{
	const char *guess;
	struct smap *map;
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
	map = strchr(ts->target, '%') != NULL ? &p->ptsetmap : &p->tsetmap;
	xasprintf(&key, "%s\t%s", ts->name, ts->target);
	ts->prev = smap_put(map, key, ts);
	free(key);
	if (map == &p->tsetmap) {
		smap_put(&p->tsettargets, ts->target, ts);
		return 0;
	}
	if (ts->prev == NULL) {
		if (p->nptsets == p->ptsetscap) {
			p->ptsetscap = p->ptsetscap ? 2 * p->ptsetscap : 8;
			p->ptsets = xreallocarray(p->ptsets, p->ptsetscap,
			    sizeof(*p->ptsets));
		}
		p->ptsets[p->nptsets++] = ts;
	} else {
		size_t i;

		for (i = 0; i < p->nptsets; i++)
			if (p->ptsets[i] == ts->prev)
				p->ptsets[i] = ts;
	}
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

/* The global value of name for r's task, or NULL. */
static char *
global_setting(struct plan *p, const struct rule *r, const char *name,
    struct loc *where)
{
	struct var *v;

	if ((v = smap_get(&p->vars, name)) == NULL)
		return NULL;
	if (where != NULL)
		*where = v->loc;
	return v->simple ? xstrdup(v->value) :
	    expand_stored(p, r, v->value, &v->loc);
}

/* The pattern setting of name whose pattern matches target with the
 * shortest stem (the later one of equal stems), or NULL. */
static struct tset *
pattern_tset(struct plan *p, const char *target, const char *name)
{
	struct tset *best = NULL, *ts;
	size_t i, n, bestn = SIZE_MAX;

	for (i = 0; i < p->nptsets; i++) {
		ts = p->ptsets[i];
		if (strcmp(ts->name, name) != 0 ||
		    !plan_match(ts->target, target, NULL, &n))
			continue;
		if (n <= bestn) {
			best = ts;
			bestn = n;
		}
	}
	return best;
}

static char	*tset_value(struct plan *p, const struct rule *r,
		    const char *target, struct tset *ts, struct loc *where);

/* The value ts builds on: the setting before it for its target, the
 * pattern one below an exact one, else the global one. */
static char *
below(struct plan *p, const struct rule *r, const char *target,
    struct tset *ts, struct loc *where)
{
	struct tset *next;

	if ((next = ts->prev) == NULL && strchr(ts->target, '%') == NULL)
		next = pattern_tset(p, target, ts->name);
	if (next != NULL)
		return tset_value(p, r, target, next, where);
	return global_setting(p, r, ts->name, where);
}

/* The value of setting ts for target of r's task, by its operator. */
static char *
tset_value(struct plan *p, const struct rule *r, const char *target,
    struct tset *ts, struct loc *where)
{
	struct loc l;
	char *base, *own, *v;

	if (ts->op == ASSIGN_COND || ts->op == ASSIGN_APPEND) {
		base = below(p, r, target, ts, &l);
		if (base != NULL && ts->op == ASSIGN_COND) {
			if (where != NULL)
				*where = l;
			return base;
		}
		own = expand_stored(p, r, ts->value, &ts->loc);
		if (where != NULL)
			*where = ts->loc;
		if (base == NULL)
			return own;
		xasprintf(&v, "%s%s%s", base, *base && *own ? " " : "", own);
		free(base);
		free(own);
		return v;
	}
	if (where != NULL)
		*where = ts->loc;
	if (ts->op == ASSIGN_SIMPLE)
		return xstrdup(ts->value);
	return expand_stored(p, r, ts->value, &ts->loc);
}

/* The setting of target itself (exact or by pattern), or NULL. */
static struct tset *
own_tset(struct plan *p, const char *target, const char *name)
{
	struct tset *ts;
	char *key;

	if (p->ntsets == 0)
		return NULL;
	if (p->tsetmap.len > 0) {
		xasprintf(&key, "%s\t%s", name, target);
		ts = smap_get(&p->tsetmap, key);
		free(key);
		if (ts != NULL)
			return ts;
	}
	return p->nptsets > 0 ? pattern_tset(p, target, name) : NULL;
}

/* A command-line value of name, or NULL. */
static char *
cmdline_setting(struct plan *p, const struct rule *r, const char *name,
    struct loc *where)
{
	struct var *v;

	v = smap_get(&p->vars, name);
	if (v == NULL || v->origin != VAR_CMDLINE)
		return NULL;
	if (where != NULL)
		memset(where, 0, sizeof(*where));
	return v->simple ? xstrdup(v->value) :
	    expand_stored(p, r, v->value, NULL);
}

char *
plan_rule_setting(struct plan *p, const struct rule *r, const char *name,
    struct loc *where)
{
	struct tset *ts;
	char *v;
	size_t i;

	if ((v = cmdline_setting(p, r, name, where)) != NULL)
		return v;
	for (i = 0; r != NULL && i < r->ntargets; i++)
		if ((ts = own_tset(p, r->targets[i], name)) != NULL)
			return tset_value(p, r, r->targets[i], ts, where);
	return global_setting(p, r, name, where);
}

/* The rule making target, or NULL; the map is brought up to date with
 * the rules and instances added since it was last used. */
static const struct rule *
rule_of(struct plan *p, const char *target)
{
	struct rule *r;
	size_t i, k;

	while (p->nbytarget < p->nrules + p->ninstances) {
		k = p->nbytarget++;
		r = k < p->nrules ? p->rules[k] : p->instances[k - p->nrules];
		for (i = 0; i < r->ntargets; i++)
			if (smap_get(&p->bytarget, r->targets[i]) == NULL)
				smap_put(&p->bytarget, r->targets[i], r);
	}
	return smap_get(&p->bytarget, target);
}

char *
plan_setting(struct plan *p, const char *target, const char *name,
    struct loc *where)
{
	const struct rule *r;
	struct tset *ts;
	char *v;

	r = target != NULL ? rule_of(p, target) : NULL;
	if ((v = cmdline_setting(p, r, name, where)) != NULL)
		return v;
	if (target != NULL && (ts = own_tset(p, target, name)) != NULL)
		return tset_value(p, r, target, ts, where);
	return global_setting(p, r, name, where);
}

int
plan_rule_settings_shared(struct plan *p, const struct rule *r)
{
	struct var *v;
	size_t i, k;

	if (p->shared == 0) {
		p->shared = 1;
		for (i = 0; i < p->vars.cap; i++)
			if (p->vars.ents[i].key != NULL &&
			    (v = p->vars.ents[i].val) != NULL && !v->simple &&
			    plan_is_setting(v->name) &&
			    strchr(v->value, '$') != NULL)
				p->shared = 2;
	}
	if (p->shared == 2)
		return 0;
	for (i = 0; i < r->ntargets && p->ntsets > 0; i++) {
		if (smap_get(&p->tsettargets, r->targets[i]) != NULL)
			return 0;
		for (k = 0; k < p->nptsets; k++)
			if (plan_match(p->ptsets[k]->target, r->targets[i],
			    NULL, NULL))
				return 0;
	}
	return 1;
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
