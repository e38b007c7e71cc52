/*
 * The last frames of a decoding pass, kept for a later pass over the same
 * input (um_media_reader_use_tail). `remove` decodes its input twice: once
 * to find the mark, once to remove it. Detection inside `remove` decodes
 * exactly as the removal pass will, so its last frames are the removal
 * pass's last frames: kept, they need no second decode (when --frame-cache
 * gives them room; off by default, as the copies cost more than decoding
 * again where decoding is cheap: README, "Restoring"). The tail and not
 * the head: the removal reader stops decoding where the tail starts and
 * reads on through the file for the other streams' packets, with no seek.
 *
 * The frames are copied, not held: holding the decoder's own frames makes
 * it allocate a fresh buffer for every frame, whose pages the kernel must
 * fault in one 4 KiB page at a time (on p5 of the benchmark, 43,000 more
 * page faults, and `remove` slower than decoding twice). Copies go into
 * chunks of memory mapped and faulted in whole (MAP_POPULATE: one call, not
 * a fault per page; advised for huge pages instead, the kernel spent more
 * than twice the system time), slot by slot, in a ring that lets the oldest
 * frame go when the next would pass the byte limit. A chunk is mapped when
 * the ring first reaches it, so a short video takes only what it needs. The
 * frames handed over point into the chunks, each its own writable buffer,
 * and a chunk is unmapped with its last frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "media/media_internal.h"

#define SLOTS_PER_CHUNK 16
#define CHUNK_ALIGN ((size_t)2 << 20)
#define ROW_ALIGN 64

typedef struct {
    AVFrame *props;     /* the frame without its pixels: size, format, timestamps, tags */
    int64_t index;
    double time;
} slot;

struct um_media_tail {
    int64_t limit;
    int cap, head, n;             /* ring of cap slots, the oldest at head */
    slot *slots;
    AVBufferRef **chunks;         /* mapped chunks, NULL until reached */
    size_t slot_size, chunk_size;
    int linesize[4];
    size_t offset[4];
    int sized;                    /* the layout is known (first frame) */
    int given_up;                 /* memory was refused: nothing is kept */
    int width, height, format;    /* of the frames it is for */
    char decode_path[128];        /* how they were decoded */
};

um_media_tail *um_media_tail_new(int64_t limit)
{
    um_media_tail *t = um_xcalloc(1, sizeof(*t));
    t->limit = limit;
    return t;
}

static void unmap_chunk(void *opaque, uint8_t *data)
{
    munmap(data, (size_t)(uintptr_t)opaque);
}

static int chunk_count(const um_media_tail *t) { return (t->cap + SLOTS_PER_CHUNK - 1) / SLOTS_PER_CHUNK; }

/* Lets go of the tail's references to its chunks: a chunk frames were
 * handed out from stays mapped until the last of them goes. */
static void let_go_chunks(um_media_tail *t)
{
    for (int c = 0; t->chunks && c < chunk_count(t); c++)
        av_buffer_unref(&t->chunks[c]);
}

/* A slot's buffer holds a reference to its chunk, let go with the buffer. */
static void release_slot(void *opaque, uint8_t *data)
{
    (void)data;
    AVBufferRef *chunk = opaque;
    av_buffer_unref(&chunk);
}

/* The slot layout for frames like f: each plane's rows padded to
 * ROW_ALIGN, planes one after the other, the slot a whole number of pages. */
static void size_slots(um_media_tail *t, const AVFrame *f)
{
    t->sized = 1;
    t->width = f->width;
    t->height = f->height;
    t->format = f->format;
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    if (av_image_fill_linesizes(t->linesize, f->format, f->width) < 0)
        return;
    size_t size = 0;
    for (int p = 0; p < 4 && t->linesize[p]; p++) {
        t->linesize[p] = FFALIGN(t->linesize[p], ROW_ALIGN);
        int rows = (p == 1 || p == 2) ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h) : f->height;
        t->offset[p] = size;
        size += (size_t)t->linesize[p] * rows;
    }
    t->slot_size = FFALIGN(size, 4096);
    int64_t cap = t->limit / (int64_t)t->slot_size;
    t->cap = cap > 1 << 20 ? 1 << 20 : (int)cap;
    if (!t->cap)
        return;
    t->chunk_size = FFALIGN(t->slot_size * SLOTS_PER_CHUNK, CHUNK_ALIGN);
    t->slots = um_xcalloc((size_t)t->cap, sizeof(*t->slots));
    t->chunks = um_xcalloc((size_t)chunk_count(t), sizeof(*t->chunks));
}

/* Slot k's memory, its chunk mapped when first reached; NULL when the
 * system refuses the mapping. */
