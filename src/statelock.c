#include "statelock.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct statelock {
	int	 fd;
	char	*path;
	long	 previous;	/* the pid found in the file */
};

/* The pid written in the lock file, or 0. */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

struct statelock *
statelock_take(const char *statedir, int nowait, statelock_wait_fn waiting,
    void *arg, char **errp)
{
	struct statelock *l;
	char *path, pid[32];
	long prev;
	int fd, n;

	if (mkdir_p(statedir, errp) == -1)
		return NULL;
	path = path_join(statedir, "lock");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) == -1) {
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			xasprintf(errp, "cannot lock %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (nowait) {
			xasprintf(errp, "another planmake (pid %ld) is "
			    "building here and holds %s; not waiting "
			    "(--no-wait)", holder_pid(fd), path);
			goto fail;
		}
		if (waiting != NULL)
			waiting(holder_pid(fd), path, arg);
		while (flock(fd, LOCK_EX) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(errp, "cannot lock %s: %s", path,
			    strerror(errno));
			goto fail;
		}
	}
	prev = holder_pid(fd);
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n) {
		xasprintf(errp, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->path = path;
	l->previous = prev;
	return l;
fail:
	close(fd);
	free(path);
	return NULL;
}

long
statelock_previous(const struct statelock *l)
{
	return l->previous;
}

void
statelock_release(struct statelock *l)
{
	if (l == NULL)
		return;
	if (ftruncate(l->fd, 0) == -1) {
		/* The pid stays; the next holder overwrites it. */
	}
	close(l->fd);
	free(l->path);
	free(l);
}
