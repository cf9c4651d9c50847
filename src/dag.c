#include "dag.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* n zeroed bytes from the graph's arena, which dag_free() frees at once:
 * a plan of 100,000 tasks would otherwise cost a million calls to malloc
 * and as many to free. */
static void *
dag_alloc(struct dag *d, size_t n)
{
	if (d->arena == NULL)
		d->arena = xcalloc(1, sizeof(*d->arena));
	return arena_alloc(d->arena, n);
}

/* What building one graph needs beside the graph. */
struct build {
	struct dag	*d;
	struct plan	*p;
	size_t		 taskscap;
	unsigned char	*chain;		/* per pattern: in the chain tried */
	long		 budget;	/* steps left for one file's search */
	long		 total;		/* steps left for all of them */
	int		 depth;		/* patterns in the chain tried */
};

/* Bounds on the search for a pattern that makes a file, which could
 * otherwise take exponential time: at most SEARCH_BUDGET files looked
 * at per file needed, chains of at most SEARCH_DEPTH patterns (one once
 * SEARCH_TOTAL files were looked at in all), and, as in make, no
 * match-anything pattern ("%: %.in") for a file of a chain.  A search
 * cut short finds that no pattern applies. */
#define SEARCH_BUDGET	200
#define SEARCH_TOTAL	200000
#define SEARCH_DEPTH	4

char *
dag_normpath(const char *path)
{
	struct buf b = { 0 };
	const char *p, *e;
	size_t n;

	if (path[0] == '/')
		buf_addc(&b, '/');
	for (p = path; *p != '\0'; p = e) {
		while (*p == '/')
			p++;
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (b.len > 0 && b.data[b.len - 1] != '/')
			buf_addc(&b, '/');
		buf_add(&b, p, n);
	}
	if (b.len == 0)
		buf_addc(&b, '.');
	return buf_detach(&b);
}

/* The slot of the node of normal path norm (n bytes, hash k) in the
 * table: the node's, or the empty one where it would go.  Keys are
 * compared first, so only a key that matches costs a look at a node. */
static size_t
slot(const struct dag *d, const char *norm, size_t n, uint64_t k)
{
	const struct dag_slot *e;
	size_t i, mask;

	/* Not k's low bit: scan_path sets it in every key. */
	mask = d->tablecap - 1;
	for (i = (size_t)(k >> 1) & mask; (e = &d->table[i])->key != 0;
	    i = (i + 1) & mask)
		if (e->key == k && strncmp(e->node->path, norm, n) == 0 &&
		    e->node->path[n] == '\0')
			break;
	return i;
}

/* Make the table cap slots (a power of two, more than the nodes),
 * placing each node by its stored key: the keys are distinct, so no
 * path is compared. */
static void
resize_table(struct dag *d, size_t cap)
{
	struct dag_slot *old;
	size_t i, j, mask, oldcap;

	old = d->table;
	oldcap = d->tablecap;
	d->tablecap = cap;
	d->table = xcalloc(cap, sizeof(*d->table));
	mask = cap - 1;
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == 0)
			continue;
		for (j = (size_t)(old[i].key >> 1) & mask;
		    d->table[j].key != 0; j = (j + 1) & mask)
			continue;
		d->table[j] = old[i];
	}
	free(old);
}

/* Size the table for about n nodes before the first is added, so that
 * filling it does not regrow it. */
static void
reserve_table(struct dag *d, size_t n)
{
	size_t cap;

	for (cap = 1024; cap < 2 * n; cap *= 2)
		continue;
	if (cap > d->tablecap)
		resize_table(d, cap);
}

/* About how many nodes p's graph has: every target, and a quarter of
 * the prerequisites, as most files are read by several tasks.  (Their
 * sum bounds the nodes but would make the table several times the
 * size it needs, and slower to fill for its page faults: 16 MB more
 * and 20 % slower at 100,000 tasks.)  A plan that needs more regrows
 * the table. */
