/* request: what a task asks a model, resolved from the plan's settings;
 * its key (the identity of the request, for the cache and the lock) and
 * the body sent on the wire. */
#ifndef PM_REQUEST_H
#define PM_REQUEST_H

#include <stddef.h>

#include "diag.h"

struct plan;
struct task;

#define REQUEST_FORMAT		1	/* part of every key */
#define DEFAULT_MAX_TOKENS	16000
#define DEFAULT_MAX_INPUT	(4L * 1024 * 1024)

enum wire {
	WIRE_ANTHROPIC,		/* POST {base}/v1/messages */
	WIRE_OPENAI		/* POST {base}/chat/completions */
};

/* Everything that shapes one task's request. */
struct spec {
	char		 *tier;		/* owned: "cheap", "strong", ... */
	char		 *provider;	/* owned: "anthropic", "openai", ... */
	char		 *model;	/* owned */
	char		 *base;		/* owned: base URL, no trailing / */
	const char	 *keyvar;	/* static: the API key's variable */
	int		  wire;		/* enum wire */
	long		  max_tokens;
	double		  temperature;
	int		  has_temperature;
	long		  max_input;	/* bytes allowed per input file */
	char		 *system;	/* owned: the whole system text */
	const char	 *prompt;	/* borrowed from the rule */
	char		  key[65];	/* filled by request_key() */
};

/* Resolve the settings of task t into s (zeroed by the caller).  An
 * unknown tier or provider or a bad number is an error naming where it
 * was set: -1 and *errp. */
int	request_spec(struct spec *s, struct plan *p, const struct task *t,
	    char **errp);
void	spec_clear(struct spec *s);

/* From now on resolve the settings of p once for all the tasks whose
 * targets have no setting of their own (they resolve alike), until
 * request_memo(NULL) or a call for another plan.  For a run over many
 * tasks; p must not change meanwhile. */
void	request_memo(struct plan *p);

/* Compute s->key from s and the content hashes of t's inputs (each
 * input node must be hashed).  The inputs enter by path and content
 * hash, so a key never needs the files reread. */
void	request_key(struct spec *s, const struct task *t);

/* The JSON body for s's wire, reading t's input files.  An input that
 * is not UTF-8 or is over s->max_input bytes is an error.  The caller
 * frees the result. */
char	*request_body(const struct spec *s, const struct task *t,
	    char **errp);

/* The text of the user turn: each input labelled with its path, then
 * the prompt, then the list of files to write.  Exposed for tests and
 * -t prompt, which sets preview: an input not built yet is shown as a
 * placeholder instead of failing.  The caller frees the result. */
char	*request_user_text(const struct spec *s, const struct task *t,
	    int preview, char **errp);

#endif
