/* log: what planmake says about a run, by level (-s, default, -v, -d). */
#ifndef PM_LOG_H
#define PM_LOG_H

#include "util.h"

enum log_level {
	LOG_QUIET,		/* -s: errors only */
	LOG_NORMAL,		/* errors, warnings, each task's status */
	LOG_VERBOSE		/* -v: and notes: why a task runs or not */
};

/* Debug categories for -d, as bits. */
#define LOG_HTTP	0x01
#define LOG_SCHED	0x02
#define LOG_CACHE	0x04
#define LOG_STATE	0x08
#define LOG_EXTRACT	0x10
#define LOG_EXPLAIN	0x20

extern int	log_level;
extern int	log_debug_mask;

/* Turn a -d list ("http,cache") into bits.  -1 and *errp on an unknown
 * name. */
int	log_parse_debug(const char *list, char **errp);
void	log_error(const char *fmt, ...) PM_PRINTF(1, 2);
void	log_warning(const char *fmt, ...) PM_PRINTF(1, 2);
/* A line of status at the default level (not under -s). */
void	log_status(const char *fmt, ...) PM_PRINTF(1, 2);
void	log_note(const char *fmt, ...) PM_PRINTF(1, 2);
/* Test with log_debugging() before building costly arguments. */
#define log_debugging(cat)	(log_debug_mask & (cat))
void	log_debug(int cat, const char *fmt, ...) PM_PRINTF(2, 3);

#endif