static size_t
estimate_nodes(const struct plan *p)
{
	size_t i, nt, np;

	for (i = nt = np = 0; i < p->nrules; i++) {
		nt += p->rules[i]->ntargets;
		np += p->rules[i]->nprereqs;
	}
	return nt + np / 4;
}

/* The hash of path, its length in *len, and in *normal whether it is
 * already normal: no "." part and no empty one (from a repeated or
 * final slash), so that most paths are used uncopied.  One pass. */
static uint64_t
scan_path(const char *path, size_t *len, int *normal)
{
	const unsigned char *s = (const unsigned char *)path;
	uint64_t h = 0xcbf29ce484222325ULL;
	int start, ok;

	ok = *s != '\0';
	if (*s == '/') {
		h = (h ^ *s) * 0x100000001b3ULL;
		s++;
	}
	for (start = 1; *s != '\0'; s++) {
		if (start && (*s == '/' || (*s == '.' && (s[1] == '/' ||
		    s[1] == '\0'))))
			ok = 0;
		start = *s == '/';
		h = (h ^ *s) * 0x100000001b3ULL;
	}
	if (start && (const char *)s > path + 1)
		ok = 0;		/* a final slash */
	*len = (size_t)((const char *)s - path);
	*normal = ok;
	return h | 1;
}

/* The node of path, or NULL; with create, made on first mention. */
static struct node *
lookup(struct dag *d, const char *path, int create)
{
	struct node *n;
	char *norm;
	size_t len, i;
	uint64_t k;
	int normal;

	k = scan_path(path, &len, &normal);
	norm = (char *)path;
	if (!normal) {
		norm = dag_normpath(path);
		len = strlen(norm);
		k = hash_bytes(norm, len) | 1;
	}
	i = 0;
	if (d->tablecap > 0 && (n = d->table[i = slot(d, norm, len,
	    k)].node) != NULL) {
		if (norm != path)
			free(norm);
		return n;
	}
	if (!create) {
		if (norm != path)
			free(norm);
		return NULL;
	}
	if (2 * (d->nnodes + 1) > d->tablecap) {
		resize_table(d, d->tablecap ? 2 * d->tablecap : 1024);
		i = slot(d, norm, len, k);
	}
	n = dag_alloc(d, sizeof(*n) + len + 1);
	n->path = (char *)(n + 1);
	memcpy(n->path, norm, len + 1);
	n->key = k;
	d->table[i].key = k;
	d->table[i].node = n;
	if (norm != path)
		free(norm);
	if (d->nnodes == d->nodescap) {
		d->nodescap = d->nodescap ? d->nodescap * 2 : 64;
		d->nodes = xreallocarray(d->nodes, d->nodescap,
		    sizeof(*d->nodes));
	}
	d->nodes[d->nnodes++] = n;
	return n;
}

struct node *
dag_find(struct dag *d, const char *path)
{
	return lookup(d, path, 0);
}

const struct filestat *
dag_node_stat(struct node *n)
{
	if (!n->statted) {
		n->staterr = file_stat(n->path, &n->st) == 0 ? 0 : errno;
		n->statted = 1;
	}
	return n->staterr == 0 ? &n->st : NULL;
}

void
dag_node_forget(struct node *n)
{
	n->statted = 0;
}

void
dag_forget_stats(struct dag *d)
{
	size_t i;

	for (i = 0; i < d->nnodes; i++)
		d->nodes[i]->statted = 0;
}

/* A new task of rule r, in slot id of the task list. */
static struct task *
task_new(struct build *b, struct rule *r)
{
	struct dag *d = b->d;
	struct task *t;

	if (d->ntasks == b->taskscap) {
		b->taskscap = b->taskscap ? 2 * b->taskscap : 64;
		d->tasks = xreallocarray(d->tasks, b->taskscap,
		    sizeof(*d->tasks));
	}
	t = dag_alloc(d, sizeof(*t));
	t->id = d->ntasks;
	t->rule = r;
	t->phony = 1;
	d->tasks[d->ntasks++] = t;
	return t;
}

