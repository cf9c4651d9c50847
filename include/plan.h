/* plan: the plan as loaded from a Planfile (or plan.yaml): variables,
 * rules, settings.  The loaders fill it; dag turns it into tasks. */
#ifndef PM_PLAN_H
#define PM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "expand.h"
#include "util.h"

enum var_origin {
	VAR_FILE,		/* assigned in the plan */
	VAR_CMDLINE		/* NAME=value on the command line: wins */
};

/* The assignment operators. */
enum assign_op {
	ASSIGN_RECURSIVE,	/* "=": stored as written, expanded when used */
	ASSIGN_SIMPLE,		/* ":=" or "::=": expanded once, now */
	ASSIGN_COND,		/* "?=": only when not yet defined */
	ASSIGN_APPEND		/* "+=": appended after a space */
};

struct var {
	char		*name;		/* owned */
	char		*value;		/* owned; unexpanded unless simple */
	int		 origin;	/* enum var_origin */
	int		 simple;	/* 1 for :=, value already expanded */
	int		 busy;		/* being expanded: a self-reference */
	struct loc	 loc;		/* where it was assigned */
};

/* "target: name = value": a setting for one target's task.  A target
 * holding '%' is a pattern: the setting applies to each task whose
 * target it matches ("src/%.c: tier = strong"). */
struct tset {
	char		*target;	/* owned */
	char		*name;		/* owned */
	char		*value;		/* owned, expanded when read */
	struct loc	 loc;
	int		 op;		/* enum assign_op; 0 is "=" */
	struct tset	*prev;		/* set by plan_add_tset(): the setting
					   it overrides or appends to */
};

/* A rule.  A rule whose targets hold '%' is a pattern rule (pattern
 * set by plan_add_rule()): it makes no task itself, but one instance
 * per target it matches that the plan needs (see plan_instantiate()).
 * Every rule is made by rule_new(): the arrays, the strings and the
 * places of the words are one block.  Where a word is named is read
 * with rule_tloc() and rule_ploc(). */
struct rule {
	char		**targets;	/* expanded, at least one */
	char		**prereqs;	/* expanded */
	char		 *prompt;	/* expanded; NULL: no prompt.  A
					   pattern rule's is unexpanded.
					   Owned unless prompt_kept. */
	struct loc	 *locs;		/* the places of the targets, then of
					   the prerequisites; NULL when they
					   are packed (see rule_tloc()) */
	char		 *stem;		/* owned: what '%' matched, for an
					   instance of a pattern; else NULL */
	const struct rule *from;	/* an instance's pattern rule */
	struct loc	  loc;		/* the rule's first target; the
					   packed places count from it, so
					   it is set by rule_new() only */
	struct loc	  prompt_loc;	/* the first prompt line */
	uint32_t	  ntargets;
	uint32_t	  nprereqs;
	uint32_t	  ninstances;	/* a pattern rule's instances */
	unsigned char	  pattern;	/* a pattern rule */
	unsigned char	  packed;	/* 1 malloc'd, 2 in the plan's arena */
	unsigned char	  prompt_kept;	/* prompt is in the plan's arena:
					   borrowed, not freed */
};

