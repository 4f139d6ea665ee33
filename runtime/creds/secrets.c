/* runtime/creds/secrets.c - secret names, valueFrom references and the
 * payload berthd hands berth-shim (secrets.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"
#include "runtime/task/task.h"

#define PAYLOAD_MAGIC "berth-secrets 1\n"

/* ----------------------------------------------------------------- names */

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				 "/_+=.@-";
static const char ssm_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				"/_.-";

bool secret_name_valid(const char *name, const char **why)
{
	size_t n = strlen(name);
	const char *dummy;

	if (!why)
		why = &dummy;
	if (n == 0) {
		*why = "empty";
		return false;
	}
	if (n > SECRET_NAME_MAX) {
		*why = "longer than 512 bytes";
		return false;
	}
	if (strspn(name, name_chars) != n) {
		*why = "only letters, digits and /_+=.@- are allowed";
		return false;
	}
	return true;
}

/* Parameter Store's rule on top of the secret name rule: its characters,
 * and a name with a '/' is a path: "/a/b", no empty component. */
static bool ssm_name_valid(const char *name, const char **why)
{
	size_t n = strlen(name);

	if (!secret_name_valid(name, why))
		return false;
	if (strspn(name, ssm_chars) != n) {
		*why = "a Parameter Store name has only letters, digits and /_.-";
		return false;
	}
	if (strchr(name, '/') && (name[0] != '/' || name[n - 1] == '/' || strstr(name, "//"))) {
		*why = "a Parameter Store path starts with '/' and has no empty component (/a/b)";
		return false;
	}
	return true;
}

bool secret_env_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '=')
			return false;
	return true;
}

/* ------------------------------------------------------------ references */

void secret_ref_free(struct secret_ref *r)
{
	free(r->name);
	free(r->region);
	free(r->account);
	free(r->json_key);
	memset(r, 0, sizeof(*r));
}

const char *secret_ref_action(const struct secret_ref *r)
{
	return r->kind == SECRET_REF_ASM ? SECRET_ACTION_ASM : SECRET_ACTION_SSM;
}

static bool account_valid(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

static bool region_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Split s at ':' into at most max fields (xmalloc'd copies); *n = how many
 * there were (may exceed max: the rest are not kept). */
static size_t split_colon(const char *s, char **f, size_t max)
{
	size_t n = 0;

	for (const char *p = s;; n++) {
		const char *c = strchr(p, ':');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (n < max)
			f[n] = xstrndup(p, len);
		if (!c)
			return n + 1;
		p = c + 1;
	}
}

#define ARN_FORMS "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:JSON_KEY:VERSION_STAGE:" \
	"VERSION_ID], arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, or a Parameter Store name"

int secret_ref_parse(const char *value_from, struct secret_ref *out, struct berr **err)
{
	struct secret_ref r = { 0 };
	char *f[10] = { 0 };
	const char *why = NULL;
	size_t n, len = strlen(value_from);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return berr_set(err, 0, "empty (expected " ARN_FORMS ")");
	if (len > SECRET_REF_MAX)
		return berr_set(err, 0, "longer than %d bytes", SECRET_REF_MAX);
	if (strncmp(value_from, "arn:", 4) != 0) {
		if (!ssm_name_valid(value_from, &why))
			return berr_set(err, 0, "\"%s\" is not a Parameter Store name (%s); expected "
					ARN_FORMS, berr_q(value_from), why);
		out->kind = SECRET_REF_SSM;
		out->name = xstrdup(value_from);
		return 0;
	}
	n = split_colon(value_from, f, 10);
	if (n < 6 || !f[1][0] || (strcmp(f[2], "ssm") && strcmp(f[2], "secretsmanager"))) {
		rc = berr_set(err, 0, "\"%s\" is not a Secrets Manager or SSM Parameter Store ARN "
			      "(expected " ARN_FORMS ")", berr_q(value_from));
		goto out;
	}
	if (!region_valid(f[3]) || !account_valid(f[4])) {
		rc = berr_set(err, 0, "the ARN needs a region and a 12-digit account "
			      "(arn:aws:%s:REGION:ACCOUNT:...)", f[2]);
		goto out;
	}
	r.region = xstrdup(f[3]);
	r.account = xstrdup(f[4]);
	if (!strcmp(f[2], "ssm")) {
		const char *res = f[5];

		r.kind = SECRET_REF_SSM;
		if (n != 6 || strncmp(res, "parameter/", 10) || !res[10]) {
			rc = berr_set(err, 0, "\"%s\" is not a Parameter Store ARN "
				      "(arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)", berr_q(value_from));
			goto out;
		}
		res += 10;
		/* the ARN of "/a/b" is parameter/a/b, of "x" parameter/x */
		r.name = strchr(res, '/') ? xasprintf("/%s", res) : xstrdup(res);
		if (!ssm_name_valid(r.name, &why)) {
			rc = berr_set(err, 0, "parameter \"%s\" is not a valid name (%s)",
				      berr_q(r.name), why);
			goto out;
		}
	} else {
		r.kind = SECRET_REF_ASM;
		if (strcmp(f[5], "secret") || (n != 7 && n != 10)) {
			rc = berr_set(err, 0, "\"%s\" is not a Secrets Manager secret ARN (arn:aws:"
				      "secretsmanager:REGION:ACCOUNT:secret:NAME, optionally followed "
				      "by :JSON_KEY:VERSION_STAGE:VERSION_ID, each of them may be empty)",
				      berr_q(value_from));
			goto out;
		}
		if (!secret_name_valid(f[6], &why)) {
			rc = berr_set(err, 0, "secret name \"%s\" is not valid (%s)", berr_q(f[6]),
				      why);
			goto out;
		}
		r.name = xstrdup(f[6]);
		if (n == 10) {
			if (f[8][0] && strcmp(f[8], "AWSCURRENT")) {
				rc = berr_set(err, 0, "version stage \"%s\": version stages other than "
					      "AWSCURRENT are not supported yet (berth keeps only the "
					      "current value of a secret)", berr_q(f[8]));
				goto out;
			}
			if (f[9][0]) {
				rc = berr_set(err, 0, "version id \"%s\": pinning a version is not "
					      "supported yet (berth keeps only the current value of a "
					      "secret)", berr_q(f[9]));
				goto out;
			}
			if (f[7][0])
				r.json_key = xstrdup(f[7]);
		}
	}
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	secret_ref_free(&r);
	for (size_t i = 0; i < 10; i++)
		free(f[i]);
	return rc;
}

char *secret_arn(const char *region, const char *account, const char *name, const char *suffix)
{
	return xasprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, name, suffix);
}

char *secret_ssm_arn(const char *region, const char *account, const char *name)
{
	return xasprintf("arn:aws:ssm:%s:%s:parameter/%s", region, account,
			 name[0] == '/' ? name + 1 : name);
}

void secret_arn_suffix(char out[SECRET_ARN_SUFFIX_LEN + 1])
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char b[SECRET_ARN_SUFFIX_LEN];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			abort();   /* getrandom cannot fail otherwise on a kernel that has it */
		got += (size_t)r;
	}
	/* 62 letters: a little bias, harmless for a name suffix */
	for (size_t i = 0; i < SECRET_ARN_SUFFIX_LEN; i++)
		out[i] = alpha[b[i] % (sizeof(alpha) - 1)];
	out[SECRET_ARN_SUFFIX_LEN] = '\0';
}