/* diag_nerrors() when the graph began: it reports at most
 * DIAG_MAX_ERRORS of its own (a plan of 100,000 tasks may miss as many
 * inputs). */
static int	dag_nerr0;

/* Whether the graph has reported as many errors as it may. */
static int
dag_full(void)
{
	return diag_nerrors() - dag_nerr0 >= DIAG_MAX_ERRORS;
}

/* Give target i of r to task t, unless another task makes it. */
static void
claim(struct build *b, struct task *t, struct rule *r, size_t i)
{
	struct node *n;
	struct loc l;

	l = rule_tloc(r, i);
	n = lookup(b->d, r->targets[i], 1);
	n->phony = plan_is_phony(b->p, n->path);
	if (n->producer == t)
		return;		/* named twice in one rule */
	if (n->producer != NULL) {
		if (dag_full())
			return;
		diag_error(&l, "target '%s' is made by two rules",
		    n->path);
		diag_note(&n->producer->rule->loc, "first made by the rule "
		    "here");
		return;
	}
	if (!n->phony)
		t->phony = 0;
	n->producer = t;
	t->outs[t->nouts++] = n;
}

/* Make a task of rule r, claiming its targets. */
static struct task *
add_task(struct build *b, struct rule *r)
{
	struct task *t;
	size_t i;

	t = task_new(b, r);
	t->outs = dag_alloc(b->d, r->ntargets * sizeof(*t->outs));
	for (i = 0; i < r->ntargets; i++)
		claim(b, t, r, i);
	t->name = t->nouts > 0 ? t->outs[0]->path : r->targets[0];
	return t;
}

/* Add rule r, which has no prompt, to the prerequisites of t. */
static void
add_extra(struct task *t, struct rule *r)
{
	if (t->nextra > 0 && t->extra[t->nextra - 1] == r)
		return;
	t->extra = xreallocarray(t->extra, t->nextra + 1, sizeof(*t->extra));
	t->extra[t->nextra++] = r;
}

static struct task	*try_patterns(struct build *b, const char *path);

/* A rule without a prompt: its targets that another task makes (or a
 * pattern can make) take its prerequisites; the others are its own
 * task, which has no request (like "all: a b"). */
static void
add_bare(struct build *b, struct rule *r, size_t at)
{
	struct task *t, *own;
	struct node *n;
	size_t i;

	own = NULL;
	for (i = 0; i < r->ntargets; i++) {
		n = lookup(b->d, r->targets[i], 0);
		if (n != NULL && n->producer != NULL && n->producer != own) {
			add_extra(n->producer, r);
			continue;
		}
		if ((n == NULL || (!n->phony && n->producer == NULL)) &&
		    !plan_is_phony(b->p, r->targets[i]) &&
		    (t = try_patterns(b, r->targets[i])) != NULL) {
			add_extra(t, r);
			continue;
		}
		if (own == NULL) {
			own = task_new(b, r);
			own->outs = dag_alloc(b->d, r->ntargets *
			    sizeof(*own->outs));
			/* Keep the plan's order: the slot saved for r. */
			b->d->ntasks--;
			b->d->tasks[at] = own;
			own->id = at;
		}
		claim(b, own, r, i);
	}
	if (own != NULL)
		own->name = own->nouts > 0 ? own->outs[0]->path :
		    r->targets[0];
}

/* Append to b the n bytes of pattern pat with '%' replaced by stem. */
static char *
replaced(const char *pat, const char *stem, size_t stemlen)
{
	const char *pc;
	struct buf b = { 0 };

	if ((pc = strchr(pat, '%')) == NULL)
		return xstrdup(pat);
	buf_add(&b, pat, (size_t)(pc - pat));
	buf_add(&b, stem, stemlen);
	buf_addstr(&b, pc + 1);
	return buf_detach(&b);
}

