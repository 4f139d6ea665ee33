/* scheduler/cql.h - the ECS cluster query language (memberOf expressions,
 * ListContainerInstances filters).
 *
 *     subject operator [argument]   joined by and/&&, or/||, not/!, ( )
 *
 * Subjects: agentConnected, agentVersion, attribute:NAME, ec2InstanceId,
 * registeredAt, runningTasksCount, task:group. Operators: == equals,
 * != not_equals, > greater_than, >= greater_than_equal, < less_than,
 * <= less_than_equal, exists, !exists not_exists, in, !in not_in (a list:
 * [a, b] or (a, b)), =~ matches, !~ not_matches (a regular expression that
 * must match the whole value). docs/scheduler.md has the exact rules.
 *
 * An expression is compiled once (every error names its 1-based position:
 * "at 29: expected an operator after \"attribute:ecs.instance-type\", got
 * \"t2\"") and evaluated per instance with integer compares on interned
 * strings; regular expressions run once per distinct value. */
#ifndef BERTH_SCHEDULER_CQL_H
#define BERTH_SCHEDULER_CQL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduler/model.h"

/* ECS: an expression is at most 2000 characters */
#define SCHED_CQL_MAX_LEN 2000
/* nesting of parentheses and not: a berth limit (ECS documents none) */
#define SCHED_CQL_MAX_DEPTH 64

struct sched_cql;

int sched_cql_compile(const char *expr, struct sched_cql **out, struct berr **err);
void sched_cql_free(struct sched_cql *q);
const char *sched_cql_text(const struct sched_cql *q);
/* true when the expression reads runningTasksCount or task:group, which
 * change as tasks are placed */
bool sched_cql_dynamic(const struct sched_cql *q);
/* Does instance idx of cl match? q caches what it resolved against cl (ids
 * of names and values, regex results per value), hence not const; it
 * re-resolves when used with another cluster or after new strings appeared.
 * The cluster is recognised by its address: do not use q with a new
 * cluster after freeing the one it was last used with (compile anew). */
bool sched_cql_eval(struct sched_cql *q, const struct sched_cluster *cl, uint32_t idx);

/* Parse the registeredAt formats: 2018-06-18T22:28:28+00:00, ...Z,
 * 2018-06-18T22:28:28 (UTC), 2018-06-18. Seconds since the epoch. */
bool sched_cql_parse_time(const char *s, int64_t *out);
/* Compare agent versions ("1.14.5" < "1.9" is false): <0, 0, >0 */
int sched_cql_version_cmp(const char *a, const char *b);

#endif
