/* expand: what "$" means in the text of a plan: variables, computed
 * names, substitution references, automatic variables and functions
 * (grammar/planfile.ebnf, "text").  Below plan: it reads the plan's
 * variables and reports through diag. */
#ifndef PM_EXPAND_H
#define PM_EXPAND_H

#include <stddef.h>

#include "diag.h"
#include "util.h"

struct plan;
struct rule;

/* Where the byte at offset off of a text being expanded was written:
 * fills l.  Loaders pass one when text is not a verbatim copy of one
 * line (joined lines, escapes). */
typedef void	(*plan_locate_fn)(void *arg, size_t off, struct loc *l);

/* Expand the n bytes at text, written at l: $(NAME) and ${NAME} of a
 * defined variable give its (recursively expanded) value, a computed
 * name $($(X)_files) is expanded first, $(NAME:.a=.b) and
 * $(NAME:%.a=%.b) substitute, $(FUNCTION args) calls one of the
 * functions of grammar/planfile.ebnf, $$ gives $.  A reference to an
 * undefined variable stays as written with a warning at its place; any
 * other $ is literal.  Errors (a variable that refers to itself, an
 * unknown function, bad arguments) are reported at their place and
 * leave the reference as written.  The caller frees the result. */
char		*plan_expand(struct plan *p, const char *text, size_t n,
		    const struct loc *l);
/* The same for the task of rule r, so that the automatic variables
 * $@ (its targets), $< (its first prerequisite), $^ (its
 * prerequisites), $* (its stem) and their D and F forms have values.
 * quiet holds flags: PLAN_QUIET suppresses warnings (for the instances
 * of a pattern whose prompt was checked once), PLAN_UNDEF_EMPTY makes
 * an undefined variable empty, without a warning (for conditions, as
 * in make).  In a function's arguments an undefined variable is always
 * empty, with a warning. */
#define PLAN_QUIET		1
#define PLAN_UNDEF_EMPTY	2
char		*plan_expand_rule(struct plan *p, const struct rule *r,
		    const char *text, size_t n, const struct loc *l,
		    int quiet);
/* The most general form: r may be NULL, and places come from
 * locate(arg, offset), or, when locate is NULL, are counted from the
 * struct loc at arg. */
char		*plan_expand_at(struct plan *p, const struct rule *r,
		    const char *text, size_t n, plan_locate_fn locate,
		    void *arg, int quiet);
/* plan_expand_rule() appending to out, for text built piece by piece. */
void		 plan_expand_append(struct plan *p, const struct rule *r,
		    struct buf *out, const char *text, size_t n,
		    const struct loc *l, int quiet);

/* Expand a value stored in the plan for r's task (r may be NULL),
 * reporting every problem at l, its assignment (NULL or a file of NULL:
 * the command line).  The caller frees the result. */
char		*expand_stored(struct plan *p, const struct rule *r,
		    const char *value, const struct loc *l);

/* Whether the n bytes at w match the pn bytes of pattern pat (its
 * first '%' matching any text, perhaps empty; without '%', equal); the
 * stem in *stem and *stemlen. */
int		 expand_match(const char *pat, size_t pn, const char *w,
		    size_t n, const char **stem, size_t *stemlen);
/* Append replacement rep (rn bytes) with its first '%' replaced by the
 * stem. */
void		 expand_replace(struct buf *out, const char *rep, size_t rn,
		    const char *stem, size_t stemlen);

/* A warning, given once per place and text however often the text
 * is expanded.  Returns whether it was given now. */
int		 plan_warn_once(struct plan *p, const struct loc *l,
		    const char *fmt, ...) PM_PRINTF(3, 4);

/* Whether the n bytes at s make a variable name: letters, digits, '_',
 * '.' and '-'. */
int		 plan_is_name(const char *s, size_t n);

#endif