static int	can_make(struct build *b, const char *path, char **missing);

/* Whether each prerequisite of pattern rule k for stem exists or can
 * be made; if not, *missing (when not NULL) gets the first that
 * cannot.  The caller frees *missing. */
static int
feasible(struct build *b, size_t k, const char *stem, size_t stemlen,
    char **missing)
{
	struct rule *pat = b->p->patterns[k];
	char *path;
	size_t i;
	int ok;

	if (b->chain[k] || b->depth >= (b->total > 0 ? SEARCH_DEPTH : 1))
		return 0;	/* a pattern serves once in a chain */
	b->chain[k] = 1;
	b->depth++;
	for (ok = 1, i = 0; ok && i < pat->nprereqs; i++) {
		path = replaced(pat->prereqs[i], stem, stemlen);
		if (!(ok = can_make(b, path, NULL)) && missing != NULL)
			*missing = path;
		else
			free(path);
	}
	b->depth--;
	b->chain[k] = 0;
	return ok;
}

/* Whether path exists, is made by a rule, or a pattern can make it
 * (with patterns not yet in the chain). */
static int
can_make(struct build *b, const char *path, char **missing)
{
	struct node *n;
	struct stat st;
	const char *stem;
	size_t k, i, len;

	(void)missing;
	if (--b->budget < 0)
		return 0;
	b->total--;
	n = lookup(b->d, path, 0);
	if (n != NULL && (n->producer != NULL || n->phony))
		return 1;
	if (plan_is_phony(b->p, path))
		return 0;
	if (stat(path, &st) == 0)
		return 1;
	for (k = 0; k < b->p->npatterns; k++)
		for (i = 0; i < b->p->patterns[k]->ntargets; i++)
			if (strcmp(b->p->patterns[k]->targets[i], "%") != 0 &&
			    plan_match(b->p->patterns[k]->targets[i], path,
			    &stem, &len) && feasible(b, k, stem, len, NULL))
				return 1;
	return 0;
}

/* A pattern rule that matches a target: its index, the target's, and
 * the stem. */
struct cand {
	size_t		 k;
	const char	*stem;
	size_t		 stemlen;
};

/* The patterns whose targets match path, shortest stem first (and in
 * plan order among equal stems), in a new array of *n. */
static struct cand *
candidates(struct build *b, const char *path, size_t *n)
{
	struct cand *c, tmp;
	const char *stem;
	size_t k, i, j, len;

	*n = 0;
	c = NULL;
	for (k = 0; k < b->p->npatterns; k++)
		for (i = 0; i < b->p->patterns[k]->ntargets; i++) {
			if (!plan_match(b->p->patterns[k]->targets[i], path,
			    &stem, &len))
				continue;
			c = xreallocarray(c, *n + 1, sizeof(*c));
			c[*n].k = k;
			c[*n].stem = stem;
			c[(*n)++].stemlen = len;
			break;
		}
	for (i = 1; i < *n; i++)	/* insertion sort: stable */
		for (j = i; j > 0 && c[j - 1].stemlen > c[j].stemlen; j--) {
			tmp = c[j];
			c[j] = c[j - 1];
			c[j - 1] = tmp;
		}
	return c;
}

/* The task that a pattern rule makes for path, made now, or NULL when
 * no pattern applies. */
static struct task *
try_patterns(struct build *b, const char *path)
{
	struct cand *c;
	struct rule *r;
	struct task *t;
	size_t n, i;

	if (b->p->npatterns == 0)
		return NULL;
	c = candidates(b, path, &n);
	t = NULL;
	b->budget = SEARCH_BUDGET;
	for (i = 0; i < n; i++) {
		if (!feasible(b, c[i].k, c[i].stem, c[i].stemlen, NULL))
			continue;
		r = plan_instantiate(b->p, b->p->patterns[c[i].k], c[i].stem,
		    c[i].stemlen);
		t = add_task(b, r);
		break;
	}
	free(c);
	return t;
}

