/* What both libFuzzer targets do: load a plan from any bytes with one
 * of the loaders, then build the graph and read each task's settings,
 * as planmake -t check would go. */
#ifndef PM_FUZZ_H
#define PM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dag.h"
#include "diag.h"
#include "plan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Send diagnostics to /dev/null once; they are formatted all the same. */
static void
quiet(void)
{
	static FILE *devnull;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	diag_set_output(devnull);
}

/* Read each task's settings, which expands their values. */
static void
read_settings(struct plan *p)
{
	static const char *const names[] = { "tier", "model", "max_tokens",
	    "system", "context" };
	size_t i, k;

	for (i = 0; i < p->nrules; i++)
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			free(plan_setting(p, p->rules[i]->targets[0], names[k],
			    NULL));
}

/* Load data with loader as the file name, then the graph. */
static int
fuzz_plan(int (*loader)(struct plan *, const char *, const char *,
    size_t), const char *name, const uint8_t *data, size_t size)
{
	struct plan *p;
	struct dag *d;

	quiet();
	p = plan_new();
	if (loader(p, name, (const char *)data, size) == 0) {
		read_settings(p);
		if ((d = dag_build(p)) != NULL)
			dag_free(d);
	}
	plan_free(p);
	diag_reset();
	return 0;
}

#endif
