/* `unmark probe INPUT [--json]`: what a file holds, and what hardware is here. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void print_json_string_member(const char *key, const char *value, int comma)
{
    char buf[8192] = "";
    um_json_escape(buf, sizeof(buf), value);
    printf("\"%s\":%s%s", key, buf, comma ? "," : "");
}

static void print_streams_json(const um_media_info *m)
{
    printf("\"streams\":[");
    for (int i = 0; i < m->nb_streams; i++) {
        const um_media_stream_info *s = &m->streams[i];
        printf("%s{\"index\":%d,", i ? "," : "", s->index);
        print_json_string_member("type", s->type, 1);
        print_json_string_member("codec", s->codec, 1);
        print_json_string_member("language", s->language, 1);
        printf("\"channels\":%d,\"sample_rate\":%d}", s->channels, s->sample_rate);
    }
    printf("],");
}

static void print_probe_json(const um_media_info *m, const um_media_hw *hw)
{
    char hw_text[512];
    um_media_hw_describe(hw, hw_text, sizeof(hw_text));
    printf("{");
    print_json_string_member("path", m->path, 1);
    print_json_string_member("format", m->format, 1);
    printf("\"is_image\":%s,\"duration\":%.6f,\"width\":%d,\"height\":%d,",
           m->is_image ? "true" : "false", m->duration, m->width, m->height);
    print_json_string_member("codec", m->codec, 1);
    print_json_string_member("pix_fmt", m->pix_fmt, 1);
    printf("\"depth\":%d,\"fps\":%.6f,\"vfr\":%s,\"frame_count\":%lld,\"rotation\":%.1f,",
           m->depth, m->fps, m->vfr ? "true" : "false", (long long)m->frame_count, m->rotation);
    printf("\"color\":{");
    print_json_string_member("primaries", m->color_primaries, 1);
    print_json_string_member("transfer", m->color_transfer, 1);
    print_json_string_member("space", m->color_space, 1);
    print_json_string_member("range", m->color_range, 0);
    printf("},\"sar\":\"%d:%d\",", m->sar_num, m->sar_den);
    print_streams_json(m);
    printf("\"audio_tracks\":%d,\"subtitle_tracks\":%d,", m->audio_tracks, m->subtitle_tracks);
    printf("\"hardware\":{");
    print_json_string_member("gpu", hw->gpu_count ? hw->gpu_name : "none", 1);
    printf("\"count\":%d,\"memory\":%llu,\"nvdec\":%s,\"nvenc\":%s,", hw->gpu_count,
           (unsigned long long)hw->gpu_memory, hw->gpu_count && hw->ffmpeg_cuda ? "true" : "false",
           hw->gpu_count && hw->ffmpeg_nvenc ? "true" : "false");
    printf("\"huge_pages\":%s,\"one_malloc_arena\":%s,\"malloc_zeroes\":%s,\"malloc_reuses_large_blocks\":%s,"
           "\"malloc_keeps_freed_memory\":%s,",
           cli_huge_pages_on() ? "true" : "false", cli_one_malloc_arena() ? "true" : "false",
           cli_malloc_zeroes() ? "true" : "false", cli_malloc_reuses_large_blocks() ? "true" : "false",
           cli_malloc_keeps_freed_memory() ? "true" : "false");
    print_json_string_member("description", hw_text, 0);
    printf("}}\n");
}

static void print_probe_text(const um_media_info *m, const um_media_hw *hw)
{
    char hw_text[512];
    um_media_hw_describe(hw, hw_text, sizeof(hw_text));
    printf("%s: %s%s, %.3f s\n", m->path, m->format, m->is_image ? " (image)" : "", m->duration);
    printf("  video #%d: %s %dx%d %s (%d-bit), %.3f fps%s, %lld frames, SAR %d:%d, rotation %.0f\n",
           m->video_index, m->codec, m->width, m->height, m->pix_fmt, m->depth, m->fps,
           m->vfr ? " (variable)" : "", (long long)m->frame_count, m->sar_num, m->sar_den,
           m->rotation);
    printf("  colour: primaries %s, transfer %s, matrix %s, range %s\n", m->color_primaries,
           m->color_transfer, m->color_space, m->color_range);
    for (int i = 0; i < m->nb_streams; i++) {
        const um_media_stream_info *s = &m->streams[i];
        if (s->index == m->video_index)
            continue;
        printf("  %s #%d: %s [%s]", s->type, s->index, s->codec, s->language);
        if (s->channels)
            printf(" %d ch, %d Hz", s->channels, s->sample_rate);
        printf("\n");
    }
    printf("  hardware: %s\n", hw_text);
    printf("  memory: transparent huge pages %s, %s, malloc's blocks %s, %s, freed memory %s\n",
           cli_huge_pages_on() ? "on" : "off", cli_one_malloc_arena() ? "one malloc arena" : "a malloc arena per thread",
           cli_malloc_zeroes() ? "zeroed" : "as they come",
           cli_malloc_reuses_large_blocks() ? "large ones reused" : "large ones mapped afresh",
           cli_malloc_keeps_freed_memory() ? "kept for reuse" : "given back");
}

int cli_probe(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int json = 0, opt;
    um_error err = {0};
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h')
            return cli_help("probe");
        if (opt == 'j')
            json = 1;
        else {
            um_error_set(&err, UM_ERR_USAGE, "unknown option \"%s\" (see unmark help probe)",
                         argv[optind - 1]);
            return cli_fail(&err);
        }
    }
    um_log_set_json(json);
    if (optind != argc - 1) {
        um_error_set(&err, UM_ERR_USAGE, "probe takes one INPUT file");
        return cli_fail(&err);
    }
    um_media_info info;
    if (um_media_probe(argv[optind], 1, &info, &err) < 0)
        return cli_fail(&err);
    um_media_hw hw;
    um_media_hw_probe(&hw);
    if (json)
        print_probe_json(&info, &hw);
    else
        print_probe_text(&info, &hw);
    return 0;
}
