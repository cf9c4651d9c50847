#include "proc.h"

#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

#define PROC_MAXERR	(64 * 1024)	/* bytes of standard error kept */

struct proc {
	pid_t		 pid;		/* also its process group */
	int		 in, out, err;	/* our ends, -1 once closed */
	char		*input;		/* owned */
	size_t		 ninput, sent;
	struct buf	 obuf, ebuf;
	int		 status;
	int		 reaped;
	double		 start;
	double		 last_byte;	/* when it last printed, monotonic */
};

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* In the child: wire up the pipes and run the command. */
static void
child(const char *cmd, int pin[2], int pout[2], int perr[2],
    char *const envp[], pid_t parent)
{
	struct sigaction sa;
	char *argv[4];

	setpgid(0, 0);
#ifdef __linux__
	/* planmake killed with SIGKILL takes the command with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);	/* it died before that */
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (dup2(pin[0], 0) == -1 || dup2(pout[1], 1) == -1 ||
	    dup2(perr[1], 2) == -1)
		_exit(127);
	close(pin[0]);
	close(pin[1]);
	close(pout[0]);
	close(pout[1]);
	close(perr[0]);
	close(perr[1]);
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	execve("/bin/sh", argv, envp);
	_exit(127);
}

struct proc *
proc_start(const char *cmd, const char *input, size_t n, char *const envp[],
    char **errp)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	struct proc *p;
	pid_t pid, parent = getpid();

	if (pipe(pin) == -1 || pipe(pout) == -1 || pipe(perr) == -1) {
		xasprintf(errp, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	if ((pid = fork()) == -1) {
		xasprintf(errp, "cannot fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(cmd, pin, pout, perr, envp, parent);
	setpgid(pid, pid);	/* also in the child: no race either way */
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->in = pin[1];
	p->out = pout[0];
	p->err = perr[0];
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	fcntl(p->in, F_SETFD, FD_CLOEXEC);
	fcntl(p->out, F_SETFD, FD_CLOEXEC);
	fcntl(p->err, F_SETFD, FD_CLOEXEC);
	p->input = xmalloc(n + 1);
	memcpy(p->input, input, n);
	p->ninput = n;
	p->start = p->last_byte = now_mono();
	if (n == 0)
		close_fd(&p->in);
	return p;
fail:
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	return NULL;
}

unsigned
proc_fds(const struct proc *p, struct http_waitfd *fds)
{
	unsigned n = 0;

	if (p->in != -1) {
		fds[n].fd = p->in;
		fds[n++].events = POLLOUT;
	}
	if (p->out != -1) {
		fds[n].fd = p->out;
		fds[n++].events = POLLIN;
	}
	if (p->err != -1) {
		fds[n].fd = p->err;
		fds[n++].events = POLLIN;
	}
	return n;
}

/* Read what fd has into b; close it at the end.  Standard error keeps
 * only its last PROC_MAXERR bytes. */
static void
drain(int *fd, struct buf *b, int cap, double *last)
{
	char chunk[16384];
	ssize_t r;

	while (*fd != -1) {
		r = read(*fd, chunk, sizeof(chunk));
		if (r > 0) {
			buf_add(b, chunk, (size_t)r);
			*last = now_mono();
			if (cap && b->len > PROC_MAXERR) {
				memmove(b->data, b->data + b->len -
				    PROC_MAXERR / 2, PROC_MAXERR / 2);
				b->len = PROC_MAXERR / 2;
				b->data[b->len] = '\0';
			}
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return;
		close_fd(fd);		/* end of file, or an error */
	}
}

int
proc_step(struct proc *p)
{
	ssize_t w;
	pid_t r;

	while (p->in != -1 && p->sent < p->ninput) {
		w = write(p->in, p->input + p->sent, p->ninput - p->sent);
		if (w > 0) {
			p->sent += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			break;
		close_fd(&p->in);	/* EPIPE: it stopped reading */
	}
	if (p->in != -1 && p->sent == p->ninput)
		close_fd(&p->in);
	drain(&p->out, &p->obuf, 0, &p->last_byte);
	drain(&p->err, &p->ebuf, 1, &p->last_byte);
	if (!p->reaped) {
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid)
			p->reaped = 1;
	}
	/* Over once it has exited and its pipes are at their end (or it
	 * left a background child holding them: then once it exited). */
	if (p->reaped && p->out != -1) {
		drain(&p->out, &p->obuf, 0, &p->last_byte);
		drain(&p->err, &p->ebuf, 1, &p->last_byte);
		close_fd(&p->out);
		close_fd(&p->err);
	}
	if (p->reaped)
		close_fd(&p->in);
	return p->reaped && p->out == -1 && p->err == -1;
}

const char *
proc_output(const struct proc *p, size_t *n)
{
	*n = p->obuf.len;
	return p->obuf.data ? p->obuf.data : "";
}

const char *
proc_errors(const struct proc *p, size_t *n)
{
	*n = p->ebuf.len;
	return p->ebuf.data ? p->ebuf.data : "";
}

int
proc_status(const struct proc *p)
{
	return p->status;
}

double
proc_seconds(const struct proc *p)
{
	return now_mono() - p->start;
}

double
proc_idle(const struct proc *p)
{
	return now_mono() - p->last_byte;
}

void
proc_signal(struct proc *p, int sig)
{
	if (!p->reaped)
		kill(-p->pid, sig);
}

void
proc_free(struct proc *p)
{
	int i;

	if (p == NULL)
		return;
	if (!p->reaped) {
		/* The whole group: sh and whatever it started.  Give it a
		 * second to go, then kill what is left. */
		kill(-p->pid, SIGTERM);
		for (i = 0; i < 100; i++) {
			if (!p->reaped && waitpid(p->pid, &p->status,
			    WNOHANG) == p->pid)
				p->reaped = 1;
			if (p->reaped && kill(-p->pid, 0) == -1)
				break;
			usleep(10000);
		}
		kill(-p->pid, SIGKILL);
		if (!p->reaped)
			waitpid(p->pid, &p->status, 0);
	}
	close_fd(&p->in);
	close_fd(&p->out);
	close_fd(&p->err);
	free(p->input);
	buf_free(&p->obuf);
	buf_free(&p->ebuf);
	free(p);
}
