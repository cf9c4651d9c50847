/* config: the user's configuration file, $XDG_CONFIG_HOME/planmake/
 * config.yaml: named endpoints, their limits, prices and flags per
 * model, default tiers and default settings.  Built-in defaults stand
 * where the file is silent; the plan and the command line override it. */
#ifndef PM_CONFIG_H
#define PM_CONFIG_H

#include <stddef.h>

/* How an endpoint is spoken to. */
enum wire {
	WIRE_ANTHROPIC,		/* POST {base}/v1/messages */
	WIRE_OPENAI,		/* POST {base}/chat/completions */
	WIRE_COMMAND		/* sh -c MODEL, text on stdin and stdout */
};

/* Prices in USD per million tokens, in this order. */
enum rate {
	RATE_IN,		/* uncached input */
	RATE_WRITE_5M,		/* cache write, 5 minute lifetime */
	RATE_WRITE_1H,		/* cache write, 1 hour lifetime */
	RATE_READ,		/* cache read */
	RATE_OUT,		/* output */
	NRATES
};

/* One named endpoint: the part before the colon of PROVIDER:MODEL. */
struct endpoint {
	char		 *name;		/* owned */
	int		  wire;		/* enum wire */
	char		 *base;		/* owned: base URL without a trailing
					 * '/', NULL for commands */
	char		 *keyvar;	/* owned: the key's environment
					 * variable, or NULL */
	char		 *tokens_field;	/* owned: the output-limit field of
					 * the OpenAI wire */
	int		  stream;	/* ask for server-sent events */
	int		  concurrency;	/* requests in flight, 0: -j only */
	double		  rpm;		/* requests started a minute, 0: any */
	int		  check_truncation; /* warn when the server reports
					 * far fewer prompt tokens than sent */
	char		**pass_env;	/* owned: credential variables a
					 * command keeps */
	size_t		  npass_env;
	int		  line;		/* where the config set it, or 0 */
};

/* Load the configuration at path (NULL: the default path).  A missing
 * file is the built-in configuration.  -1 and *errp
 * ("path:line:col: error: text") when the file is bad.  Replaces what
 * was loaded before. */
int		 config_load(const char *path, char **errp);
/* Forget the loaded configuration. */
void		 config_free(void);
/* $XDG_CONFIG_HOME/planmake/config.yaml, else
 * $HOME/.config/planmake/config.yaml, else NULL.  The caller frees it. */
char		*config_default_path(void);
/* The file loaded, or NULL when none was. */
const char	*config_path(void);

/* The endpoint called name, or NULL.  Borrowed; valid until the next
 * config_load() or config_free(). */
const struct endpoint	*config_endpoint(const char *name);
/* The names of the known endpoints, ", "-separated.  Caller frees. */
char		*config_endpoint_names(void);
/* The PROVIDER:MODEL the config gives tier, or NULL, with *line and
 * *col (either may be NULL) set to the value's place.  Borrowed. */
const char	*config_tier(const char *tier, int *line, int *col);
/* The value the config gives setting name ("retries", ...), or NULL,
 * with *line and *col (either may be NULL) set to the value's place.
 * Borrowed. */
const char	*config_setting(const char *name, int *line, int *col);

/* The five rates of model (enum rate order) into rates: 1 when known,
 * 0 when the model has no price. */
int		 config_price(const char *model, double rates[NRATES]);
/* Whether model accepts a final assistant turn to continue (prefill).
 * The config's word wins, else the built-in list. */
int		 config_prefill(int wire, const char *model);
/* Whether planmake reads the environment variable name for a key (the
 * built-in key variables and every endpoint's key_env). */
int		 config_is_credential(const char *name);

#endif
