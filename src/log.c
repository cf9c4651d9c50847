#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	log_level = LOG_NORMAL;
int	log_debug_mask;

static const struct {
	const char	*name;
	int		 bit;
} categories[] = {
	{ "http", LOG_HTTP }, { "sched", LOG_SCHED }, { "cache", LOG_CACHE },
	{ "state", LOG_STATE }, { "extract", LOG_EXTRACT },
	{ "explain", LOG_EXPLAIN },
};

int
log_parse_debug(const char *list, char **errp)
{
	const char *p, *e;
	size_t i, n;
	int mask = 0;

	for (p = list; *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		for (i = 0; i < sizeof(categories) / sizeof(categories[0]);
		    i++) {
			if (strlen(categories[i].name) == n &&
			    strncmp(categories[i].name, p, n) == 0)
				break;
		}
		if (i == sizeof(categories) / sizeof(categories[0])) {
			xasprintf(errp, "unknown debug category '%.*s' "
			    "(known: http, sched, cache, state, extract, "
			    "explain)", (int)n, p);
			return -1;
		}
		mask |= categories[i].bit;
	}
	return mask;
}

/* Print "planmake: [kind: ]message" to stderr. */
static void
log_vprint(const char *kind, const char *fmt, va_list ap)
{
	fputs("planmake: ", stderr);
	if (kind)
		fprintf(stderr, "%s: ", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(NULL, fmt, ap);
	va_end(ap);
}

void
log_warning(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_NORMAL)
		return;
	va_start(ap, fmt);
	log_vprint("warning", fmt, ap);
	va_end(ap);
}

void
log_status(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_NORMAL)
		return;
	va_start(ap, fmt);
	log_vprint(NULL, fmt, ap);
	va_end(ap);
}

void
log_note(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_VERBOSE)
		return;
	va_start(ap, fmt);
	log_vprint("note", fmt, ap);
	va_end(ap);
}

void
log_debug(int cat, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (!(log_debug_mask & cat))
		return;
	for (i = 0; categories[i].bit != cat; i++)
		;
	fprintf(stderr, "planmake: debug: %s: ", categories[i].name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