static uint8_t *slot_memory(um_media_tail *t, int k)
{
    AVBufferRef **chunk = &t->chunks[k / SLOTS_PER_CHUNK];
    if (!*chunk) {
        void *p = mmap(NULL, t->chunk_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                       -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        *chunk = av_buffer_create(p, t->chunk_size, unmap_chunk, (void *)(uintptr_t)t->chunk_size, 0);
        if (!*chunk)
            um_check_alloc(NULL, "a frame chunk");
    }
    return (*chunk)->data + (size_t)(k % SLOTS_PER_CHUNK) * t->slot_size;
}

void um_media_tail_keep(um_media_tail *t, const um_media_reader *reader)
{
    const AVFrame *f = reader->current;
    if (!t->sized) {
        size_slots(t, f);
        snprintf(t->decode_path, sizeof(t->decode_path), "%s", reader->decode_path);
    }
    if (!t->cap || f->width != t->width || f->height != t->height || f->format != t->format)
        return;
    /* Copying is not free (about 0.3 s of CPU for 256 MB here): when the
     * container counts the frames, those the ring would let go before the
     * end are not copied at all. (An estimate from the duration can be far
     * off: a count too high would keep too few.) */
    int64_t count = reader->trim_start > 0 || reader->trim_end > 0 ? 0 : reader->info.frame_count;
    if (count > 0 && reader->view.index < count - t->cap)
        return;
    if (t->n == t->cap) {
        av_frame_free(&t->slots[t->head].props);
        t->head = (t->head + 1) % t->cap;
        t->n--;
    }
    int k = (t->head + t->n) % t->cap;
    uint8_t *memory = t->given_up ? NULL : slot_memory(t, k);
    if (!memory) {
        /* The tail must be whole to the end: without this frame, none. */
        if (!t->given_up)
            um_log(UM_LOG_DEBUG, "media: no memory to keep frames for the removal pass; it decodes them all");
        t->given_up = 1;
        um_media_tail_clear(t);
        return;
    }
    uint8_t *data[4] = {NULL};
    for (int p = 0; p < 4 && t->linesize[p]; p++)
        data[p] = memory + t->offset[p];
    av_image_copy(data, t->linesize, (const uint8_t **)f->data, f->linesize, f->format, f->width, f->height);
    slot *s = &t->slots[k];
    s->props = um_check_alloc(av_frame_alloc(), "a kept frame");
    s->props->format = f->format;
    s->props->width = f->width;
    s->props->height = f->height;
    if (av_frame_copy_props(s->props, f) < 0)
        um_check_alloc(NULL, "a kept frame's properties");
    s->index = reader->view.index;
    s->time = reader->view.time;
    t->n++;
}

/* The frame of slot k, its pixels a buffer of their own in the chunk. */
static um_media_held *held_from_slot(um_media_tail *t, int k)
{
    slot *s = &t->slots[k];
    AVBufferRef *chunk = um_check_alloc(av_buffer_ref(t->chunks[k / SLOTS_PER_CHUNK]), "a chunk reference");
    uint8_t *memory = chunk->data + (size_t)(k % SLOTS_PER_CHUNK) * t->slot_size;
    AVFrame *f = s->props;
    s->props = NULL;
    f->buf[0] = um_check_alloc(av_buffer_create(memory, t->slot_size, release_slot, chunk, 0), "a frame buffer");
    for (int p = 0; p < 4 && t->linesize[p]; p++) {
        f->data[p] = memory + t->offset[p];
        f->linesize[p] = t->linesize[p];
    }
    um_media_held *h = um_xcalloc(1, sizeof(*h));
    h->frame = f;
    um_media_held_view(h, s->index, s->time);
    return h;
}

int um_media_tail_take(um_media_tail *t, um_media_held ***frames)
{
    int n = t->n;
    *frames = n ? um_xmalloc((size_t)n * sizeof(**frames)) : NULL;
    for (int i = 0; i < n; i++)
        (*frames)[i] = held_from_slot(t, (t->head + i) % t->cap);
    t->head = t->n = 0;
    let_go_chunks(t); /* new frames get new chunks */
    return n;
}

int64_t um_media_tail_frame_bytes(const um_media_tail *t) { return (int64_t)t->slot_size; }
const char *um_media_tail_decode_path(const um_media_tail *t) { return t->decode_path; }

void um_media_tail_clear(um_media_tail *t)
{
    for (int i = 0; i < t->n; i++)
        av_frame_free(&t->slots[(t->head + i) % t->cap].props);
    t->head = t->n = 0;
}

void um_media_tail_free(um_media_tail **tail)
{
    um_media_tail *t = *tail;
    if (!t)
        return;
    um_media_tail_clear(t);
    let_go_chunks(t);
    free(t->chunks);
    free(t->slots);
    free(t);
    *tail = NULL;
}
