#include "dag.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

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

/* Whether path is as dag_normpath() would make it: no empty or "."
 * component, no trailing slash. */
static int
path_is_normal(const char *path)
{
	const char *c;

	if (*path == '\0')
		return 0;
	for (c = path; *c != '\0'; c++) {
		if (*c == '/' && (c[1] == '/' || c[1] == '\0'))
			return 0;
		if (*c == '.' && (c == path || c[-1] == '/') &&
		    (c[1] == '/' || c[1] == '\0'))
			return 0;
	}
	return 1;
}

/* The node for path, created on first mention at l. */
static struct node *
dag_node(struct dag *d, const char *path, const struct loc *l)
{
	struct node *n;
	char *norm;

	if (path_is_normal(path)) {
		/* The common case: no copy unless the node is new. */
		if ((n = smap_get(&d->bypath, path)) != NULL)
			return n;
		norm = xstrdup(path);
	} else {
		norm = dag_normpath(path);
		if ((n = smap_get(&d->bypath, norm)) != NULL) {
			free(norm);
			return n;
		}
	}
	n = xcalloc(1, sizeof(*n));
	n->path = norm;
	n->loc = *l;
	smap_put(&d->bypath, norm, n);
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
	struct node *n;
	char *norm;

	norm = dag_normpath(path);
	n = smap_get(&d->bypath, norm);
	free(norm);
	return n;
}

/* Make a task of rule r, claiming its targets. */
static void
dag_add_task(struct dag *d, struct plan *p, struct rule *r)
{
	struct task *t;
	struct node *n;
	size_t i;

	t = xcalloc(1, sizeof(*t));
	t->id = d->ntasks;
	t->rule = r;
	t->outs = xcalloc(r->ntargets, sizeof(*t->outs));
	t->phony = 1;
	for (i = 0; i < r->ntargets; i++) {
		n = dag_node(d, r->targets[i], &r->tlocs[i]);
		n->phony = plan_is_phony(p, n->path);
		if (!n->phony)
			t->phony = 0;
		if (n->producer != NULL && n->producer != t) {
			diag_error(&r->tlocs[i], "target '%s' is made by two "
			    "rules", n->path);
			diag_note(&n->producer->rule->loc, "first made by "
			    "the rule here");
			continue;
		}
		if (n->producer == t)
			continue;	/* named twice in one rule */
		n->producer = t;
		t->outs[t->nouts++] = n;
	}
	t->name = t->nouts > 0 ? t->outs[0]->path : r->targets[0];
	d->tasks[d->ntasks++] = t;
}

/* Append t to the dependents of dep. */
static void
dag_add_rdep(struct task *dep, struct task *t)
{
	if (dep->nrdeps == dep->rdepscap) {
		dep->rdepscap = dep->rdepscap ? dep->rdepscap * 2 : 4;
		dep->rdeps = xreallocarray(dep->rdeps, dep->rdepscap,
		    sizeof(*dep->rdeps));
	}
	dep->rdeps[dep->nrdeps++] = t;
}

/* Resolve t's prerequisites into nodes and dependency edges.  A
 * prerequisite no rule makes must be an existing file. */
static void
dag_link(struct dag *d, struct task *t, size_t *linked)
{
	struct rule *r = t->rule;
	struct node *n;
	struct stat st;
	size_t i, had;

	t->ins = xcalloc(r->nprereqs, sizeof(*t->ins));
	t->deps = xcalloc(r->nprereqs, sizeof(*t->deps));
	for (i = 0; i < r->nprereqs; i++) {
		had = d->nnodes;
		n = dag_node(d, r->prereqs[i], &r->plocs[i]);
		t->ins[t->nins++] = n;
		if (n->producer == NULL) {
			/* A file, checked once, when first mentioned. */
			if (d->nnodes == had)
				continue;
			if (n->phony)
				diag_error(&r->plocs[i], "no rule makes "
				    "'%s', which is .PHONY", n->path);
			else if (file_stat(n->path, &st) == -1)
				diag_error(&r->plocs[i], "'%s' needs '%s', "
				    "which no rule makes and which cannot be "
				    "read: %s", t->name, n->path,
				    strerror(errno));
			continue;
		}
		/* Each producer once, without a scan: linked[] holds the
		 * last task (id + 1) that took it as a dependency. */
		if (linked[n->producer->id] != t->id + 1) {
			linked[n->producer->id] = t->id + 1;
			t->deps[t->ndeps++] = n->producer;
			dag_add_rdep(n->producer, t);
		}
	}
}

/* The location of the reference in from's rule to a target of to. */
static const struct loc *
dag_edge_loc(const struct task *from, const struct task *to)
{
	size_t i;

	for (i = 0; i < from->nins; i++)
		if (from->ins[i]->producer == to)
			return &from->rule->plocs[i];
	return &from->rule->loc;
}

/* Report the cycle that runs from stack[k] to the top of the stack. */
static void
dag_report_cycle(struct task **stack, size_t k, size_t top)
{
	struct buf b = { 0 };
	size_t i;

	for (i = k; i <= top; i++)
		buf_printf(&b, "%s -> ", stack[i]->name);
	buf_addstr(&b, stack[k]->name);
	diag_error(&stack[k]->rule->loc, "dependency cycle: %s", b.data);
	for (i = k; i <= top; i++)
		diag_note(dag_edge_loc(stack[i], i < top ? stack[i + 1] :
		    stack[k]), "'%s' depends on '%s' here", stack[i]->name,
		    (i < top ? stack[i + 1] : stack[k])->name);
	buf_free(&b);
}

/* Find cycles with an iterative depth-first search (no recursion: a
 * chain of 100,000 tasks must not overflow the stack).  Marks: 0 new,
 * 1 on the stack, 2 done.  Reports each cycle once. */
static void
dag_check_cycles(struct dag *d)
{
	struct task **stack;
	size_t *next, top, i;
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
				size_t k = top;

				while (stack[k] != u)
					k--;
				dag_report_cycle(stack, k, top);
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
dag_build(struct plan *p)
{
	struct dag *d;
	size_t i, *linked;
	int before;

	before = diag_nerrors();
	d = xcalloc(1, sizeof(*d));
	d->tasks = xcalloc(p->nrules, sizeof(*d->tasks));
	for (i = 0; i < p->nrules; i++)
		dag_add_task(d, p, p->rules[i]);
	linked = xcalloc(d->ntasks + 1, sizeof(*linked));
	for (i = 0; i < d->ntasks; i++)
		dag_link(d, d->tasks[i], linked);
	free(linked);
	if (diag_nerrors() == before)
		dag_check_cycles(d);
	if (diag_nerrors() != before) {
		dag_free(d);
		return NULL;
	}
	return d;
}

/* Mark t and everything it needs; iterative for deep chains. */
static void
dag_mark(struct dag *d, struct task *t, struct task **stack)
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
	(void)d;
}

/* Fill d->order with the needed tasks, dependencies first (Kahn). */
static void
dag_sort(struct dag *d)
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
			dag_mark(d, n->producer, stack);
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
	dag_sort(d);
	return 0;
}

void
dag_free(struct dag *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->ntasks; i++) {
		free(d->tasks[i]->outs);
		free(d->tasks[i]->ins);
		free(d->tasks[i]->deps);
		free(d->tasks[i]->rdeps);
		free(d->tasks[i]);
	}
	for (i = 0; i < d->nnodes; i++) {
		free(d->nodes[i]->path);
		free(d->nodes[i]);
	}
	free(d->tasks);
	free(d->nodes);
	free(d->order);
	smap_free(&d->bypath);
	free(d);
}
