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

/* A file (or phony name) the plan mentions.  There is one for each
 * file of a plan (250,000 at 100,000 tasks): keep it small. */
struct node {
	char		*path;		/* normalised; in the node's block */
	struct task	*producer;	/* borrowed; NULL for a source file */
	uint64_t	 key;		/* hash of path, for the table */
	size_t		 seen;		/* 1 + the id of the last task that
					   named it as an input */
	struct filestat	 st;		/* when statted and not staterr */
	int		 staterr;	/* errno of stat(path), or 0 */
	unsigned int	 phony : 1;
	unsigned int	 statted : 1;	/* st or staterr holds path's stat */
	unsigned int	 hashed : 1;	/* hash is valid */
	unsigned int	 tried : 1;	/* patterns were tried for it */
	char		 hash[65];	/* SHA-256 of the content, in hex */
};

struct task {
	size_t		  id;		/* index in dag->tasks */
	struct rule	 *rule;		/* borrowed from the plan */
	const char	 *name;		/* the first target's path */
	struct node	**outs;		/* the nodes it makes */
	size_t		  nouts;
	struct node	**ins;		/* the context files (setting
					   "context"), then the prerequisites
					   in rule order, each once; where
					   each is named is found again from
					   the rule for a diagnostic */
	size_t		  nins;
	struct task	**deps;		/* producers of ins, each once */
	size_t		  ndeps;
	struct task	**rdeps;	/* tasks that depend on this one */
	size_t		  nrdeps;
	size_t		  rdepscap;	/* the room in rdeps */
	size_t		  depmark;	/* while linking: 1 + the id of the
					   last task that took it as a dep */
	size_t		  nblocked;	/* deps not yet finished */
	void		 *run;		/* the scheduler's per-task data */
	struct rule	**extra;	/* owned array: rules without a
					   prompt that add prerequisites */
	size_t		  nextra;
	unsigned char	  state;	/* enum task_state */
	unsigned char	  needed;	/* reachable from the goals */
	unsigned char	  phony;	/* every target is .PHONY */
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

/* The stat of n's file, taken the first time and kept in n, so that
 * the graph and the hash store stat a file once in a run; NULL when it
 * cannot be stat'ed (n->staterr says why). */
const struct filestat *dag_node_stat(struct node *n);
/* Drop the stat n keeps: its file is about to change. */
void		 dag_node_forget(struct node *n);
/* Drop the stat every node keeps: files may change from now on. */
void		 dag_forget_stats(struct dag *d);

/* Normalise a relative path: drop "./" parts and repeated slashes.
 * The caller frees the result. */
char		*dag_normpath(const char *path);

#endif
