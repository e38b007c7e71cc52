/*
 * One job, input to output: read -> remove -> write, a frame at a time.
 * The output goes to a temporary file beside the target and is renamed into
 * place only when everything succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipeline_internal.h"

#define PROGRESS_INTERVAL 0.1

void um_pipeline_job_init(um_pipeline_job *job)
{
    memset(job, 0, sizeof(*job));
    um_media_options_init(&job->media);
    job->matte_cache = UM_PIPELINE_MATTE_CACHE_DEFAULT;
    job->frame_cache = UM_PIPELINE_FRAME_CACHE_DEFAULT;
}

/* The folder that holds path ("." for a bare name). */
static void folder_of(const char *path, char *out, size_t cap)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(out, cap, "%s", dirname(copy));
}

int um_pipeline_check_output(const char *input, const char *output, int overwrite, um_error *err)
{
    char folder[4096];
    folder_of(output, folder, sizeof(folder));
    struct stat st_folder, st_in, st_out;
    if (stat(folder, &st_folder) != 0 || !S_ISDIR(st_folder.st_mode)) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: the folder %s does not exist", output,
                     folder);
        return -1;
    }
    if (stat(output, &st_out) != 0)
        return 0;
    if (stat(input, &st_in) == 0 && st_in.st_dev == st_out.st_dev && st_in.st_ino == st_out.st_ino) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: it is the input file; choose another output",
                     output);
        return -1;
    }
    if (S_ISDIR(st_out.st_mode)) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: it is a folder", output);
        return -1;
    }
    if (!overwrite) {
        um_error_set(err, UM_ERR_OUTPUT, "%s already exists: pass --overwrite to replace it", output);
        return -1;
    }
    return 0;
}

/* Creates an empty temporary file beside output, with the permissions a new
 * file would get, and returns its path in tmp. */
static int create_temp(const char *output, char *tmp, size_t cap, um_error *err)
{
    char folder[4096], copy[4096];
    folder_of(output, folder, sizeof(folder));
    snprintf(copy, sizeof(copy), "%s", output);
    if ((size_t)snprintf(tmp, cap, "%s/.%s.unmark-XXXXXX", folder, basename(copy)) >= cap) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot write %s: the path is too long", output);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot create a temporary file in %s: %s", folder,
                     strerror(errno));
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || close(fd) != 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot set up %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Moves the finished file into place; without overwrite, never replaces a
 * file that appeared at the target meanwhile. */
static int publish(const char *tmp, const char *output, int overwrite, um_error *err)
{
    int ret = overwrite ? rename(tmp, output) : renameat2(AT_FDCWD, tmp, AT_FDCWD, output, RENAME_NOREPLACE);
    if (ret != 0 && !overwrite && (errno == EINVAL || errno == ENOSYS)) {
        /* A file system without RENAME_NOREPLACE: link() refuses to replace too. */
        ret = link(tmp, output);
        if (ret == 0)
            unlink(tmp);
    }
    if (ret != 0) {
        um_error_set(err, UM_ERR_OUTPUT, "cannot move the result into %s: %s", output,
                     errno == EEXIST ? "it appeared meanwhile (pass --overwrite)" : strerror(errno));
        return -1;
    }
    return 0;
}

typedef struct {
    const um_pipeline_job *job;
    um_media_reader *reader;
    um_media_writer *writer;
    um_remover *remover;
    um_detector *detector;      /* owned detection, NULL without */
    const um_detector *detections; /* the one in use: owned or the job's */
    um_matte **mattes;          /* per detected spot, NULL where filled instead */
    um_crop_cache *crops;       /* kept by detection for the matte pass, NULL without */
    um_media_tail *tail;        /* the last frames detection decoded, NULL without */
    /* Frames restored but not written yet: the remover settles each with
     * the frames after it (its look-ahead) before it goes to the encoder. */
    um_media_held **waiting;    /* a ring of lookahead + 1 */
    int lookahead, nb_waiting, oldest;
    int64_t frames_with_mark;
    double started, last_report;
    int64_t frames;
    int64_t total;
    int announced;
} run_state;

