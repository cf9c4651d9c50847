/* yamlplan: plan.yaml, read with libyaml, into the same plan model as a
 * Planfile: vars, settings, phony names and a list of tasks.  The schema
 * is grammar/plan.schema.json. */
#ifndef PM_YAMLPLAN_H
#define PM_YAMLPLAN_H

#include <stddef.h>

struct plan;

/* Read the YAML plan at path into p.  Every error found is reported
 * through diag at its line and column (up to DIAG_MAX_ERRORS); returns
 * 0, or -1 after errors. */
int	yamlplan_load(struct plan *p, const char *path);
/* The same for the len bytes at text, called name in diagnostics. */
int	yamlplan_load_mem(struct plan *p, const char *name, const char *text,
	    size_t len);

#endif
