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
#define DEFAULT_MAX_ANSWER	(64.0 * 1024 * 1024) /* bytes of a command */
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
	double		  max_answer;	/* bytes a cmd: command may print */
	int		  continuations; /* rounds after a cut answer */
	char		 *system;	/* owned: the whole system text */
	const char	 *prompt;	/* borrowed from the rule */
	char		  key[65];	/* filled by request_key() */
	/* The plan's "context" files, sent after the system text and
	 * before the inputs, as the prefix that tasks share. */
	char		 *context;	/* owned: labelled like inputs, or NULL */
	char		**ctxfiles;	/* owned: their paths */
	char		(*ctxhash)[65];	/* owned: their SHA-256s */
	size_t		  nctx;
	/* Prompt caching: the shared prefix is the model, the system text
	 * and the context.  cache_mark is set when the wire is Anthropic's
	 * and the prefix reaches the model's minimum cacheable length. */
	char		  prefix[65];	/* SHA-256 of the prefix */
	size_t		  prefix_bytes;	/* bytes of system text and context */
	long		  cache_min;	/* tokens a cached prefix needs */
	int		  cache_mark;	/* send cache_control on the prefix */
	int		  cache_1h;	/* ... with "ttl":"1h" (--batch: a
					 * batch may take over 5 minutes) */
	/* Set by the caller before request_spec() to check settings only:
	 * context files are then looked for, not read, and one that a
	 * prerequisite task will make need not exist yet. */
	int		  checking;
	/* The owned strings and arrays above are borrowed from the memo of
	 * request_memo() instead: spec_clear() does not free them, and they
	 * live until request_memo(NULL). */
	int		  shared;
};

/* Tokens are estimated as bytes / REQUEST_BYTES_PER_TOKEN to decide
 * whether a prefix is long enough to cache. */
#define REQUEST_BYTES_PER_TOKEN	4

/* Resolve the settings of task t into s (zeroed by the caller), reading
 * its context files.  An unknown tier or provider, a bad number or an
 * unreadable context file is an error naming where it was set: -1 and
 * *errp. */
int	request_spec(struct spec *s, struct plan *p, const struct task *t,
	    char **errp);
void	spec_clear(struct spec *s);

/* The model that tier names for the plan as a whole (a global or
 * command-line tier.NAME, else the config's tiers:, else the default), or
 * NULL when it names none.
 * The caller frees the result. */
char	*request_tier_model(struct plan *p, const char *tier);

/* The minimum cacheable prefix of model in tokens: the plan's
 * cache_min_tokens when set (override >= 0), else the model's entry in a
 * table of the providers' published minimums. */
long	request_cache_min(const char *model, long override);

/* From now on resolve the settings of p once for all the tasks whose
 * targets have no setting of their own (they resolve alike), until
 * request_memo(NULL) or a call for another plan.  For a run over many
 * tasks; p must not change meanwhile. */
void	request_memo(struct plan *p);

/* Compute s->key from s and the content hashes of t's inputs (each
 * input node must be hashed).  The inputs and the context files enter by
 * path and content hash, so a key never needs the files reread.  The
 * cache_control marker is a transport detail and stays out. */
void	request_key(struct spec *s, const struct task *t);

/* The JSON body for s's wire, reading t's input files.  An input that
 * is not UTF-8 or is over s->max_input bytes is an error.  On Anthropic's
 * wire the system text and the context are text blocks of "system", the
 * last one marked {"type":"ephemeral"} when s->cache_mark is set.  The
 * caller frees the result. */
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

/* The text of the user turn: each input labelled with its path (but a
 * context file, already sent), then the prompt, then the list of files
 * to write.  Exposed for tests and
 * -t prompt, which sets preview: an input not built yet is shown as a
 * placeholder instead of failing.  The caller frees the result. */
char	*request_user_text(const struct spec *s, const struct task *t,
	    int preview, char **errp);

#endif
