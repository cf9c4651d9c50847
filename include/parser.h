/* parser: a Planfile, cut into lines by the lexer, into a plan.  The
 * grammar is grammar/planfile.ebnf. */
#ifndef PM_PARSER_H
#define PM_PARSER_H

#include <stddef.h>

struct plan;

/* Read the Planfile at path into p: variables, rules, settings, .PHONY.
 * Every error found is reported through diag (up to DIAG_MAX_ERRORS);
 * returns 0, or -1 after errors. */
int	parser_load(struct plan *p, const char *path);
/* The same for the len bytes at text, called name in diagnostics. */
int	parser_load_mem(struct plan *p, const char *name, const char *text,
	    size_t len);

#endif