/* Note why each pattern whose target matches path does not apply. */
static void
note_patterns(struct build *b, const char *path)
{
	struct cand *c;
	struct rule *pat;
	char *missing;
	size_t n, i;

	if (b->p->npatterns == 0)
		return;
	c = candidates(b, path, &n);
	b->budget = SEARCH_BUDGET;
	for (i = 0; i < n; i++) {
		pat = b->p->patterns[c[i].k];
		missing = NULL;
		if (feasible(b, c[i].k, c[i].stem, c[i].stemlen, &missing) ||
		    missing == NULL)
			continue;
		diag_note(&pat->loc, "the pattern rule for '%s' does not "
		    "apply: '%s' does not exist and no rule makes it",
		    pat->targets[0], missing);
		free(missing);
	}
	free(c);
}

/* Add path, named at l, to t's inputs (once), with its edge.  what
 * names it in an error: "" for a prerequisite. */
static void
add_input(struct build *b, struct task *t, const char *path,
    const struct loc *l, const char *what)
{
	struct node *n;

	n = lookup(b->d, path, 1);
	if (n->seen == t->id + 1)
		return;
	n->seen = t->id + 1;
	t->ins[t->nins++] = n;
	if (n->producer == NULL && !n->tried) {
		n->tried = 1;
		if (!(n->phony = plan_is_phony(b->p, n->path)))
			try_patterns(b, n->path);
	}
	if (n->producer == NULL) {
		if (dag_full())
			return;
		if (n->phony) {
			diag_error(l, "no rule makes '%s', which is .PHONY",
			    n->path);
			return;
		}
		if (dag_node_stat(n) == NULL) {
			diag_error(l, "'%s' needs %s'%s', which no rule makes "
			    "and which cannot be read: %s", t->name, what,
			    n->path, strerror(n->staterr));
			note_patterns(b, n->path);
		}
		return;
	}
	/* Each producer once, in constant time: a phony task with 20,000
	 * made inputs must not go quadratic. */
	if (n->producer->depmark == t->id + 1)
		return;
	n->producer->depmark = t->id + 1;
	t->deps[t->ndeps++] = n->producer;
	n->producer->rdepscap++;	/* counted here, filled later */
}

/* Whether path is one of t's targets. */
static int
makes(const struct task *t, const char *path)
{
	char *norm;
	size_t i;
	int rc = 0;

	norm = dag_normpath(path);
	for (i = 0; i < t->nouts && !rc; i++)
		rc = strcmp(t->outs[i]->path, norm) == 0;
	free(norm);
	return rc;
}

/* The graph is built by hundreds of thousands of lookups in a table of
 * megabytes: each waits for memory twice, for its slot and then for its
 * node.  Linking asks ahead of itself for the slots of the task four on
 * and the nodes of the task two on, so that those waits overlap (3 % of
 * a 100,000-task no-op). */
#if defined(__GNUC__)
#define PREFETCH(p)	__builtin_prefetch(p)
#else
#define PREFETCH(p)	((void)(p))
#endif

/* Ask for the table slot of each prerequisite of r (step 1), or for the
 * node in it (step 2, once the slot has come). */
static void
prefetch_inputs(const struct dag *d, const struct rule *r, int step)
{
	const struct dag_slot *e;
	size_t i, len;
	uint64_t k;
	int normal;

	if (d->tablecap == 0)
		return;
	for (i = 0; i < r->nprereqs; i++) {
		k = scan_path(r->prereqs[i], &len, &normal);
		e = &d->table[(size_t)(k >> 1) & (d->tablecap - 1)];
		if (step == 1)
			PREFETCH(e);
		else if (e->key == k)
			PREFETCH(e->node);
	}
}

