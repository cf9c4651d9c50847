/* plan: the plan as loaded from a Planfile (or plan.yaml): variables,
 * rules, settings.  The loaders fill it; dag turns it into tasks. */
#ifndef PM_PLAN_H
#define PM_PLAN_H

#include <stddef.h>

#include "diag.h"
#include "util.h"

enum var_origin {
	VAR_FILE,		/* assigned in the plan */
	VAR_CMDLINE		/* NAME=value on the command line: wins */
};

struct var {
	char		*name;		/* owned */
	char		*value;		/* owned; unexpanded unless simple */
	int		 origin;	/* enum var_origin */
	int		 simple;	/* 1 for :=, value already expanded */
	int		 busy;		/* being expanded: a self-reference */
	struct loc	 loc;		/* where it was assigned */
};

/* "target: name = value": a setting for one target's task. */
struct tset {
	char		*target;	/* owned */
	char		*name;		/* owned */
	char		*value;		/* owned, expanded when read */
	struct loc	 loc;
};

struct rule {
	char		**targets;	/* owned, expanded, at least one */
	struct loc	 *tlocs;	/* one per target */
	size_t		  ntargets;
	char		**prereqs;	/* owned, expanded */
	struct loc	 *plocs;	/* one per prerequisite */
	size_t		  nprereqs;
	char		 *prompt;	/* owned, expanded; NULL: no prompt */
	struct loc	  loc;		/* the rule's first target */
	struct loc	  prompt_loc;	/* the first prompt line */
};

struct plan {
	char		 *file;		/* the plan file as named; owned */
	char		 *dir;		/* its directory; owned */
	struct rule	**rules;	/* owned, in file order */
	size_t		  nrules;
	size_t		  rulescap;
	struct smap	  vars;		/* name -> struct var *, owned */
	struct smap	  phony;	/* name -> struct loc *, owned */
	struct tset	**tsets;	/* owned, in file order */
	size_t		  ntsets;
	size_t		  tsetscap;
	struct smap	  tsetmap;	/* "name\ttarget" -> last tset */
	char		**goals;	/* default goal: first rule's targets */
	size_t		  ngoals;
	struct smap	  strings;	/* interned strings (file names) */
};

struct plan	*plan_new(void);
void		 plan_free(struct plan *p);

/* A copy of s that lives as long as p, the same pointer for equal
 * strings.  Used for the file names in struct loc. */
const char	*plan_intern(struct plan *p, const char *s);

/* Take "NAME=value" from the command line.  Returns 0, or -1 when arg
 * is not an assignment (it is then a target). */
int		 plan_cmdline_var(struct plan *p, const char *arg);

/* Assign a variable.  A command-line variable is not replaced by a
 * plan assignment.  Takes copies of name and value. */
void		 plan_set_var(struct plan *p, const char *name,
		    const char *value, int origin, int simple,
		    const struct loc *l);

/* Expand the n bytes at text: $(NAME) and ${NAME} of a defined variable
 * give its (recursively expanded) value, $$ gives $, a reference to an
 * undefined variable stays as written with a warning at l, any other $
 * is literal.  A variable that refers to itself is an error at l.
 * The caller frees the result. */
char		*plan_expand(struct plan *p, const char *text, size_t n,
		    const struct loc *l);

/* Add a rule, taking ownership of it.  Its first target becomes the
 * default goal when there is none yet and it does not start with '.'. */
void		 plan_add_rule(struct plan *p, struct rule *r);
void		 rule_free(struct rule *r);

/* Add a target-specific setting, taking ownership of ts.  An unknown
 * setting name is an error with a suggestion. */
int		 plan_add_tset(struct plan *p, struct tset *ts);

/* Mark name as .PHONY. */
void		 plan_add_phony(struct plan *p, const char *name,
		    const struct loc *l);
int		 plan_is_phony(const struct plan *p, const char *name);

/* Whether name is a setting ("tier", "tier.NAME", "max_tokens", ...). */
int		 plan_is_setting(const char *name);
/* The setting closest to a misspelled name, or NULL. */
const char	*plan_setting_suggest(const char *name);

/* The value of setting name for the task writing target: a command-line
 * assignment, else a target-specific setting of target, else a global
 * plan variable, else NULL.  target may be NULL.  Expanded; the caller
 * frees the result.  *where, when not NULL, gets the place it was set
 * (file NULL for the command line). */
char		*plan_setting(struct plan *p, const char *target,
		    const char *name, struct loc *where);

/* Load a plan file: a Planfile, or YAML when the name ends in .yaml or
 * .yml.  Diagnostics go through diag; returns 0, or -1 after errors. */
int		 plan_load(struct plan *p, const char *path);

#endif
