/* common/glob.h - the '*' / '?' matcher that IAM-style policies
 * (runtime/creds/policy.c) and berth-lb's listener rules (lb/rules.c) share. */
#ifndef BERTH_COMMON_GLOB_H
#define BERTH_COMMON_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does pattern pat (plen bytes; '*' any run of bytes, '?' one byte,
 * everything else literal) match all of s (slen bytes)? icase folds ASCII
 * letters. Greedy with one backtrack point (the last '*' seen), so it takes
 * at most (plen + 1) * (slen + 2) steps whatever the pattern: no
 * exponential blow-up on "*a*a*a*a*b". When steps is not NULL, the number
 * of steps taken is added to *steps (tests check the bound). */
bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase, uint64_t *steps);

#endif