/* Resolve t's context files and prerequisites into nodes and edges. */
static void
link_task(struct build *b, struct task *t)
{
	struct rule *r = t->rule;
	struct loc where, l;
	char *ctx, *s, *e;
	size_t i, k, n, nctx;

	ctx = NULL;
	nctx = 0;
	if (r->prompt != NULL &&
	    (ctx = plan_rule_setting(b->p, r, "context", &where)) != NULL)
		for (s = ctx; *s != '\0'; s = e) {
			s += strspn(s, " \t\n");
			if (*(e = s + strcspn(s, " \t\n")) != '\0')
				*e++ = '\0';
			if (*s != '\0')
				nctx++;
		}
	for (n = r->nprereqs + nctx, k = 0; k < t->nextra; k++)
		n += t->extra[k]->nprereqs;
	t->ins = dag_alloc(b->d, n * sizeof(*t->ins));
	t->deps = dag_alloc(b->d, n * sizeof(*t->deps));
	for (s = ctx, i = 0; i < nctx; s += strlen(s) + 1) {
		s += strspn(s, " \t\n");
		if (*s == '\0')
			continue;
		/* The task that makes a context file does not read it. */
		if (!makes(t, s))
			add_input(b, t, s, &where, "the context file ");
		i++;
	}
	free(ctx);
	for (i = 0; i < r->nprereqs; i++) {
		l = rule_ploc(r, i);
		add_input(b, t, r->prereqs[i], &l, "");
	}
	for (k = 0; k < t->nextra; k++)
		for (i = 0; i < t->extra[k]->nprereqs; i++) {
			l = rule_ploc(t->extra[k], i);
			add_input(b, t, t->extra[k]->prereqs[i], &l, "");
		}
}

/* Fill each task's dependents: counted while linking (in rdepscap),
 * now given slices of one array. */
static void
fill_rdeps(struct dag *d)
{
	struct task **all, *t;
	size_t i, j, total;

	for (i = total = 0; i < d->ntasks; i++)
		total += d->tasks[i]->rdepscap;
	all = dag_alloc(d, (total + 1) * sizeof(*all));
	for (i = 0; i < d->ntasks; i++) {
		t = d->tasks[i];
		t->rdeps = all;
		all += t->rdepscap;
	}
	for (i = 0; i < d->ntasks; i++) {
		t = d->tasks[i];
		for (j = 0; j < t->ndeps; j++)
			t->deps[j]->rdeps[t->deps[j]->nrdeps++] = t;
	}
}

/* Whether one of the n paths at v names a target of to: its index in
 * *at. */
static int
names_target(struct dag *d, const struct task *to, char *const *v,
    size_t n, size_t *at)
{
	struct node *x;
	size_t i;

	for (i = 0; i < n; i++)
		if ((x = dag_find(d, v[i])) != NULL && x->producer == to) {
			*at = i;
			return 1;
		}
	return 0;
}

/* The location of the reference in from's rule to a target of to, into
 * *l: found again from the plan, as it is needed only for a cycle (the
 * inputs are context files first, then prerequisites, as in
 * link_task()). */
static void
edge_loc(struct dag *d, struct plan *p, const struct task *from,
    const struct task *to, struct loc *l)
{
	const struct rule *r = from->rule;
	struct loc where;
	char *ctx, *s, *e;
	size_t i, k;
	int found = 0;

	if (r->prompt != NULL &&
	    (ctx = plan_rule_setting(p, r, "context", &where)) != NULL) {
		for (s = ctx; !found && *s != '\0'; s = e) {
			s += strspn(s, " \t\n");
			if (*(e = s + strcspn(s, " \t\n")) != '\0')
				*e++ = '\0';
			found = *s != '\0' && !makes(from, s) &&
			    names_target(d, to, &s, 1, &i);
		}
		free(ctx);
		if (found) {
			*l = where;
			return;
		}
	}
	if (names_target(d, to, r->prereqs, r->nprereqs, &i)) {
		*l = rule_ploc(r, i);
		return;
	}
	for (k = 0; k < from->nextra; k++)
		if (names_target(d, to, from->extra[k]->prereqs,
		    from->extra[k]->nprereqs, &i)) {
			*l = rule_ploc(from->extra[k], i);
			return;
		}
	*l = r->loc;
}

