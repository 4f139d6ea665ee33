/* common/glob.c - the bounded '*' / '?' matcher (glob.h). */
#include "common/glob.h"

static inline unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase, uint64_t *steps)
{
	/* star: the last '*' seen (SIZE_MAX: none yet); mark: where in s the
	 * text it swallows ends. On a mismatch only that star grows by one
	 * byte: an earlier star never needs to, because whatever it could
	 * swallow the later one can too. */
	size_t p = 0, t = 0, star = SIZE_MAX, mark = 0;
	uint64_t n = 0;
	bool r = false;

	while (t < slen) {
		n++;
		if (p < plen && pat[p] == '*') {
			star = p++;
			mark = t;
		} else if (p < plen && (pat[p] == '?' || pat[p] == s[t] ||
					(icase && fold((unsigned char)pat[p]) == fold((unsigned char)s[t])))) {
			p++;
			t++;
		} else if (star != SIZE_MAX) {
			p = star + 1;
			t = ++mark;
		} else {
			goto out;
		}
	}
	while (p < plen && pat[p] == '*') {
		n++;
		p++;
	}
	r = p == plen;
out:
	if (steps)
		*steps += n;
	return r;
}
