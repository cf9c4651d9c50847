/* planmake: the command line. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "dag.h"
#include "diag.h"
#include "log.h"
#include "plan.h"
#include "request.h"
#include "sched.h"
#include "tools.h"
#include "util.h"

#define PLANMAKE_VERSION "0.1.0"

static void
usage(FILE *f)
{
	fputs("usage: planmake [-f PLANFILE] [-C DIR] [-j N] [-k] [-n] [-q] "
	    "[-s] [-B] [-v]\n"
	    "                [-d CATEGORIES] [--offline] [--refresh] "
	    "[--json] [--budget USD] [--batch] [--no-wait]\n"
	    "                [--force=TARGET] [NAME=value...] [TARGET...]\n"
	    "       planmake [options] -t TOOL [ARGS]   (check, list, graph, "
	    "prompt,\n"
	    "                explain, cache, clean)\n"
	    "       planmake -h | --help | --version\n",
	    f);
}

/* Find the plan file: -f, else Planfile, else plan.yaml. */
static const char *
find_plan(const char *given)
{
	struct stat st;

	if (given != NULL)
		return given;
	if (stat("Planfile", &st) == 0)
		return "Planfile";
	if (stat("plan.yaml", &st) == 0)
		return "plan.yaml";
	return NULL;
}

/* Print err, from resolving a task's settings, as a diagnostic: an error
 * placed in the plan at path ("path:LINE:COL: text") reads
 * "path:LINE:COL: error: text", as does one placed in the config file;
 * any other is "planmake: text". */
static void
report_setting_error(const char *path, const char *err)
{
	size_t k, n;
	int field;

	/* A setting from the config file is placed there. */
	if (config_path() != NULL && strncmp(err, config_path(),
	    strlen(config_path())) == 0)
		path = config_path();
	n = strlen(path);
	if (strncmp(err, path, n) == 0) {
		/* The line, then perhaps the column. */
		for (k = n, field = 0; field < 2 && err[k] == ':' &&
		    isdigit((unsigned char)err[k + 1]); field++)
			for (k++; isdigit((unsigned char)err[k]); k++)
				continue;
		if (field > 0 && err[k] == ':' && err[k + 1] == ' ') {
			fprintf(stderr, "%.*s%s: error: %s\n", (int)k, err,
			    field == 1 ? ":1" : "", err + k + 2);
			return;
		}
	}
	log_error("%s", err);
}

/* Resolve the settings of every task with a prompt (tier, model,
 * numbers), so that a bad one is a plan error found before anything
 * runs, -t check included.  Tasks without settings of their own all
 * resolve alike, so one of them stands for the rest.  Each distinct
 * error is reported once, up to DIAG_MAX_ERRORS.  Returns the number
 * reported. */
static int
check_settings(struct plan *p, struct dag *d, const char *path)
{
	struct spec sp;
	struct task *t;
	char *err, *last = NULL;
	size_t i;
	int n = 0, plain_done = 0;

	/* A setting for a target no rule makes is most likely a misspelt
	 * target: it would change nothing. */
	for (i = 0; i < p->ntsets; i++) {
		struct node *tn;

		if (strchr(p->tsets[i]->target, '%') != NULL ||
		    ((tn = dag_find(d, p->tsets[i]->target)) != NULL &&
		    tn->producer != NULL))
			continue;
		diag_warning(&p->tsets[i]->loc, "'%s' is set for '%s', which "
		    "no rule makes", p->tsets[i]->name, p->tsets[i]->target);
	}
	for (i = 0; i < d->ntasks && n < DIAG_MAX_ERRORS; i++) {
		t = d->tasks[i];
		if (t->rule->prompt == NULL)
			continue;
		if (plan_rule_settings_shared(p, t->rule)) {
			/* One stands for all; a prompt not UTF-8 speaks for
			 * itself. */
			if (plain_done && utf8_valid(t->rule->prompt,
			    strlen(t->rule->prompt), NULL))
				continue;
			plain_done = 1;
		}
		memset(&sp, 0, sizeof(sp));
		sp.checking = 1;
		err = NULL;
		if (request_spec(&sp, p, t, &err) == -1) {
			if (last == NULL || strcmp(err, last) != 0) {
				report_setting_error(path, err);
				n++;
			}
			free(last);
			last = err;
		}
		spec_clear(&sp);
	}
	free(last);
	return n;
}

