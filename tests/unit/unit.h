/* Common includes for the cmocka unit tests. */
#ifndef PM_TEST_UNIT_H
#define PM_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A group's scratch directory, /tmp/pm-NAME.XXXXXX: made and entered
 * before its tests (unit_tmpdir_enter), left and removed with all in it
 * after them (unit_tmpdir_leave).  0, or -1 on failure. */
static char	unit_dir[128];
static char	unit_olddir[4096];

static inline int
unit_tmpdir_enter(const char *name)
{
	snprintf(unit_dir, sizeof(unit_dir), "/tmp/pm-%s.XXXXXX", name);
	if (getcwd(unit_olddir, sizeof(unit_olddir)) == NULL ||
	    mkdtemp(unit_dir) == NULL || chdir(unit_dir) == -1)
		return -1;
	return 0;
}

static inline int
unit_tmpdir_leave(void)
{
	char cmd[160];

	if (chdir(unit_olddir) == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
