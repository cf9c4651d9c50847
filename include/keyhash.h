/* keyhash: the request key, the SHA-256 of its canonical JSON text
 * (members sorted, no white space, jansson's escapes) written straight
 * into one reused buffer, with no JSON tree: the same bytes, and so the
 * same key, as dumping the tree with jansson, at a fraction of the
 * cost.  The text's fingerprint is looked up in the memo of keymemo.h
 * first, so that a no-op hashes none of its unchanged requests. */
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
