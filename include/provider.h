/* provider: what a model's HTTP answer means: the text, the usage, or
 * the provider's own error. */
#ifndef PM_PROVIDER_H
#define PM_PROVIDER_H

#include <stddef.h>

#include "cache.h"

struct spec;

struct reply {
	char		*text;		/* owned: the text blocks, joined */
	size_t		 len;
	char		*stop;		/* owned: stop_reason/finish_reason */
	char		*model;		/* owned: the model that answered */
	struct usage	 usage;
};

/* How a failed request should be handled. */
enum fail_kind {
	FAIL_FATAL,		/* never retry: 4xx, spend cap, bad answer */
	FAIL_RETRY		/* retry with backoff: 429, 5xx, 529, network */
};

/* Parse an HTTP answer for s's wire.  status is the HTTP status (0 when
 * no answer came, with neterr saying why); reqid is the request-id
 * header or NULL.  Returns 0 and fills r, or -1 with *errp (the
 * provider's error type, message and request id) and *kind. */
int	provider_parse(const struct spec *s, long status, const char *body,
	    size_t len, const char *neterr, const char *reqid,
	    struct reply *r, char **errp, int *kind);
void	reply_clear(struct reply *r);

/* Price of usage on model in USD, or -1 when the model has no price. */
double	provider_cost(const char *model, const struct usage *u);

#endif
