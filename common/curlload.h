/* common/curlload.h - libcurl, loaded on first use instead of at start-up.
 *
 * berth and berthd talk HTTP (registry pulls, etcd) through libcurl, but most
 * runs of the CLI never do: `berth ps`, `berth run --detach`, `berth logs`
 * only speak to berthd over its unix socket. Linked the usual way, libcurl
 * and the ~30 libraries under it (TLS, Kerberos, LDAP, IDN, ...) were
 * mapped, relocated and initialised by every exec of the CLI: 4.8 ms against
 * 1.4 ms for a program without them, on these VMs. So nothing links it;
 * berth_curl defines the libcurl functions berth calls, and each forwards to
 * the real one in libcurl.so.4, which curl_load() opens (dlopen) once.
 *
 * Call curl_load() before any curl_* function; those abort the process with
 * a message if libcurl is not loaded, which is a bug in berth, never a user
 * error. The declarations come from <curl/curl.h> as usual, with its type
 * checks of curl_easy_setopt. */
#ifndef BERTH_COMMON_CURLLOAD_H
#define BERTH_COMMON_CURLLOAD_H

#include <curl/curl.h>

#include "common/error.h"

/* The soname opened: the runtime library of Debian's libcurl4 package
 * (a test builds curlload.c with another, to see a failed load). */
#ifndef CURLLOAD_SONAME
#define CURLLOAD_SONAME "libcurl.so.4"
#endif

/* Open libcurl and run curl_global_init once per process (thread-safe).
 * 0, or -1 with *err naming the library and the reason (not installed, a
 * symbol missing, curl_global_init failed); every later call gives the
 * same answer. */
int curl_load(struct berr **err);

#endif
