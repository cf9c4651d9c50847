/* syncfs(2) is a GNU extension. */
#define _GNU_SOURCE

#include "journal.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The file: a header line, then one line per record:
 *	# planmake journal 1
 *	SUM<TAB>FIELD<TAB>FIELD...
 * SUM is the first 16 hex digits of the SHA-256 of the rest of the line
 * (after the tab that follows it).  Fields escape backslash, tab and
 * newline as \\, \t and \n.  A line without its newline is torn. */
#define SUMLEN	16

struct journal {
	int	 fd;
	char	*path;
	size_t	 unsynced;	/* records since the last flush */
	double	 synced_at;	/* monotonic time of the last flush */
};

struct journal *
journal_open(const char *path, char **errp)
{
	struct journal *j;
	char *dir, *head;
	int fd, n;

	dir = path_dirname(path);
	if (mkdir_p(dir, errp) == -1) {
		free(dir);
		return NULL;
	}
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666);
	if (fd == -1) {
		xasprintf(errp, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	n = xasprintf(&head, "# planmake journal %d\n", JOURNAL_VERSION);
	if (write(fd, head, (size_t)n) != n) {
		xasprintf(errp, "cannot write %s: %s", path, strerror(errno));
		free(head);
		close(fd);
		return NULL;
	}
	free(head);
	j = xcalloc(1, sizeof(*j));
	j->fd = fd;
	j->path = xstrdup(path);
	j->synced_at = now_mono();
	return j;
}

static void
field_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_addstr(b, "\\\\");
		else if (*s == '\t')
			buf_addstr(b, "\\t");
		else if (*s == '\n')
			buf_addstr(b, "\\n");
		else
			buf_addc(b, *s);
	}
}

int
journal_append(struct journal *j, const char *const *fields, size_t n,
    char **errp)
{
	struct buf b = { 0 };
	char sum[65];
	size_t i;
	ssize_t w;

	buf_add(&b, "0123456789abcdef\t", SUMLEN + 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(&b, '\t');
		field_escape(&b, fields[i]);
	}
	sha256_hex(b.data + SUMLEN + 1, b.len - SUMLEN - 1, sum);
	memcpy(b.data, sum, SUMLEN);
	buf_addc(&b, '\n');

	/* One write: with O_APPEND a record lands whole or, when the
	 * process dies in it, torn at the end, where the reader skips it. */
	while ((w = write(j->fd, b.data, b.len)) == -1 && errno == EINTR)
		;
	if (w != (ssize_t)b.len) {
		xasprintf(errp, "cannot write %s: %s", j->path,
		    w == -1 ? strerror(errno) : "short write");
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	if (++j->unsynced >= JOURNAL_SYNC_EVERY ||
	    now_mono() - j->synced_at >= 1.0)
		return journal_sync(j, errp);
	return 0;
}

int
journal_sync(struct journal *j, char **errp)
{
	int rc;

	if (j->unsynced == 0)
		return 0;
#ifdef __linux__
	rc = syncfs(j->fd);
#else
	rc = fsync(j->fd);
#endif
	if (rc == -1) {
		xasprintf(errp, "cannot flush %s: %s", j->path,
		    strerror(errno));
		return -1;
	}
	j->unsynced = 0;
	j->synced_at = now_mono();
	return 0;
}

int
journal_close(struct journal *j, char **errp)
{
	int rc;

	if (j == NULL)
		return 0;
	rc = journal_sync(j, errp);
	if (close(j->fd) == -1 && rc == 0) {
		xasprintf(errp, "cannot write %s: %s", j->path,
		    strerror(errno));
		rc = -1;
	}
	free(j->path);
	free(j);
	return rc;
}

/* Check and split one record line (NUL-terminated, modified), then
 * call fn.  -1 when it is corrupt. */
static int
record_parse(char *line, size_t len, journal_fn fn, void *arg)
{
	char sum[65], **fields, *p, *tab;
	size_t n = 0, cap = 8;

	if (len < SUMLEN + 2 || line[SUMLEN] != '\t')
		return -1;
	sha256_hex(line + SUMLEN + 1, len - SUMLEN - 1, sum);
	if (memcmp(sum, line, SUMLEN) != 0)
		return -1;
	fields = xcalloc(cap, sizeof(*fields));
	for (p = line + SUMLEN + 1; p != NULL; p = tab) {
		if ((tab = strchr(p, '\t')) != NULL)
			*tab++ = '\0';
		if (unescape_field(p) == -1) {
			free(fields);
			return -1;
		}
		if (n == cap)
			fields = xreallocarray(fields, cap *= 2,
			    sizeof(*fields));
		fields[n++] = p;
	}
	fn(fields, n, arg);
	free(fields);
	return 0;
}

long
journal_read(const char *path, journal_fn fn, void *arg, size_t *nbad,
    size_t *badline, char **errp)
{
	struct buf b = { 0 };
	char *p, *nl, *err = NULL;
	size_t lineno;
	long nrec = 0;
	int version;

	*nbad = 0;
	*badline = 0;
	if (file_read(path, &b, &err) == -1) {
		buf_free(&b);
		if (access(path, F_OK) != 0 && errno == ENOENT) {
			free(err);
			return 0;
		}
		*errp = err;
		return -1;
	}
	if (b.len == 0) {
		buf_free(&b);
		return 0;
	}
	if ((nl = memchr(b.data, '\n', b.len)) == NULL ||
	    sscanf(b.data, "# planmake journal %d", &version) != 1) {
		/* A header torn by a crash holds no record yet. */
		if (nl == NULL && strncmp(b.data, "# planmake journal",
		    b.len) == 0) {
			buf_free(&b);
			return 0;
		}
		xasprintf(errp, "%s:1: not a planmake journal", path);
		buf_free(&b);
		return -1;
	}
	if (version != JOURNAL_VERSION) {
		xasprintf(errp, "%s:1: journal format %d is not known to this "
		    "planmake (it reads %d)", path, version, JOURNAL_VERSION);
		buf_free(&b);
		return -1;
	}
	for (p = nl + 1, lineno = 2; p < b.data + b.len; lineno++) {
		if ((nl = memchr(p, '\n', (size_t)(b.data + b.len - p))) ==
		    NULL || memchr(p, '\0', (size_t)(nl - p)) != NULL ||
		    (*nl = '\0', record_parse(p, (size_t)(nl - p), fn,
		    arg) == -1)) {
			if ((*nbad)++ == 0)
				*badline = lineno;
		} else
			nrec++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	buf_free(&b);
	return nrec;
}
