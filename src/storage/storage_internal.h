/*
 * Private to the storage module: what its files share beyond the public
 * header, and what the unit tests check directly.
 */
#ifndef UNMARK_STORAGE_INTERNAL_H
#define UNMARK_STORAGE_INTERNAL_H

#include <sys/socket.h>

#include "unmark/storage.h"

/* Initialises libcurl once per process (curl_global_init is not safe to
 * race with other threads' use of libcurl, and the service is
 * multi-threaded); every later call returns the first one's result. */
int um_storage_curl_init(um_error *err);

/* Why a fetch must not connect to this address unless private addresses
 * are allowed: "loopback", "link-local", "private", "unspecified",
 * "carrier-grade NAT", "multicast", "reserved" or "not an IP address" (a
 * static string); NULL when it may. IPv4 addresses embedded in IPv6 ones
 * (mapped, compatible, NAT64) are judged as the IPv4 address. */
const char *um_storage_address_refusal(const struct sockaddr *addr, socklen_t len);

/* A file being written under a temporary name next to its final one
 * (tempfile.c): written whole or not at all. */
typedef struct {
    const char *path; /* the final name */
    char *tmp;        /* PATH.part-XXXXXX while it exists, else NULL */
    int fd;
} um_storage_temp;

/* Creates PATH.part-XXXXXX (mode 0600: a download may be private). */
int um_storage_temp_open(um_storage_temp *t, const char *path, um_error *err);
int um_storage_temp_write(um_storage_temp *t, const void *data, size_t n, um_error *err);
/* Removes the temporary file; PATH is left as it was. */
void um_storage_temp_discard(um_storage_temp *t);
/* Closes the file and renames it to PATH; on failure removes it. */
int um_storage_temp_commit(um_storage_temp *t, um_error *err);

#endif