/* -t list: each task, its targets, tier and model. */
static int
tool_list(struct plan *p, struct dag *d)
{
	struct spec sp;
	char *err = NULL;
	size_t i, k;

	for (i = 0; i < d->ntasks; i++) {
		struct task *t = d->tasks[i];

		if (t->rule->prompt == NULL)
			continue;
		memset(&sp, 0, sizeof(sp));
		if (request_spec(&sp, p, t, &err) == -1) {
			log_error("%s", err);
			free(err);
			return 2;
		}
		for (k = 0; k < t->nouts; k++)
			printf("%s%s", k ? " " : "", t->outs[k]->path);
		printf("\t%s\t%s:%s\n", sp.tier, sp.provider, sp.model);
		spec_clear(&sp);
	}
	return 0;
}

/* Print s quoted for Graphviz. */
static void
dot_quote(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* -t graph: files and tasks in Graphviz dot. */
static int
tool_graph(struct dag *d)
{
	size_t i, k;

	puts("digraph planmake {\n\trankdir=LR;\n\tnode [shape=box];");
	for (i = 0; i < d->ntasks; i++) {
		struct task *t = d->tasks[i];

		if (t->nins == 0 && t->nrdeps == 0 && t->nouts == 1) {
			/* No edge would show it. */
			putchar('\t');
			dot_quote(t->name);
			puts(";");
		}

		for (k = 0; k < t->nins; k++) {
			putchar('\t');
			dot_quote(t->ins[k]->path);
			fputs(" -> ", stdout);
			dot_quote(t->name);
			puts(";");
		}
		for (k = 1; k < t->nouts; k++) {
			putchar('\t');
			dot_quote(t->name);
			fputs(" -> ", stdout);
			dot_quote(t->outs[k]->path);
			puts(" [style=dashed];");
		}
	}
	puts("}");
	return 0;
}

/* -t prompt TARGET: the system text and the user turn that would be
 * sent for the task writing TARGET. */
static int
tool_prompt(struct plan *p, struct dag *d, int argc, char **argv)
{
	struct node *n;
	struct spec sp;
	char *err = NULL, *user;
	size_t i;

	if (argc != 1) {
		log_error("-t prompt takes one target");
		return 2;
	}
	if ((n = dag_find(d, argv[0])) == NULL || n->producer == NULL ||
	    n->producer->rule->prompt == NULL) {
		log_error("no task with a prompt makes '%s'", argv[0]);
		return 2;
	}
	memset(&sp, 0, sizeof(sp));
	if (request_spec(&sp, p, n->producer, &err) == -1 ||
	    (user = request_user_text(&sp, n->producer, 1, &err)) == NULL) {
		log_error("%s", err);
		free(err);
		spec_clear(&sp);
		return 1;
	}
	for (i = 0; i < n->producer->nins; i++) {
		struct node *in = n->producer->ins[i];

		if (!in->phony && in->producer && access(in->path, R_OK) != 0)
			log_warning("'%s' is not built yet; the prompt would "
			    "hold its content", in->path);
	}
	printf("model: %s:%s (tier %s), max_tokens %ld\n", sp.provider,
	    sp.model, sp.tier, sp.max_tokens);
	printf("--- system ---\n%s\n", sp.system);
	if (sp.context != NULL)
		printf("--- context%s ---\n%s", sp.cache_mark ?
		    " (marked for prompt caching)" : "", sp.context);
	printf("--- user ---\n%s", user);
	free(user);
	spec_clear(&sp);
	return 0;
}

/* -t explain TARGET...: why the tasks making them are stale. */
static int
tool_explain(struct plan *p, struct dag *d, struct sched_opts *o, int argc,
    char **argv)
{
	char *err = NULL;
	int rc;

	if (argc == 0) {
		log_error("-t explain takes one or more targets");
		return 2;
	}
	if (dag_select(d, p, argv, (size_t)argc, &err) == -1) {
		log_error("%s", err);
		free(err);
		return 2;
	}
	o->dry_run = 1;
	o->explain = 1;
	rc = sched_run(p, d, o);
	return rc == 1 ? 0 : rc;
}

/* Run -t TOOL. */
static int
run_tool(const char *tool, struct plan *p, struct dag *d, int argc,
    char **argv, struct sched_opts *o)
{
	struct tool_opts to = { o->statedir, o->lockfile, o->nforce == 0 &&
	    o->force != NULL, o->nowait };

	if (strcmp(tool, "explain") == 0)
		return tool_explain(p, d, o, argc, argv);
	if (strcmp(tool, "cache") == 0)
		return tool_cache(p, d, &to, argc, argv);
	if (strcmp(tool, "clean") == 0)
		return tool_clean(d, &to, argc, argv);
	if (strcmp(tool, "check") == 0)
		return 0;	/* check_settings() has run */
	if (strcmp(tool, "list") == 0)
		return tool_list(p, d);
	if (strcmp(tool, "graph") == 0)
		return tool_graph(d);
	if (strcmp(tool, "prompt") == 0)
		return tool_prompt(p, d, argc, argv);
	log_error("unknown tool '%s' (known: check, list, graph, prompt, "
	    "explain, cache, clean)", tool);
	return 2;
}

/* Each request in flight holds a socket and perhaps a cache file: keep
 * -j within the open-file limit (raised to its hard maximum) so a big -j
 * never pays for answers it then cannot write. */
static int
fit_jobs(int jobs)
{
	struct rlimit rl;
	long fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return jobs;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return jobs;
	fit = ((long)rl.rlim_cur - 32) / 3;
	if (fit < 1)
		fit = 1;
	if (jobs > fit) {
		log_warning("-j %d is more than the open-file limit allows "
		    "(%ld); using -j %ld", jobs, (long)rl.rlim_cur, fit);
		return (int)fit;
	}
	return jobs;
}

int
main(int argc, char **argv)
{
	enum { OPT_OFFLINE = 256, OPT_REFRESH, OPT_VERSION, OPT_HELP,
	    OPT_JSON, OPT_BUDGET, OPT_BATCH, OPT_NOWAIT, OPT_FORCE };
	static const struct option longopts[] = {
		{ "batch", no_argument, NULL, OPT_BATCH },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "no-wait", no_argument, NULL, OPT_NOWAIT },
		{ "force", optional_argument, NULL, OPT_FORCE },
		{ "refresh", no_argument, NULL, OPT_REFRESH },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct sched_opts o = { .jobs = 4, .budget = -1 };
	const char *planfile = NULL, *dir = NULL, *tool = NULL, *path;
	const char *optstr = "f:C:j:knqsBvd:t:h";
	char **goals, *err = NULL, *end, *pdir, **force;
	static char *force_all[] = { NULL };
	struct plan *p;
	struct dag *d;
	size_t ngoals = 0;
	int c, rc, i;
	long n;

	/* OpenSSL's clean-up at exit only frees what the exit frees. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	/* Large blocks from the heap, and freed ones kept there: the
	 * plan's text, read and dropped, is then reused by the graph
	 * instead of each block being mapped and faulted in afresh (a
	 * seventh of a 10,000-task no-op's page faults). */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
	p = plan_new();
	force = xcalloc((size_t)argc + 1, sizeof(*force));
	goals = NULL;
	d = NULL;
	/* Options may follow targets, as in GNU make; but everything after
	 * -t TOOL is the tool's, as in ninja. */
	for (i = 1; i < argc; i++)
		if (strncmp(argv[i], "-t", 2) == 0)
			optstr = "+f:C:j:knqsBvd:t:h";
	while (tool == NULL && (c = getopt_long(argc, argv, optstr, longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'f': planfile = optarg; break;
		case 'C': dir = optarg; break;
		case 'j':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 10000) {
				log_error("-j wants a number from 1 to 10000, "
				    "not '%s'", optarg);
				rc = 2;
				goto out;
			}
			o.jobs = (int)n;
			break;
		case 'k': o.keep_going = 1; break;
		case 'n': o.dry_run = 1; break;
		case 'q':	/* as make -q: an answer in the status only */
			o.question = 1;
			log_level = LOG_QUIET;
			diag_quiet(1);
			break;
		case 's': log_level = LOG_QUIET; diag_quiet(1); break;
		case 'B': o.always = 1; break;
		case 'v': log_level = LOG_VERBOSE; break;
		case 'd':
			if ((rc = log_parse_debug(optarg, &err)) == -1) {
				log_error("%s", err);
				free(err);
				rc = 2;
				goto out;
			}
			log_debug_mask |= rc;
			break;
		case 't': tool = optarg; break;
		case OPT_OFFLINE: o.offline = 1; break;
		case OPT_REFRESH: o.refresh = 1; break;
		case OPT_JSON: o.json = 1; break;
		case OPT_BATCH: o.batch = 1; break;
		case OPT_BUDGET:
			errno = 0;
			path = optarg + (*optarg == '$');
			o.budget = strtod(path, &end);
			if (*path == '\0' || *end != '\0' || errno != 0 ||
			    !(o.budget >= 0) || o.budget > 1e9) {
				log_error("--budget wants an amount in USD, "
				    "such as 2.50, not '%s'", optarg);
				rc = 2;
				goto out;
			}
			break;
		case OPT_NOWAIT: o.nowait = 1; break;
		case OPT_FORCE:
			/* --force alone: for -t clean, edited files too. */
			if (optarg == NULL || *optarg == '\0') {
				if (o.force == NULL)
					o.force = force_all;
				break;
			}
			force[o.nforce++] = dag_normpath(optarg);
			o.force = force;
			break;
		case OPT_VERSION:
			puts("planmake " PLANMAKE_VERSION);
			rc = 0;
			goto out;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (o.refresh && o.offline) {
		log_error("--refresh asks the model again and --offline asks "
		    "nothing: give one of them");
		rc = 2;
		goto out;
	}
	if (dir != NULL && chdir(dir) == -1) {
		log_error("cannot enter %s: %s", dir, strerror(errno));
		rc = 2;
		goto out;
	}

	/* The rest: assignments anywhere, targets otherwise (or a tool's
	 * arguments). */
	goals = xcalloc((size_t)argc + 1, sizeof(*goals));
	for (i = optind; i < argc; i++)
		if (plan_cmdline_var(p, argv[i]) == -1)
			goals[ngoals++] = argv[i];

	if (config_load(NULL, &err) == -1) {
		/* "file:line:col: error: ..." stands alone, as for plans */
		if (strstr(err, ": error: ") != NULL)
			fprintf(stderr, "%s\n", err);
		else
			log_error("%s", err);
		free(err);
		rc = 2;
		goto out;
	}
	if ((path = find_plan(planfile)) == NULL) {
		log_error("no Planfile or plan.yaml here (use -f FILE)");
		rc = 2;
		goto out;
	}
	if (plan_load(p, path) == -1) {
		if (diag_nerrors() > 0)
			fprintf(stderr, "%d error%s\n", diag_nerrors(),
			    diag_nerrors() == 1 ? "" : "s");
		rc = 2;
		goto out;
	}
	/* Paths in a plan are relative to its directory, where its lock and
	 * state live too: -f dir/Planfile works as -C dir -f Planfile, but
	 * diagnostics keep the name the user gave. */
	pdir = path_dirname(path);
	if (strcmp(pdir, ".") != 0 && chdir(pdir) == -1) {
		log_error("cannot enter %s: %s", pdir, strerror(errno));
		free(pdir);
		rc = 2;
		goto out;
	}
	free(pdir);
	if ((d = dag_build_goals(p, goals, ngoals)) == NULL) {
		if (diag_nerrors() > 0)
			fprintf(stderr, "%d error%s\n", diag_nerrors(),
			    diag_nerrors() == 1 ? "" : "s");
		rc = 2;
		goto out;
	}
	if ((n = check_settings(p, d, path)) > 0) {
		fprintf(stderr, "%ld error%s\n", n, n == 1 ? "" : "s");
		rc = 2;
		goto out;
	}
	o.lockfile = "planmake.lock";
	o.statedir = ".planmake";
	if (tool != NULL) {
		rc = run_tool(tool, p, d, (int)ngoals, goals, &o);
		goto out;
	}
	if (dag_select(d, p, goals, ngoals, &err) == -1) {
		log_error("%s", err);
		free(err);
		rc = 2;
		goto out;
	}
	for (i = 0; i < (int)o.nforce; i++) {
		struct node *fn = dag_find(d, force[i]);

		if (fn == NULL || fn->producer == NULL ||
		    fn->producer->rule->prompt == NULL) {
			log_error("--force=%s: no task with a prompt makes it",
			    force[i]);
			rc = 2;
			goto out;
		}
	}
	o.jobs = fit_jobs(o.jobs);
	rc = sched_run(p, d, &o);
out:
	for (i = 0; i < (int)o.nforce; i++)
		free(force[i]);
	free(force);
#ifdef PM_FREE_AT_EXIT
	/* Freeing a large graph one node at a time costs more than the
	 * exit; the sanitizer build frees it, to check for leaks. */
	dag_free(d);
	plan_free(p);
#endif
	free(goals);
	config_free();
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_error("cannot write standard output: %s", strerror(errno));
		if (rc == 0)
			rc = 1;
	}
	return rc;
}
