/* keyhash: the request key computed by streaming its canonical JSON
 * text (members sorted, no white space, jansson's escapes) straight
 * into SHA-256, with no JSON tree and no text built: the same bytes,
 * and so the same key, as dumping the tree with jansson, at a fraction
 * of the cost.  A no-op run computes one key per task, or finds it in
 * the memo of keymemo.h. */
#ifndef PM_KEYHASH_H
#define PM_KEYHASH_H

struct keymemo;
struct spec;
struct task;

/* Look keys up in km before computing them, and remember those
 * computed (NULL: always compute). */
void	keyhash_use_memo(struct keymemo *km);

/* The key of t's request as resolved in s, into out (64 hex digits and
 * a NUL).  Every input node must be hashed.  A string that is not
 * UTF-8 is fatal, as it is to jansson. */
void	keyhash_request(const struct spec *s, const struct task *t,
	    char out[65]);

#endif