static void report_progress(run_state *s, int final)
{
    if (!s->job->progress)
        return;
    double now = um_pipeline_now();
    if (!final && now - s->last_report < PROGRESS_INTERVAL)
        return;
    s->last_report = now;
    um_pipeline_report(s->job->progress, s->job->progress_opaque, "remove", s->frames, s->total, s->started);
}

/* The one line that says what hardware was found and which paths were
 * taken, once both ends are open. */
static void announce_paths(run_state *s)
{
    um_media_hw hw;
    char hw_text[512];
    um_media_hw_probe(&hw);
    um_media_hw_describe(&hw, hw_text, sizeof(hw_text));
    um_log(UM_LOG_INFO, "hardware: %s; decode: %s; encode: %s", hw_text,
           um_media_reader_decode_path(s->reader), um_media_writer_encode_path(s->writer));
    s->announced = 1;
}

/* The boxes detection found in this frame, as regions for the remover. */
static int detected_regions(const run_state *s, const um_frame *frame, um_region *out)
{
    if (!s->detections)
        return 0;
    const um_box *boxes;
    int n = um_detect_frame_boxes(s->detections, frame->index, &boxes);
    n = n > UM_REMOVE_MAX_BOXES ? UM_REMOVE_MAX_BOXES : n;
    for (int i = 0; i < n; i++) {
        out[i] = (um_region){boxes[i].x1, boxes[i].y1, boxes[i].x2 - boxes[i].x1,
                             boxes[i].y2 - boxes[i].y1, 0, -1, NULL, 0, NULL};
        int spot = um_detect_box_spot(s->detections, frame->index, i, NULL);
        if (s->mattes && spot >= 0)
            out[i].matte = s->mattes[spot];
        /* Without a matte, fill the mark's own shape, not all of its box. */
        um_detect_box_shape(s->detections, frame->index, i, &out[i].shape, &out[i].shape_stride);
    }
    return n;
}

/* Settles the oldest waiting frame and encodes it. */
static int write_oldest(run_state *s, um_error *err)
{
    um_media_held *held = s->waiting[s->oldest];
    s->waiting[s->oldest] = NULL;
    s->oldest = (s->oldest + 1) % (s->lookahead + 1);
    s->nb_waiting--;
    if (s->remover && !s->job->outline)
        um_remove_settle(s->remover, um_media_held_frame(held));
    int ret = um_media_writer_frame(s->writer, held, err);
    um_media_held_release(&held);
    if (ret < 0)
        return -1;
    if (!s->announced)
        announce_paths(s);
    s->frames++;
    report_progress(s, 0);
    return 0;
}

static int process_frame(run_state *s, um_frame *frame, um_error *err)
{
    um_region boxes[UM_REMOVE_MAX_BOXES];
    int nb_boxes = detected_regions(s, frame, boxes);
    s->frames_with_mark += nb_boxes > 0;
    if (s->job->outline)
        um_remove_outline(frame, boxes, nb_boxes);
    else if (s->remover && um_remove_frame(s->remover, frame, boxes, nb_boxes, err) < 0)
        return -1;
    s->waiting[(s->oldest + s->nb_waiting++) % (s->lookahead + 1)] = um_media_reader_hold(s->reader);
    while (s->nb_waiting > s->lookahead)
        if (write_oldest(s, err) < 0)
            return -1;
    return 0;
}

