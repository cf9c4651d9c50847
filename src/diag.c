#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

static FILE	*out;
static int	 nerrors;
static int	 nwarnings;
static int	 quiet;

void
diag_set_output(FILE *f)
{
	out = f;
}

/* Print one diagnostic.  Plan diagnostics carry no program prefix, so
 * editors can jump to the spot. */
static void
diag_vprint(const struct loc *l, const char *severity, const char *fmt,
    va_list ap)
{
	FILE *f;

	f = out ? out : stderr;
	if (l == NULL || l->file == NULL)
		fputs("planmake: ", f);
	else if (l->line == 0)
		fprintf(f, "%s: ", l->file);
	else
		fprintf(f, "%s:%d:%d: ", l->file, l->line, l->col);
	fprintf(f, "%s: ", severity);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

void
diag_error(const struct loc *l, const char *fmt, ...)
{
	va_list ap;

	nerrors++;
	va_start(ap, fmt);
	diag_vprint(l, "error", fmt, ap);
	va_end(ap);
}

void
diag_warning(const struct loc *l, const char *fmt, ...)
{
	va_list ap;

	nwarnings++;
	if (quiet)
		return;
	va_start(ap, fmt);
	diag_vprint(l, "warning", fmt, ap);
	va_end(ap);
}

void
diag_note(const struct loc *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint(l, "note", fmt, ap);
	va_end(ap);
}

int
diag_nerrors(void)
{
	return nerrors;
}

int
diag_nwarnings(void)
{
	return nwarnings;
}

void
diag_reset(void)
{
	nerrors = nwarnings = 0;
}

void
diag_quiet(int on)
{
	quiet = on;
}
