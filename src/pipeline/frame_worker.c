/*
 * A second thread for the work a looking pass does with each frame.
 *
 * The detection pass decodes a frame, then looks at it; one thread doing
 * both leaves the other core idle half the time (the decoder's own frame
 * threads wait for their caller), and detection took 2.1 s of wall time
 * for 2.7 s of CPU on p2 of the benchmark. So the decoding thread holds
 * each frame (a reference, not a copy) and hands it over through a short
 * queue to a worker thread that looks at it, in order, while the next
 * frames decode. The queue is short: a frame waiting in it is memory.
 *
 * The worker's first failure stops it; the decoding thread learns of it at
 * its next hand-over or at the end. Where no thread can be started the
 * work is done on the caller's thread, as before.
 */
#include <pthread.h>
#include <stdlib.h>

#include "pipeline/pipeline_internal.h"

/* Frames between the decoder and the worker: enough to ride out a frame
 * that takes long on either side. */
#define QUEUE_DEPTH 8

struct um_frame_worker {
    um_held_visit visit;
    void *opaque;
    pthread_t thread;
    int threaded;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    um_media_held *queue[QUEUE_DEPTH];
    int head, count;
    int closed;  /* no more frames will come */
    int failed;  /* the worker stopped on an error, in err */
    um_error err;
};

/* The worker: visits frames in order until the queue is closed and empty,
 * or a visit fails. */
static void *work(void *opaque)
{
    um_frame_worker *w = opaque;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->count && !w->closed)
            pthread_cond_wait(&w->changed, &w->lock);
        if (!w->count)
            break;
        um_media_held *frame = w->queue[w->head];
        w->head = (w->head + 1) % QUEUE_DEPTH;
        w->count--;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
        um_error err = {0};
        int ret = w->visit(w->opaque, frame, &err);
        pthread_mutex_lock(&w->lock);
        if (ret < 0) {
            w->failed = 1;
            w->err = err;
            pthread_cond_broadcast(&w->changed);
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

um_frame_worker *um_frame_worker_start(um_held_visit visit, void *opaque)
{
    um_frame_worker *w = um_xcalloc(1, sizeof(*w));
    w->visit = visit;
    w->opaque = opaque;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->threaded = pthread_create(&w->thread, NULL, work, w) == 0;
    if (!w->threaded)
        um_log(UM_LOG_DEBUG, "pipeline: no thread for detection; it runs beside decoding on one thread");
    return w;
}

int um_frame_worker_put(um_frame_worker *w, um_media_held *frame, um_error *err)
{
    if (!w->threaded)
        return w->visit(w->opaque, frame, err);
    pthread_mutex_lock(&w->lock);
    while (w->count == QUEUE_DEPTH && !w->failed)
        pthread_cond_wait(&w->changed, &w->lock);
    int failed = w->failed;
    if (failed) {
        *err = w->err;
    } else {
        w->queue[(w->head + w->count++) % QUEUE_DEPTH] = frame;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    if (failed)
        um_media_held_release(&frame);
    return failed ? -1 : 0;
}

/* Releases the frames still queued, unvisited. */
static void drop_queued(um_frame_worker *w)
{
    for (; w->count; w->count--, w->head = (w->head + 1) % QUEUE_DEPTH)
        um_media_held_release(&w->queue[w->head]);
}

/* Closes the queue and waits for the worker; frames it did not get to
 * (it failed, or drain is 0) are released unvisited. */
static int stop(um_frame_worker *w, int drain, um_error *err)
{
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        if (!drain)
            drop_queued(w);
        w->closed = 1;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        drop_queued(w);
    }
    if (w->failed && err)
        *err = w->err;
    return w->failed ? -1 : 0;
}

int um_frame_worker_finish(um_frame_worker **worker, um_error *err)
{
    int ret = stop(*worker, 1, err);
    um_frame_worker_free(worker);
    return ret;
}

void um_frame_worker_free(um_frame_worker **worker)
{
    um_frame_worker *w = *worker;
    if (!w)
        return;
    if (!w->closed)
        stop(w, 0, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *worker = NULL;
}