static int stream_all(run_state *s, um_error *err)
{
    for (;;) {
        if (s->job->cancel && *s->job->cancel) {
            um_error_set(err, UM_ERR_OTHER, "interrupted: %s was not written", s->job->output);
            return -1;
        }
        um_frame *frame = NULL;
        um_media_packet *packet = NULL;
        int item = um_media_reader_next(s->reader, &frame, &packet, err);
        if (item < 0)
            return -1;
        if (item == UM_MEDIA_EOF)
            break;
        int ret = item == UM_MEDIA_FRAME ? process_frame(s, frame, err)
                                         : um_media_writer_packet(s->writer, packet, err);
        if (ret < 0)
            return -1;
    }
    while (s->nb_waiting > 0)
        if (write_oldest(s, err) < 0)
            return -1;
    return um_media_writer_finish(s->writer, err);
}

static int needs_remover(const run_state *s)
{
    const um_remove_config *c = &s->job->remove;
    return c->nb_regions > 0 || c->mask != NULL ||
           (s->detections && um_detect_spot_count(s->detections) > 0);
}

/* Whether the job fits mattes (restores) from what detection finds. */
static int fits_mattes(const um_pipeline_job *job)
{
    return job->remove.method != UM_METHOD_INPAINT && !job->outline;
}

/* The detection pass. A still has no time to learn from: without a
 * template it finds nothing, and says why. */
static int run_detection(run_state *s, um_error *err)
{
    const um_pipeline_job *job = s->job;
    s->detections = job->detections;
    if (!job->detect || job->detections)
        return 0;
    um_pipeline_detect_job d = {.input = job->input, .media = job->media, .detect = job->detect_options,
                                .templates = job->templates, .nb_templates = job->nb_templates,
                                .progress = job->progress, .progress_opaque = job->progress_opaque,
                                .cancel = job->cancel};
    um_media_info info;
    if (fits_mattes(job) && job->matte_cache > 0)
        s->crops = um_crop_cache_new(job->matte_cache);
    if (job->frame_cache > 0)
        s->tail = um_media_tail_new(job->frame_cache);
    if (um_pipeline_detect_keeping(&d, s->crops, s->tail, &s->detector, NULL, &info, err) < 0)
        return -1;
    s->detections = s->detector;
    if (info.is_image) /* a still is read once anyway */
        um_media_tail_free(&s->tail);
    int spots = um_detect_spot_count(s->detector);
    if (spots == 0 && info.is_image && !job->nb_templates)
        um_log(UM_LOG_INFO, "%s is a still: automatic detection needs a video (use --template, --region or --mask)",
               job->input);
    else if (spots == 0)
        um_log(UM_LOG_INFO, "detection: no watermark found in %s", job->input);
    for (int i = 0; i < spots; i++) {
        const um_detect_spot *p = um_detect_spot_get(s->detector, i);
        um_log(UM_LOG_INFO, "detection: mark %d at %d,%d-%d,%d in %lld frames", p->mark, p->box.x1,
               p->box.y1, p->box.x2, p->box.y2, (long long)p->frames);
    }
    return 0;
}

/* The matte pass, when the method restores and something was detected. */
static int run_matte_fit(run_state *s, um_error *err)
{
    if (!s->detections || um_detect_spot_count(s->detections) == 0 || !fits_mattes(s->job))
        return 0;
    int ret = um_pipeline_fit_mattes(s->job, s->detections, s->crops, &s->mattes, err);
    um_crop_cache_free(&s->crops);
    return ret;
}

/* The removal reader takes the frames detection decoded last instead of
 * decoding them again. */
static void use_detection_tail(run_state *s)
{
    if (!s->tail)
        return;
    um_media_held **frames = NULL;
    int n = um_media_tail_take(s->tail, &frames);
    if (n > 0)
        um_log(UM_LOG_DEBUG, "remove: the last %d frames come from detection's decode", n);
    um_media_reader_use_tail(s->reader, frames, n, um_media_tail_decode_path(s->tail));
    um_media_tail_free(&s->tail);
}

