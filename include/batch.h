/* batch: requests sent through Anthropic's Message Batches API (half
 * price, answered within 24 hours), polled until they end.  A batch is
 * recorded in its own file under .planmake/batches/ (its id, base URL
 * and the key of each request) as soon as it is created, so a run that
 * is killed while it is in progress polls the same batch again instead
 * of paying for a new one.  The answers go back to the scheduler, which
 * handles them as any other answer. */
#ifndef PM_BATCH_H
#define PM_BATCH_H

#include <stddef.h>

struct http;
struct http_result;
struct task;

/* Most requests in one batch; more go into another. */
#define BATCH_MAX	10000
/* Seconds between polls unless the plan's batch_poll says otherwise. */
#define BATCH_POLL	30.0

/* The answer to t's request (t is NULL for a request of a recorded batch
 * that no task claimed: its answer is only to be cached under key):
 * message is the JSON of a Messages API
 * answer (len bytes), or NULL with err saying why there is none; retry
 * is set when the request may succeed if asked again (a server error,
 * an expired or canceled request: such a request is not billed). */
typedef void	(*batch_result_fn)(void *arg, struct task *t,
		    const char *key, const char *message, size_t len,
		    const char *err, int retry);

struct batches;

/* The batches recorded in dir (".planmake/batches"), polled every poll
 * seconds on h, answers handed to fn(arg, ...).  A record that cannot be
 * read is skipped with a warning in *warnp (the caller frees it), else
 * *warnp is left NULL. */
struct batches	*batches_new(const char *dir, double poll, struct http *h,
		    batch_result_fn fn, void *arg, char **warnp);
void		 batches_free(struct batches *bs);

/* Whether a recorded batch holds a request of key. */
int		 batch_holds(const struct batches *bs, const char *key);
/* Let t wait on the recorded request of key (batch_holds() must be
 * true).  When its answer is in already, fn is called at once. */
void		 batch_claim(struct batches *bs, const char *key,
		    struct task *t);
/* Queue the request of t (its key, its Messages body) for the next batch
 * sent to base with the API key in the environment variable keyvar.
 * Takes a copy of body. */
void		 batch_add(struct batches *bs, const char *base,
		    const char *keyvar, const char *key, const char *body,
		    struct task *t);
/* Create the batches queued since the last call. */
void		 batch_flush(struct batches *bs);
/* Start the polls that are due.  Returns the milliseconds until the
 * next one, or -1 when no batch waits. */
int		 batch_tick(struct batches *bs);
/* Whether udata, of an http_result, belongs to the batch module. */
int		 batch_owns(const struct batches *bs, const void *udata);
/* One of the batch module's requests has ended. */
void		 batch_done(struct batches *bs, const struct http_result *res);
/* The batch module's requests in flight. */
int		 batch_inflight(const struct batches *bs);
/* The tasks waiting for a batch that is still polled (not for one
 * whose polls failed too often: a rerun collects that one). */
size_t		 batch_waiting(const struct batches *bs);
/* The ids of the batches tasks wait on, separated by spaces, or NULL.
 * The caller frees the result. */
char		*batch_pending_ids(const struct batches *bs);

#endif