/* ---------------------------------------------------------------- values */

int secret_value_check(const char *value, size_t len, struct berr **err)
{
	if (len > SECRET_VALUE_MAX)
		return berr_set(err, 0, "%zu bytes, at most %d are allowed", len, SECRET_VALUE_MAX);
	if (memchr(value, 0, len))
		return berr_set(err, 0, "contains a NUL byte, which an environment variable cannot "
				"hold");
	return 0;
}

int secret_json_key(const char *value, size_t len, const char *key, char **out, size_t *out_len,
		    struct berr **err)
{
	json_t *doc, *v;
	json_error_t jerr;
	char *s;

	*out = NULL;
	*out_len = 0;
	/* jansson's error text may quote the document: not used */
	doc = json_loadb(value, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	explicit_bzero(&jerr, sizeof(jerr));
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return berr_set(err, 0, "json key \"%s\": the secret's value is not a JSON object",
				berr_q(key));
	}
	v = json_object_get(doc, key);
	if (!v) {
		json_decref(doc);
		return berr_set(err, 0, "json key \"%s\" is not in the secret's value", berr_q(key));
	}
	if (json_is_string(v)) {
		*out_len = json_string_length(v);
		s = xmalloc(*out_len + 1);
		memcpy(s, json_string_value(v), *out_len);
		s[*out_len] = '\0';
	} else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!s)
			abort();
		*out_len = strlen(s);
	}
	json_decref(doc);
	if (memchr(s, 0, *out_len)) {
		explicit_bzero(s, *out_len);
		free(s);
		*out_len = 0;
		return berr_set(err, 0, "json key \"%s\": its value contains a NUL byte, which an "
				"environment variable cannot hold", berr_q(key));
	}
	*out = s;
	return 0;
}

/* --------------------------------------------------------------- payload */

static void put_bytes(struct secret_payload *p, const void *b, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		char *nb;

		while (cap < p->len + n)
			cap *= 2;
		/* grow by copying, so that no unwiped copy is left behind */
		nb = xmalloc(cap);
		if (p->len)
			memcpy(nb, p->buf, p->len);
		if (p->buf) {
			explicit_bzero(p->buf, p->cap);
			free(p->buf);
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, b, n);
	p->len += n;
}

