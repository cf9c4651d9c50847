/* extract: split a model's answer into the contents of a task's targets.
 * The answer is untrusted input: any bytes, any length. */
#ifndef PM_EXTRACT_H
#define PM_EXTRACT_H

#include <stddef.h>

/* One target's content, as the answer gave it. */
struct extract_file {
	char	*data;		/* owned: the file's content */
	size_t	 len;
};

/* Split answer (len bytes, not necessarily NUL-terminated, may contain NULs)
 * into the contents of the ntargets targets, in the order of targets.  On
 * success returns 0 and fills out[0..ntargets-1] (the caller frees each data;
 * data is never NULL and has a NUL after its len bytes).  On failure returns
 * -1, fills nothing (everything allocated is freed) and sets *errp to a
 * message the caller frees.  A CR before any LF (and at the very end) is
 * dropped, so CRLF answers give LF files. */
int	 extract_answer(const char *answer, size_t len, char *const *targets,
	    size_t ntargets, struct extract_file *out, char **errp);

/* The answer-format instructions planmake puts first in every system text.
 * Static string; it is part of the cache key, so keep it stable. */
const char *extract_instructions(void);

#endif