/* Report the cycle that runs from stack[k] to the top of the stack. */
static void
report_cycle(struct dag *d, struct plan *p, struct task **stack, size_t k,
    size_t top)
{
	struct buf b = { 0 };
	struct loc l;
	size_t i;

	if (dag_full())
		return;
	for (i = k; i <= top; i++)
		buf_printf(&b, "%s -> ", stack[i]->name);
	buf_addstr(&b, stack[k]->name);
	diag_error(&stack[k]->rule->loc, "dependency cycle: %s", b.data);
	for (i = k; i <= top; i++) {
		edge_loc(d, p, stack[i], i < top ? stack[i + 1] : stack[k], &l);
		diag_note(&l, "'%s' depends on '%s' here", stack[i]->name,
		    (i < top ? stack[i + 1] : stack[k])->name);
	}
	buf_free(&b);
}

/* Find cycles with an iterative depth-first search (no recursion: a
 * chain of 100,000 tasks must not overflow the stack).  Marks: 0 new,
 * 1 on the stack, 2 done.  Reports each cycle once. */
static void
check_cycles(struct dag *d, struct plan *p)
{
	struct task **stack;
	size_t *next, top, i, k;
	unsigned char *mark;
	struct task *t, *u;

	stack = xcalloc(d->ntasks + 1, sizeof(*stack));
	next = xcalloc(d->ntasks + 1, sizeof(*next));
	mark = xcalloc(d->ntasks + 1, 1);
	for (i = 0; i < d->ntasks; i++) {
		if (mark[i])
			continue;
		top = 0;
		stack[0] = d->tasks[i];
		next[0] = 0;
		mark[i] = 1;
		for (;;) {
			t = stack[top];
			if (next[top] == t->ndeps) {
				mark[t->id] = 2;
				if (top == 0)
					break;
				top--;
				continue;
			}
			u = t->deps[next[top]++];
			if (mark[u->id] == 1) {
				for (k = top; stack[k] != u; k--)
					continue;
				report_cycle(d, p, stack, k, top);
			} else if (mark[u->id] == 0) {
				mark[u->id] = 1;
				stack[++top] = u;
				next[top] = 0;
			}
		}
	}
	free(stack);
	free(next);
	free(mark);
}

struct dag *
dag_build_goals(struct plan *p, char *const *goals, size_t ngoals)
{
	struct build b;
	struct dag *d;
	struct node *n;
	size_t i, k;
	int before;

	before = dag_nerr0 = diag_nerrors();
	d = xcalloc(1, sizeof(*d));
	memset(&b, 0, sizeof(b));
	b.d = d;
	b.p = p;
	b.chain = xcalloc(p->npatterns + 1, 1);
	b.total = SEARCH_TOTAL;
	reserve_table(d, estimate_nodes(p));

	/* Rules with a prompt claim their targets first, so that a rule
	 * without one can add to them; each rule keeps its place. */
	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i]->prompt != NULL)
			add_task(&b, p->rules[i]);
		else
			task_new(&b, p->rules[i]);	/* a place kept */
	}
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i]->prompt == NULL) {
			d->tasks[i] = NULL;
			add_bare(&b, p->rules[i], i);
		}
	for (i = k = 0; i < p->nrules; i++)
		if (d->tasks[i] != NULL) {
			d->tasks[k] = d->tasks[i];
			d->tasks[k]->id = k;
			k++;
		}
	if (d->ntasks > p->nrules)
		memmove(d->tasks + k, d->tasks + p->nrules, (d->ntasks -
		    p->nrules) * sizeof(*d->tasks));
	d->ntasks -= p->nrules - k;
	for (i = k; i < d->ntasks; i++)
		d->tasks[i]->id = i;

	for (i = 0; i < ngoals; i++) {
		n = lookup(d, goals[i], 0);
		if ((n == NULL || (n->producer == NULL && !n->phony)) &&
		    !plan_is_phony(p, goals[i]))
			try_patterns(&b, goals[i]);
	}
	/* Linking can add pattern tasks, which are linked in turn. */
	for (i = 0; i < d->ntasks; i++) {
		if (i + 4 < d->ntasks)
			prefetch_inputs(d, d->tasks[i + 4]->rule, 1);
		if (i + 2 < d->ntasks)
			prefetch_inputs(d, d->tasks[i + 2]->rule, 2);
		link_task(&b, d->tasks[i]);
	}
	free(b.chain);
	fill_rdeps(d);
	/* Cycles go by the edges alone, so they are found (and reported with
	 * the rest) even when an input is missing or a target taken. */
	check_cycles(d, p);
	if (dag_full()) {
		struct loc l = { p->file, 0, 0 };

		diag_error(&l, "too many errors");
	}
	if (diag_nerrors() != before) {
		dag_free(d);
		return NULL;
	}
	return d;
}