/*
 * How much heap the thread that faults it in ahead (src/common/prefault.c)
 * takes for a job: most of the job's peak, never more. The peak grows with
 * the frame: hold-out h4, and the same clip scaled, peaked at 292 MB at
 * 854x480, 461 MB at 1280x720 and 807 MB at 1920x1080 (/usr/bin/time,
 * default settings), about 185 MB and 200 frames. 64 MiB and 200 frames
 * are 64%, 71% and 85% of those. On h4, of 120, 264, 384 and 504 MB ahead
 * (three alternating rounds), 384 gave the least wall time and 504, past
 * the peak, none less than without. A still takes little: none.
 */
#define PREFAULT_BASE ((size_t)64 << 20)
#define PREFAULT_FRAMES 200

static size_t heap_to_fault(void *opaque)
{
    const um_pipeline_job *job = opaque;
    um_media_info info;
    um_error err = {0};
    if (um_media_probe(job->input, 0, &info, &err) < 0 || info.is_image)
        return 0;
    size_t frame = (size_t)info.width * (size_t)info.height * 3 / 2 * (info.depth > 8 ? 2 : 1);
    return PREFAULT_BASE + PREFAULT_FRAMES * frame;
}

int um_pipeline_run(const um_pipeline_job *job, um_pipeline_result *result, um_error *err)
{
    run_state s = {.job = job, .started = um_pipeline_now()};
    char tmp[4096] = "";
    int ret = -1;
    um_prefault *prefault = NULL;
    if (um_pipeline_check_output(job->input, job->output, job->overwrite, err) < 0)
        goto fail;
    prefault = um_memory_prefault(heap_to_fault, (void *)job);
    if (run_detection(&s, err) < 0 || run_matte_fit(&s, err) < 0)
        goto fail;
    if (um_media_reader_open(&s.reader, job->input, &job->media, err) < 0)
        goto fail;
    use_detection_tail(&s);
    const um_media_info *info = um_media_reader_info(s.reader);
    s.total = um_media_reader_expected_frames(s.reader);
    if (needs_remover(&s) &&
        um_remove_create(&s.remover, &job->remove, info->width, info->height, err) < 0)
        goto fail;
    s.lookahead = s.remover && !job->outline ? um_remove_lookahead(s.remover) : 0;
    s.waiting = um_xcalloc((size_t)s.lookahead + 1, sizeof(*s.waiting));
    if (create_temp(job->output, tmp, sizeof(tmp), err) < 0)
        goto fail;
    if (um_media_writer_open(&s.writer, tmp, job->output, s.reader, &job->media, err) < 0)
        goto fail;
    if (stream_all(&s, err) < 0)
        goto fail;
    report_progress(&s, 1);
    if (result) {
        result->frames = s.frames;
        result->frames_with_mark = s.frames_with_mark;
        result->marks = s.detections ? um_detect_spot_count(s.detections) : 0;
        result->seconds = um_pipeline_now() - s.started;
        snprintf(result->decode_path, sizeof(result->decode_path), "%s",
                 um_media_reader_decode_path(s.reader));
        snprintf(result->encode_path, sizeof(result->encode_path), "%s",
                 um_media_writer_encode_path(s.writer));
    }
    um_media_writer_close(&s.writer);
    if (publish(tmp, job->output, job->overwrite, err) < 0)
        goto fail;
    tmp[0] = '\0';
    ret = 0;
fail:
    for (int i = 0; s.waiting && i <= s.lookahead; i++)
        um_media_held_release(&s.waiting[i]);
    free(s.waiting);
    um_media_writer_close(&s.writer);
    um_media_reader_close(&s.reader);
    um_remove_free(&s.remover);
    for (int i = 0; s.mattes && s.detections && i < um_detect_spot_count(s.detections); i++)
        um_matte_free(&s.mattes[i]);
    free(s.mattes);
    um_crop_cache_free(&s.crops);
    um_media_tail_free(&s.tail);
    um_detect_free(&s.detector);
    um_memory_prefault_join(&prefault);
    if (tmp[0])
        unlink(tmp);
    return ret;
}
