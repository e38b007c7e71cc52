/*
 * Files written whole or not at all: the bytes go to PATH.part-XXXXXX in
 * the same folder (so the rename stays on one file system and is atomic)
 * and the file is renamed to PATH only when complete; on failure the
 * temporary file is removed and PATH is left as it was. Downloads from URLs
 * and from S3 both write this way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage_internal.h"

/* Creates PATH.part-XXXXXX (mode 0600: a download may be private). */
int um_storage_temp_open(um_storage_temp *t, const char *path, um_error *err)
{
    static const char suffix[] = ".part-XXXXXX";
    size_t n = strlen(path);
    t->path = path;
    t->tmp = um_xmalloc(n + sizeof(suffix));
    memcpy(t->tmp, path, n);
    memcpy(t->tmp + n, suffix, sizeof(suffix));
    t->fd = mkostemp(t->tmp, O_CLOEXEC);
    if (t->fd < 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot create a temporary file next to %s: %s", path,
                     strerror(errno));
        free(t->tmp);
        t->tmp = NULL;
        return -1;
    }
    return 0;
}

int um_storage_temp_write(um_storage_temp *t, const void *data, size_t n, um_error *err)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(t->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: %s", t->path, strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Removes the temporary file; PATH is left as it was. */
void um_storage_temp_discard(um_storage_temp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->tmp) {
        unlink(t->tmp);
        free(t->tmp);
        t->tmp = NULL;
    }
}

/* Closes the file and renames it to PATH; on failure removes it. */
int um_storage_temp_commit(um_storage_temp *t, um_error *err)
{
    int rc = close(t->fd);
    t->fd = -1;
    if (rc < 0 || rename(t->tmp, t->path) < 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: %s", t->path, strerror(errno));
        um_storage_temp_discard(t);
        return -1;
    }
    free(t->tmp);
    t->tmp = NULL;
    return 0;
}
