#include "keyhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dag.h"
#include "keymemo.h"
#include "request.h"
#include "util.h"

/* The text is gathered whole (some 1,100 bytes a task), so that its
 * fingerprint can be looked up in the memo before SHA-256 is asked. */
struct sink {
	struct buf	*text;
};

static struct keymemo	*memo;

void
keyhash_use_memo(struct keymemo *km)
{
	memo = km;
}

static void
put(struct sink *k, const void *p, size_t n)
{
	buf_add(k->text, p, n);
}

static void
puts_(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

/* Put a string literal, its length known. */
#define PUT_LIT(k, lit)	put((k), (lit), sizeof(lit) - 1)

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
	const unsigned char *p = (const unsigned char *)s;

	/* Most strings (paths, names) are printable ASCII without a quote
	 * or backslash: valid UTF-8 that JSON takes as it is. */
	while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
		p++;
	if (*p == '\0') {
		put(k, "\"", 1);
		put(k, s, (size_t)((const char *)p - s));
		put(k, "\"", 1);
		return;
	}
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
	static char fmt[48], mtext[64];
	static size_t fmtlen, mtlen;
	static long mt;
	static struct buf text;
	unsigned char md[32], fp[16];
	struct sha256 h;
	struct sink k;
	size_t i, first;

	text.len = 0;
	k.text = &text;

	/* The members in sorted order, as request.h documents them. */
	PUT_LIT(&k, "{\"base\":");
	put_string(&k, s->base, "base URL");
	/* Only a plan with context has the member, so other keys keep
	 * their value. */
	if (s->nctx > 0) {
		PUT_LIT(&k, ",\"context\":[");
		for (i = 0; i < s->nctx; i++) {
			puts_(&k, i > 0 ? ",[" : "[");
			put_string(&k, s->ctxfiles[i], "context path");
			put(&k, ",\"", 2);
			put(&k, s->ctxhash[i], 64);
			put(&k, "\"]", 2);
		}
		put(&k, "]", 1);
	}
	if (fmtlen == 0)
		fmtlen = (size_t)snprintf(fmt, sizeof(fmt),
		    ",\"format\":%d,\"inputs\":[", REQUEST_FORMAT);
	put(&k, fmt, fmtlen);
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
	PUT_LIT(&k, "],\"model\":");
	put_string(&k, s->model, "model");
	/* Most tasks share max_tokens: its text is kept. */
	if (mtlen == 0 || s->max_tokens != mt) {
		mt = s->max_tokens;
		mtlen = (size_t)snprintf(mtext, sizeof(mtext),
		    ",\"params\":{\"max_tokens\":%ld", mt);
	}
	put(&k, mtext, mtlen);
	if (s->has_temperature) {
		PUT_LIT(&k, ",\"temperature\":");
		put_real(&k, s->temperature);
	}
	PUT_LIT(&k, "},\"prompt\":");
	put_string(&k, s->prompt, NULL);
	PUT_LIT(&k, ",\"provider\":");
	put_string(&k, s->provider, "provider");
	PUT_LIT(&k, ",\"system\":");
	put_system(&k, s->system);
	PUT_LIT(&k, ",\"targets\":[");
	for (i = 0; i < t->nouts; i++) {
		if (i > 0)
			put(&k, ",", 1);
		put_string(&k, t->outs[i]->path, "target path");
	}
	PUT_LIT(&k, "]}");

	if (memo != NULL) {
		keymemo_fingerprint(text.data, text.len, fp);
		if (keymemo_find(memo, fp, md)) {
			hex_digest(md, out);
			return;
		}
	}
	sha256_init(&h);
	sha256_update(&h, text.data, text.len);
	sha256_final(&h, md);
	if (memo != NULL)
		keymemo_add(memo, fp, md);
	hex_digest(md, out);
}
