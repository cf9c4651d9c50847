/* tools: the -t tools that work on a plan's state rather than on the
 * plan alone: cache (list, gc) and clean. */
#ifndef PM_TOOLS_H
#define PM_TOOLS_H

struct dag;
struct plan;

struct tool_opts {
	const char	*statedir;	/* .planmake */
	const char	*lockfile;	/* planmake.lock */
	int		 force;		/* -f, --force: edited files too */
	int		 nowait;	/* --no-wait */
};

/* -t cache: each cache entry with its size, hits, model and the target
 * it wrote, then the totals.  -t cache gc: drop the entries (and their
 * manifests) that neither planmake.lock nor any task of the plan as it
 * is now can reach.  Returns the exit status. */
int	tool_cache(struct plan *p, struct dag *d, const struct tool_opts *o,
	    int argc, char **argv);

/* -t clean: remove the targets planmake.lock says planmake wrote, when
 * they still hold what it wrote (edited ones too with o->force), and
 * forget them in the lock.  Returns the exit status. */
int	tool_clean(struct dag *d, const struct tool_opts *o, int argc,
	    char **argv);

#endif
