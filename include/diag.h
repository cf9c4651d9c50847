/* diag: diagnostics about the plan, "file:line:col: severity: text". */
#ifndef PM_DIAG_H
#define PM_DIAG_H

#include <stdio.h>

#include "util.h"

/* A place in a plan file.  file is borrowed: file names live as long
 * as the plan (see plan_intern()).  line and col are 1-based; col counts
 * bytes.  line 0 means "the file as a whole"; file NULL means no place. */
struct loc {
	const char	*file;
	int		 line;
	int		 col;
};

/* Most errors reported before the loader gives up. */
#define DIAG_MAX_ERRORS 20

/* Send diagnostics to f (stderr by default; tests pass a tmpfile). */
void	diag_set_output(FILE *f);
void	diag_error(const struct loc *l, const char *fmt, ...) PM_PRINTF(2, 3);
void	diag_warning(const struct loc *l, const char *fmt, ...)
	    PM_PRINTF(2, 3);
void	diag_note(const struct loc *l, const char *fmt, ...) PM_PRINTF(2, 3);
/* Errors reported since the last diag_reset(). */
int	diag_nerrors(void);
/* Warnings reported since the last diag_reset(). */
int	diag_nwarnings(void);
void	diag_reset(void);
/* Suppress warnings (for -s). */
void	diag_quiet(int on);

#endif
