#include "keyhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "dag.h"
#include "request.h"
#include "util.h"

/* Bytes are gathered here and handed to SHA-256 in large pieces. */
struct sink {
	EVP_MD_CTX	*md;
	unsigned char	 buf[4096];
	size_t		 len;
};

static void
sink_flush(struct sink *k)
{
	if (k->len > 0 && EVP_DigestUpdate(k->md, k->buf, k->len) != 1)
		fatal("SHA-256 failed");
	k->len = 0;
}

static void
put(struct sink *k, const void *p, size_t n)
{
	if (k->len + n > sizeof(k->buf)) {
		sink_flush(k);
		if (n > sizeof(k->buf)) {
			if (EVP_DigestUpdate(k->md, p, n) != 1)
				fatal("SHA-256 failed");
			return;
		}
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

static void
puts_(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

/* Append s to b as a JSON string as jansson dumps it: ", \ and the
 * control characters escaped (\b \f \n \r \t, else \u00XX in upper
 * case), the rest as is. */
static void
escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run;
	char esc[7];

	buf_addc(b, '"');
	for (run = s; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_add(b, esc, 6);
		}
	}
	buf_add(b, run, (size_t)(s - run));
	buf_addc(b, '"');
}

/* Put s as a JSON string.  what names it in the error when it is not
 * UTF-8; NULL when the caller has checked it. */
static void
put_string(struct sink *k, const char *s, const char *what)
{
	static struct buf b;

	if (what != NULL && !utf8_valid(s, strlen(s), NULL))
		fatal("cannot form the key of a request: its %s is not UTF-8",
		    what);
	b.len = 0;
	escape(&b, s);
	put(k, b.data, b.len);
}

/* The system text, which most tasks share: its escaped form is kept
 * from one key to the next. */
static void
put_system(struct sink *k, const char *sys)
{
	static struct buf last, esc;

	if (last.data == NULL || strcmp(last.data, sys) != 0) {
		last.len = 0;
		buf_addstr(&last, sys);
		esc.len = 0;
		escape(&esc, sys);
	}
	put(k, esc.data, esc.len);
}

/* A real as jansson dumps it (its own rules on digits and ".0"), by
 * asking jansson, once per distinct value. */
static void
put_real(struct sink *k, double v)
{
	static double last;
	static char *text;
	json_t *j;

	if (text == NULL || v != last) {
		free(text);
		j = json_real(v);
		text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		json_decref(j);
		if (text == NULL)
			fatal("cannot form the key of a request: temperature "
			    "%g", v);
		last = v;
	}
	puts_(k, text);
}

void
keyhash_request(const struct spec *s, const struct task *t, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	static EVP_MD_CTX *ctx;
	static EVP_MD *sha;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct sink k;
	char num[32];
	size_t i, first;
	int n;

	/* Fetched once: a legacy EVP_sha256() is fetched at each init. */
	if (ctx == NULL && ((ctx = EVP_MD_CTX_new()) == NULL ||
	    (sha = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL))
		fatal("SHA-256 failed");
	k.md = ctx;
	if (EVP_DigestInit_ex(k.md, sha, NULL) != 1)
		fatal("SHA-256 failed");
	k.len = 0;

	/* The members in sorted order, as request.h documents them. */
	puts_(&k, "{\"base\":");
	put_string(&k, s->base, "base URL");
	/* Only a plan with context has the member, so other keys keep
	 * their value. */
	if (s->nctx > 0) {
		puts_(&k, ",\"context\":[");
		for (i = 0; i < s->nctx; i++) {
			puts_(&k, i > 0 ? ",[" : "[");
			put_string(&k, s->ctxfiles[i], "context path");
			put(&k, ",\"", 2);
			put(&k, s->ctxhash[i], 64);
			put(&k, "\"]", 2);
		}
		put(&k, "]", 1);
	}
	n = snprintf(num, sizeof(num), ",\"format\":%d,\"inputs\":[",
	    REQUEST_FORMAT);
	put(&k, num, (size_t)n);
	for (i = 0, first = 1; i < t->nins; i++) {
		if (t->ins[i]->phony)
			continue;
		puts_(&k, first ? "[" : ",[");
		put_string(&k, t->ins[i]->path, "input path");
		put(&k, ",\"", 2);
		put(&k, t->ins[i]->hash, 64);
		put(&k, "\"]", 2);
		first = 0;
	}
	puts_(&k, "],\"model\":");
	put_string(&k, s->model, "model");
	n = snprintf(num, sizeof(num), ",\"params\":{\"max_tokens\":%ld",
	    s->max_tokens);
	put(&k, num, (size_t)n);
	if (s->has_temperature) {
		puts_(&k, ",\"temperature\":");
		put_real(&k, s->temperature);
	}
	puts_(&k, "},\"prompt\":");
	put_string(&k, s->prompt, NULL);
	puts_(&k, ",\"provider\":");
	put_string(&k, s->provider, "provider");
	puts_(&k, ",\"system\":");
	put_system(&k, s->system);
	puts_(&k, ",\"targets\":[");
	for (i = 0; i < t->nouts; i++) {
		if (i > 0)
			put(&k, ",", 1);
		put_string(&k, t->outs[i]->path, "target path");
	}
	puts_(&k, "]}");

	sink_flush(&k);
	if (EVP_DigestFinal_ex(k.md, md, &mdlen) != 1 || mdlen != 32)
		fatal("SHA-256 failed");
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}
