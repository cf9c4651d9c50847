/* request: what a task asks a model, resolved from the plan's settings;
 * its key (the identity of the request, for the cache and the lock) and
 * the body sent on the wire. */
#ifndef PM_REQUEST_H
#define PM_REQUEST_H

#include <stddef.h>

#include "config.h"
#include "diag.h"

struct endpoint;
struct plan;
struct task;

#define REQUEST_FORMAT		1	/* part of every key */
#define DEFAULT_MAX_TOKENS	16000
#define DEFAULT_MAX_INPUT	(4L * 1024 * 1024)
#define DEFAULT_RETRIES		4	/* tries after the first */
#define DEFAULT_RETRY_MAX_WAIT	60	/* seconds */
#define DEFAULT_CONNECT_TIMEOUT	10	/* seconds */
#define DEFAULT_STALL_TIMEOUT	120	/* seconds without a byte */
#define DEFAULT_CONTINUATIONS	3	/* rounds after a cut answer */

/* Everything that shapes one task's request. */
struct spec {
	char		 *tier;		/* owned: "cheap", "strong", ... */
	char		 *provider;	/* owned: "anthropic", "openai", ... */
	char		 *model;	/* owned */
	char		 *base;		/* owned: base URL, no trailing /;
					 * "" for a command */
	const char	 *keyvar;	/* borrowed from ep: the API key's
					 * variable, or NULL */
	const struct endpoint *ep;	/* borrowed from the config */
	int		  wire;		/* enum wire */
	long		  max_tokens;
	double		  temperature;
	int		  has_temperature;
	long		  max_input;	/* bytes allowed per input file */
	int		  prefill;	/* the model continues a final
					 * assistant turn */
	/* How to ask; none of these enters the key. */
	int		  retries;	/* tries after the first */
	double		  retry_max_wait; /* longest wait before a retry, s */
	long		  connect_timeout; /* s */
	long		  stall_timeout; /* s without a byte from the server */
	int		  continuations; /* rounds after a cut answer */
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

/* Compute s->key from s and the content hashes of t's inputs (each
 * input node must be hashed).  The inputs enter by path and content
 * hash, so a key never needs the files reread. */
void	request_key(struct spec *s, const struct task *t);

/* The JSON body for s's wire, reading t's input files.  An input that
 * is not UTF-8 or is over s->max_input bytes is an error.  The caller
 * frees the result. */
char	*request_body(const struct spec *s, const struct task *t,
	    char **errp);

/* What is sent for the user text user (see request_user_text()): the
 * JSON body of an HTTP wire, or for a command the system text and the
 * user text.  When partial is not NULL the request continues an answer
 * cut short: partial (its trailing white space dropped) goes back as an
 * assistant turn, followed, unless s->prefill, by a user turn asking to
 * go on.  The caller frees the result. */
char	*request_wire_body(const struct spec *s, const char *user,
	    const char *partial);

/* The user turn that asks a model to go on with a cut answer. */
extern const char request_continue_text[];

/* The text of the user turn: each input labelled with its path, then
 * the prompt, then the list of files to write.  Exposed for tests and
 * -t prompt, which sets preview: an input not built yet is shown as a
 * placeholder instead of failing.  The caller frees the result. */
char	*request_user_text(const struct spec *s, const struct task *t,
	    int preview, char **errp);

#endif