struct dag *
dag_build(struct plan *p)
{
	return dag_build_goals(p, NULL, 0);
}

/* Mark t and everything it needs; iterative for deep chains. */
static void
mark_needed(struct task *t, struct task **stack)
{
	size_t top = 0, i;

	if (t->needed)
		return;
	t->needed = 1;
	stack[top++] = t;
	while (top > 0) {
		t = stack[--top];
		for (i = 0; i < t->ndeps; i++) {
			if (t->deps[i]->needed)
				continue;
			t->deps[i]->needed = 1;
			stack[top++] = t->deps[i];
		}
	}
}

/* Fill d->order with the needed tasks, dependencies first (Kahn). */
static void
sort_needed(struct dag *d)
{
	size_t *pending, i, j, head;
	struct task *t, *u;

	pending = xcalloc(d->ntasks + 1, sizeof(*pending));
	d->order = xcalloc(d->ntasks + 1, sizeof(*d->order));
	d->norder = 0;
	for (i = 0; i < d->ntasks; i++) {
		t = d->tasks[i];
		if (!t->needed)
			continue;
		pending[i] = t->ndeps;
		if (t->ndeps == 0)
			d->order[d->norder++] = t;
	}
	for (head = 0; head < d->norder; head++) {
		t = d->order[head];
		for (j = 0; j < t->nrdeps; j++) {
			u = t->rdeps[j];
			if (u->needed && --pending[u->id] == 0)
				d->order[d->norder++] = u;
		}
	}
	free(pending);
}

int
dag_select(struct dag *d, struct plan *p, char *const *goals, size_t ngoals,
    char **errp)
{
	struct task **stack;
	struct node *n;
	struct stat st;
	size_t i;

	if (ngoals == 0) {
		goals = p->goals;
		ngoals = p->ngoals;
	}
	stack = xcalloc(d->ntasks + 1, sizeof(*stack));
	for (i = 0; i < ngoals; i++) {
		n = dag_find(d, goals[i]);
		if (n != NULL && n->producer != NULL) {
			mark_needed(n->producer, stack);
			continue;
		}
		if (n == NULL && stat(goals[i], &st) == 0)
			continue;	/* a source file: nothing to do */
		if (n != NULL && !n->phony && stat(n->path, &st) == 0)
			continue;
		xasprintf(errp, "no rule to make target '%s'", goals[i]);
		free(stack);
		return -1;
	}
	free(stack);
	sort_needed(d);
	return 0;
}

void
dag_free(struct dag *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->ntasks; i++)
		free(d->tasks[i]->extra);
	if (d->arena != NULL) {
		arena_free(d->arena);
		free(d->arena);
	}
	free(d->tasks);
	free(d->nodes);
	free(d->table);
	free(d->order);
	free(d);
}
