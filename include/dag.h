/* dag: the plan's rules as tasks and files, with edges, goals and a
 * topological order.  Every task and edge keeps its plan location. */
#ifndef PM_DAG_H
#define PM_DAG_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "util.h"

struct plan;
struct rule;

enum task_state {
	TASK_WAITING,		/* some dependency has not finished */
	TASK_READY,		/* queued */
	TASK_RUNNING,		/* a request is in flight */
	TASK_DONE,		/* up to date or built */
	TASK_FAILED,
	TASK_SKIPPED		/* a dependency failed */
};

/* A file (or phony name) the plan mentions. */
struct node {
	char		*path;		/* normalised; in the node's block */
	struct task	*producer;	/* borrowed; NULL for a source file */
	struct loc	 loc;		/* first mention */
	int		 phony;
	int		 statted;	/* staterr is known */
	int		 staterr;	/* errno of stat(path), or 0 */
	int		 hashed;	/* hash is valid */
	char		 hash[65];	/* SHA-256 of the content */
	uint64_t	 key;		/* hash of path, for the table */
	size_t		 seen;		/* 1 + the id of the last task that
					   named it as an input */
	int		 tried;		/* patterns were tried for it */
	int		 exists;	/* 0 unknown, 1 yes, -1 no (err) */
	int		 err;
};

struct task {
	size_t		  id;		/* index in dag->tasks */
	struct rule	 *rule;		/* borrowed from the plan */
	const char	 *name;		/* the first target's path */
	struct node	**outs;		/* the nodes it makes */
	size_t		  nouts;
	struct node	**ins;		/* the context files (setting
					   "context"), then the prerequisites
					   in rule order, each once */
	struct loc	 *inlocs;	/* where each of ins is named */
	size_t		  nins;
	struct task	**deps;		/* producers of ins, each once */
	size_t		  ndeps;
	struct task	**rdeps;	/* tasks that depend on this one */
	size_t		  nrdeps;
	size_t		  rdepscap;	/* the room in rdeps */
	size_t		  depmark;	/* while linking: 1 + the id of the
					   last task that took it as a dep */
	size_t		  nblocked;	/* deps not yet finished */
	int		  state;	/* enum task_state */
	int		  needed;	/* reachable from the goals */
	int		  phony;	/* every target is .PHONY */
	void		 *run;		/* the scheduler's per-task data */
	struct rule	**extra;	/* owned array: rules without a
					   prompt that add prerequisites */
	size_t		  nextra;
};

/* A slot of the node table: the key beside the node, so that a probe
 * that misses reads no node. */
struct dag_slot {
	uint64_t	 key;		/* the node's key; 0 when empty */
	struct node	*node;		/* borrowed from the arena, or NULL */
};

struct dag {
	struct task	**tasks;	/* owned, in plan order */
	size_t		  ntasks;
	struct node	**nodes;	/* owned, in order of first mention */
	size_t		  nnodes;
	size_t		  nodescap;
	struct dag_slot	 *table;	/* open addressing by path */
	size_t		  tablecap;	/* a power of two */
	struct task	**order;	/* needed tasks, dependencies first */
	size_t		  norder;
	struct arena	 *arena;	/* owns the nodes, tasks, arrays */
};

/* Build the graph of p.  Reports through diag a target made by two
 * rules, a missing input file and a cycle (the whole cycle, a note for
 * each member, up to DIAG_MAX_ERRORS); returns NULL after any error.  Pattern rules make a
 * task for each file some task needs that they match (and whose
 * prerequisites exist or can be made), as make's implicit rules do.
 * A rule without a prompt for a target that another rule (or a
 * pattern) makes adds its prerequisites to that task. */
struct dag	*dag_build(struct plan *p);
/* The same, with the goals that the command line names also made by
 * pattern rules when no rule makes them. */
struct dag	*dag_build_goals(struct plan *p, char *const *goals,
		    size_t ngoals);
void		 dag_free(struct dag *d);

/* The node for path, or NULL.  path need not be normalised. */
struct node	*dag_find(struct dag *d, const char *path);

/* Mark what the goals need (all rules' default goal when ngoals is 0)
 * and fill d->order.  A goal that no rule makes and no file provides is
 * an error: -1 and *errp. */
int		 dag_select(struct dag *d, struct plan *p, char *const *goals,
		    size_t ngoals, char **errp);

/* Normalise a relative path: drop "./" parts and repeated slashes.
 * The caller frees the result. */
char		*dag_normpath(const char *path);

#endif