/* A piece of text, not NUL-terminated, and where it was written. */
struct pword {
	const char	*s;
	size_t		 len;
	struct loc	 loc;
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
	struct rule	**patterns;	/* owned pattern rules, in file order */
	size_t		  npatterns;
	size_t		  patternscap;
	struct rule	**instances;	/* owned instances of patterns */
	size_t		  ninstances;
	size_t		  instancescap;
	struct tset	**ptsets;	/* pattern settings: the latest for
					   each name and pattern; borrowed */
	size_t		  nptsets;
	size_t		  ptsetscap;
	struct smap	  ptsetmap;	/* "name\tpattern" -> last tset */
	struct smap	  bytarget;	/* target -> struct rule *, built on
					   demand by plan_setting() */
	size_t		  nbytarget;	/* rules in bytarget */
	struct smap	  warned;	/* warnings given, said once each */
	struct smap	  tsettargets;	/* target -> a tset of it */
	int		  shared;	/* see plan_rule_settings_shared() */
	struct arena	  mem;		/* the blocks of rule_new(p, ...) */
	char		 *memcur;	/* bytes handed out by plan_alloc() */
	char		 *memend;
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

/* Assign name from the plan with operator op (enum assign_op): "="
 * stores the n bytes at value as written, ":=" expands them now, "?="
 * assigns only an undefined name, "+=" appends a space and value to
 * the old value, expanded now when the old value was (make's rule),
 * and is "=" for an undefined name.  l is the assignment's place;
 * problems met expanding now are placed by locate(arg, offset), or,
 * when locate is NULL, counted from the struct loc at arg (from l when
 * arg is NULL too).  Takes copies. */
void		 plan_assign(struct plan *p, const char *name, int op,
		    const char *value, size_t n, const struct loc *l,
		    plan_locate_fn locate, void *arg);

/* A rule with copies of the nt targets and np prerequisites at t and
 * pr, all in one block (so that 100,000 rules are not a million
 * allocations), taken from p's arena when p is not NULL (it then lives
 * until plan_free(p)).  Its place r->loc is *at.  The words' places are
 * packed into 4 bytes each when they are in at's file within 127 lines
 * of it (a rule on one line, or joined from a few), else kept whole.
 * The caller adds a prompt. */
struct rule	*rule_new(struct plan *p, const struct loc *at,
		    const struct pword *t, size_t nt, const struct pword *pr,
		    size_t np);

/* Where target i, and prerequisite i, of r is named. */
struct loc	 rule_tloc(const struct rule *r, size_t i);
struct loc	 rule_ploc(const struct rule *r, size_t i);

/* A copy of the n bytes at s, NUL-terminated, that lives until
 * plan_free(p): for text kept as long as the plan, such as prompts,
 * without a malloc header for each. */
char		*plan_strndup(struct plan *p, const char *s, size_t n);

/* Add a rule, taking ownership of it.  A rule whose targets hold '%'
 * becomes a pattern rule; a rule that mixes pattern and plain targets
 * is an error (-1, reported, r freed).  Otherwise its first target
 * becomes the default goal when there is none yet and it does not
 * start with '.'.  Returns 0. */
int		 plan_add_rule(struct plan *p, struct rule *r);
void		 rule_free(struct rule *r);

/* Whether name matches pattern (one '%' matching any non-empty text,
 * or, without '%', equal).  *stem and *stemlen get what '%' matched. */
int		 plan_match(const char *pattern, const char *name,
		    const char **stem, size_t *stemlen);

/* The instance of pattern rule pat for stem: its targets and
 * prerequisites with '%' replaced by the stem, its prompt expanded for
 * the instance.  Owned by p. */
struct rule	*plan_instantiate(struct plan *p, struct rule *pat,
		    const char *stem, size_t stemlen);

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
 * assignment, else a target-specific setting of target, else the
 * pattern setting whose pattern matches target with the shortest stem,
 * else a global plan variable, else NULL ("+=" and "?=" settings build
 * on the next of these).  target may be NULL.  Expanded for the task
 * of the rule making target; the caller frees the result.  *where,
 * when not NULL, gets the place it was set (file NULL for the command
 * line). */
char		*plan_setting(struct plan *p, const char *target,
		    const char *name, struct loc *where);
/* The same for the task of rule r: the setting of the first of its
 * targets that has one of its own (or by pattern), else the global
 * one. */
char		*plan_rule_setting(struct plan *p, const struct rule *r,
		    const char *name, struct loc *where);

/* Whether the task of r reads the same settings as every other task
 * for which this is true: no setting of its own (by target or by
 * pattern), and no global setting whose value is expanded per task.
 * Lets -t check resolve shared settings once, not 100,000 times. */
int		 plan_rule_settings_shared(struct plan *p,
		    const struct rule *r);

/* Load a plan file: a Planfile, or YAML when the name ends in .yaml or
 * .yml.  Diagnostics go through diag; returns 0, or -1 after errors. */
int		 plan_load(struct plan *p, const char *path);

#endif