static void put_u(struct secret_payload *p, uint32_t v, size_t width)
{
	unsigned char b[4];

	for (size_t i = 0; i < width; i++)
		b[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	put_bytes(p, b, width);
}

void secret_payload_add(struct secret_payload *p, const char *container, const char *env,
			const char *value, size_t value_len)
{
	if (p->len == 0)
		put_bytes(p, PAYLOAD_MAGIC, strlen(PAYLOAD_MAGIC));
	put_u(p, (uint32_t)strlen(container), 2);
	put_bytes(p, container, strlen(container));
	put_u(p, (uint32_t)strlen(env), 2);
	put_bytes(p, env, strlen(env));
	put_u(p, (uint32_t)value_len, 4);
	put_bytes(p, value, value_len);
}

void secret_payload_wipe(struct secret_payload *p)
{
	if (p->buf) {
		explicit_bzero(p->buf, p->cap);
		free(p->buf);
	}
	memset(p, 0, sizeof(*p));
}

int secret_payload_memfd(const struct secret_payload *p, struct berr **err)
{
	cleanup_close int fd = memfd_create("berth-secrets", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return berr_set(err, errno, "memfd_create");
	if (p->len && fs_write_all(fd, p->buf, p->len) < 0)
		return berr_set(err, errno, "write the secrets memfd");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return berr_set(err, errno, "seal the secrets memfd");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return berr_set(err, errno, "rewind the secrets memfd");
	return steal_fd(&fd);
}

static bool get_u(const char *buf, size_t len, size_t *off, size_t width, uint32_t *v)
{
	if (len - *off < width)
		return false;
	*v = 0;
	for (size_t i = 0; i < width; i++)
		*v = *v << 8 | (unsigned char)buf[*off + i];
	*off += width;
	return true;
}

static bool get_str(const char *buf, size_t len, size_t *off, size_t width, const char **s,
		    size_t *n)
{
	uint32_t v;

	if (!get_u(buf, len, off, width, &v) || len - *off < v)
		return false;
	*s = buf + *off;
	*n = v;
	*off += v;
	return true;
}

int secret_payload_apply(struct task_def *td, const char *buf, size_t len, struct berr **err)
{
	size_t off = strlen(PAYLOAD_MAGIC), rec = 0;

	if (len < off || memcmp(buf, PAYLOAD_MAGIC, off))
		return berr_set(err, 0, "secrets: not a payload of this berth (no \"berth-secrets 1\" "
				"header)");
	while (off < len) {
		const char *cn, *en, *v;
		size_t cl, el, vl;
		struct task_container *ct = NULL;
		struct task_secret *sec = NULL;

		if (!get_str(buf, len, &off, 2, &cn, &cl) || !get_str(buf, len, &off, 2, &en, &el) ||
		    !get_str(buf, len, &off, 4, &v, &vl))
			return berr_set(err, 0, "secrets: record %zu is cut short", rec);
		for (size_t i = 0; i < td->n_containers && !ct; i++)
			if (strlen(td->containers[i].name) == cl &&
			    !memcmp(td->containers[i].name, cn, cl))
				ct = &td->containers[i];
		if (!ct)
			return berr_set(err, 0, "secrets: record %zu: the task has no container \"%s\"",
					rec, berr_qn(cn, cl));
		for (size_t j = 0; j < ct->n_secrets && !sec; j++)
			if (strlen(ct->secrets[j].name) == el && !memcmp(ct->secrets[j].name, en, el))
				sec = &ct->secrets[j];
		if (!sec)
			return berr_set(err, 0, "secrets: record %zu: container %s has no secret \"%s\"",
					rec, ct->name, berr_qn(en, el));
		if (sec->value)
			return berr_set(err, 0, "secrets: container %s: secret %s given twice", ct->name,
					sec->name);
		if (secret_value_check(v, vl, err) < 0)
			return berr_wrap(err, "secrets: container %s: secret %s", ct->name, sec->name);
		sec->value = xmalloc(vl + 1);
		memcpy(sec->value, v, vl);
		sec->value[vl] = '\0';
		sec->value_len = vl;
		rec++;
	}
	for (size_t i = 0; i < td->n_containers; i++)
		for (size_t j = 0; j < td->containers[i].n_secrets; j++)
			if (!td->containers[i].secrets[j].value)
				return berr_set(err, 0, "secrets: container %s: no value for secret %s",
						td->containers[i].name, td->containers[i].secrets[j].name);
	return 0;
}

int secret_payload_apply_fd(struct task_def *td, int fd, struct berr **err)
{
	struct stat st;
	char *buf;
	size_t len, got = 0;
	int r;

	/* one buffer of the exact size: no reallocation leaves a copy behind */
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "secrets: stat the payload fd");
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > SECRET_PAYLOAD_MAX)
		return berr_set(err, 0, "secrets: the payload fd is not a memfd of at most %u bytes",
				SECRET_PAYLOAD_MAX);
	len = (size_t)st.st_size;
	buf = xmalloc(len + 1);
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? berr_set(err, errno, "secrets: read the payload")
				  : berr_set(err, 0, "secrets: the payload ends early");
			explicit_bzero(buf, len);
			free(buf);
			return r;
		}
		got += (size_t)n;
	}
	r = secret_payload_apply(td, buf, len, err);
	explicit_bzero(buf, len);
	free(buf);
	return r;
}
