/* unmark: the command line. Dispatches to the commands; see `unmark help`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char overview_help[] =
    "unmark " UM_VERSION " - remove visible watermarks from videos and images\n"
    "\n"
    "Usage:\n"
    "  unmark remove INPUT -o OUTPUT [options]   remove the watermark, write a new file\n"
    "  unmark detect INPUT [--json]              find the watermark, frame by frame\n"
    "  unmark probe INPUT [--json]               describe a file and the hardware found\n"
    "  unmark serve [--listen HOST:PORT]         the job API and its workers\n"
    "  unmark worker --store URL                 workers alone, on a store shared with serve\n"
    "  unmark runpod [--test_input JSON]         a RunPod serverless worker (or one local job)\n"
    "  unmark help [COMMAND]                     this help, or a command's\n"
    "  unmark --version\n"
    "\n"
    "Exit codes: 0 ok, 1 other failure, 2 bad usage, 3 unreadable or unsupported input,\n"
    "4 output error (missing folder, output exists, output is the input, write failed).\n"
    "\n"
    "Configuration: flags override environment variables (UNMARK_HWDEC, UNMARK_ENCODER,\n"
    "UNMARK_PRESET, UNMARK_CRF, UNMARK_DETECT, UNMARK_METHOD, UNMARK_LOG_LEVEL), which\n"
    "override a .env\n"
    "file in the working folder (or the file UNMARK_ENV_FILE names).\n";

static const char remove_help[] =
    "Usage: unmark remove INPUT -o OUTPUT [options]\n"
    "\n"
    "Reads INPUT (any video FFmpeg reads, or a PNG/JPEG/WebP image), removes the\n"
    "watermark and writes OUTPUT (MP4, MOV or MKV by its extension; PNG/JPEG/WebP for\n"
    "images). Audio and subtitles are copied bit-exact where the container takes them\n"
    "(else converted, and said so); timestamps, rotation and colour tags are kept.\n"
    "OUTPUT appears only when the whole job succeeded.\n"
    "\n"
    "Detection (videos):\n"
    "  --detect auto|none   find the watermark in the video first (default auto; see\n"
    "                       unmark help detect), and remove it wherever it shows\n"
    "  --template DIR       look for the mark saved by detect --save-template; on a\n"
    "                       still image too, which is then un-blended with its matte\n"
    "  --scales, --no-multiscale, --max-area, --memory-limit   as for detect\n"
    "  --method auto|unblend|inpaint   how a detected mark is taken out (default auto):\n"
    "                       auto inverts the blend with the mark's matte, fitted\n"
    "                       from the video, and fills where it is nearly opaque;\n"
    "                       unblend inverts as far as possible; inpaint fills the\n"
    "                       mark's shape from its surroundings\n"
    "  --matte-cache SIZE   memory detection may keep of the frames around the marks,\n"
    "                       so that fitting their mattes needs no second decode\n"
    "                       (default 384M; beyond it the kept frames thin out; 0:\n"
    "                       keep none and decode again); env UNMARK_MATTE_CACHE\n"
    "  --frame-cache SIZE   memory detection may keep of the last frames it decoded,\n"
    "                       which the removal pass then need not decode again\n"
    "                       (default 0: none; worth it only where decoding is\n"
    "                       dear); env UNMARK_FRAME_CACHE\n"
    "\n"
    "Regions (combine with detection):\n"
    "  --region x,y,w,h[@START-END]  fill this rectangle (pixels), optionally only from\n"
    "                                START to END seconds; repeatable\n"
    "  --mask FILE.png               fill where the mask is white (same size as the video)\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE    where to write (required)\n"
    "  --overwrite          replace OUTPUT if it exists\n"
    "  --format NAME        container by name instead of by extension (mp4, mov, matroska)\n"
    "  --transparent        image output: a PNG whose removed area is transparent\n"
    "  --start T, --end T   keep only the part from T to T (seconds, or [HH:]MM:SS.frac);\n"
    "                       video is cut at frames, copied audio at its packets\n"
    "  --width W, --height H  a new size; give one and the other keeps the shape\n"
    "\n"
    "Codecs:\n"
    "  --hwdec auto|cuda|none     decoding on the GPU (NVDEC); auto falls back to software\n"
    "  --encoder auto|nvenc|x264  auto tries NVENC, then libx264\n"
    "  --preset P                 libx264 preset (default slow)\n"
    "  --crf N                    libx264 quality, 0-51 (default 16, near-lossless)\n"
    "  --fast                     a fast preset (veryfast)\n"
    "\n"
    "Reporting:\n"
    "  --json          progress and events as JSON lines on stderr\n"
    "  -q, --quiet     errors only\n"
    "  -v, --verbose   debug lines, FFmpeg's own log included\n"
    "  --help          this help\n";

static const char detect_help[] =
    "Usage: unmark detect INPUT [--json] [options]\n"
    "\n"
    "Finds the visible watermark in INPUT by learning it from the video itself: an\n"
    "overlay whose look stays put while the picture under it moves. Follows it as\n"
    "it hops between spots, and reports a box for every frame that shows it.\n"
    "--json prints {\"width\",\"height\",\"fps\",\"frames\":[{\"index\",\"pts\",\"boxes\":\n"
    "[[x1,y1,x2,y2],...]},...],\"marks\":[...]} on stdout (pixels; x2, y2 exclusive).\n"
    "\n"
    "  --scales LIST        template scales tried (default 1.0,0.8,1.2)\n"
    "  --no-multiscale      scale 1.0 only\n"
    "  --max-area PCT       largest box a watermark may have (default 10% of the frame)\n"
    "  --memory-limit SIZE  memory the detector may use (default a quarter of RAM); when\n"
    "                       multi-scale would pass it, single-scale is used and logged\n"
    "  --overlay OUT.mp4    also write the video with the boxes drawn, for a person to\n"
    "                       look at (--overwrite to replace it)\n"
    "  --save-template DIR  write each mark's matte, fitted over the video: its alpha\n"
    "                       (markN_alpha.png) and colour per plane (template.json)\n"
    "  --hwdec auto|cuda|none, -q, -v, --help\n";

static const char probe_help[] =
    "Usage: unmark probe INPUT [--json]\n"
    "\n"
    "Describes INPUT: container, streams, size, frame rate (and whether it varies),\n"
    "frame count, duration, rotation, colour tags, audio and subtitle tracks, and the\n"
    "GPU found on this machine. --json prints one JSON object on stdout.\n";

static const char serve_help[] =
    "Usage: unmark serve [--listen HOST:PORT] [--data DIR] [--workers N] [--store LOCATION]\n"
    "                    [--lease SECONDS] [--max-attempts N]\n"
    "\n"
    "Runs the job API (HTTP/1.1, JSON, under /api/v1) and N worker threads that run\n"
    "its jobs. Jobs are kept in a SQLite file in DIR (or the store LOCATION names) and\n"
    "survive a restart: queued jobs run after it, and a job whose worker died runs\n"
    "again once its lease runs out. Any number of servers and `unmark worker`\n"
    "processes may share a store. Endpoints: POST /jobs, POST /jobs/upload, GET /jobs,\n"
    "GET and PATCH /jobs/{id}, POST /jobs/{id}/cancel, GET /jobs/{id}/result,\n"
    "GET /health, GET /metrics, GET /openapi.json (see the README). Sources: local\n"
    "paths, file://, http(s)://, s3://, data: or base64; targets: local or s3://.\n"
    "\n"
    "  --listen HOST:PORT   where to listen (default 127.0.0.1:8000; port 0 picks one)\n"
    "  --data DIR           the data folder (default ./unmark-data; created if missing)\n"
    "  --workers N          worker threads, 0-64 (default 1; 0 runs the API alone)\n"
    "  --store LOCATION     sqlite:PATH (default: DIR/jobs.db), or a PostgreSQL database:\n"
    "                       postgres://USER:PASSWORD@HOST[:PORT]/DATABASE\n"
    "  --lease SECONDS      how long a claimed job is its worker's without a renewal\n"
    "                       (renewed every third of it; default 30, 1 to 86400)\n"
    "  --max-attempts N     claims before a job whose worker keeps being lost fails\n"
    "                       (default 3, 1 to 100)\n"
    "  -q, -v, --help\n"
    "\n"
    "Environment: UNMARK_LISTEN, UNMARK_DATA, UNMARK_WORKERS, UNMARK_STORE,\n"
    "UNMARK_LEASE, UNMARK_MAX_ATTEMPTS,\n"
    "UNMARK_API_TOKEN (a bearer token every endpoint but /health requires),\n"
    "UNMARK_MAX_BODY (largest JSON body, default 1M), UNMARK_MAX_UPLOAD (largest\n"
    "upload or downloaded source, default 4G), UNMARK_ALLOW_PRIVATE_URLS (URL sources\n"
    "may name loopback and private addresses; default no), UNMARK_S3_ENDPOINT,\n"
    "UNMARK_S3_REGION, UNMARK_S3_PATH_STYLE, UNMARK_S3_VERIFY_TLS, AWS_ACCESS_KEY_ID,\n"
    "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, UNMARK_RESULT_TTL (presigned result\n"
    "URLs, seconds, default 3600), and the codec variables.\n";

static const char worker_help[] =
    "Usage: unmark worker --store LOCATION [--data DIR] [--workers N] [--lease SECONDS]\n"
    "                     [--max-attempts N]\n"
    "\n"
    "Runs N worker threads without the API: they claim jobs from the store that\n"
    "`unmark serve` (often with --workers 0) and other workers share, and run them as\n"
    "serve's workers do. Each claim is a lease, renewed every third of it; a worker\n"
    "that dies loses its leases, and its jobs run again elsewhere, up to N attempts,\n"
    "then fail saying why. A job canceled through the API stops within a second or\n"
    "two. SIGTERM or Ctrl-C stops the worker: its running jobs go back to the queue\n"
    "at once (not counted as attempts), exit 0. On PostgreSQL idle workers are woken\n"
    "as soon as a job is queued (LISTEN/NOTIFY); on SQLite they look every second.\n"
    "Local targets must name storage every worker writes to (a shared mount).\n"
    "\n"
    "  --store LOCATION     the shared store: postgres://USER:PASSWORD@HOST[:PORT]/DATABASE\n"
    "                       (or sqlite:PATH for workers on one machine; default\n"
    "                       DIR/jobs.db)\n"
    "  --data DIR           work files and downloads (default ./unmark-data)\n"
    "  --workers N          worker threads, 1-64 (default 1)\n"
    "  --lease SECONDS      as for serve (default 30)\n"
    "  --max-attempts N     as for serve (default 3)\n"
    "  -q, -v, --help\n"
    "\n"
    "Environment: UNMARK_STORE, UNMARK_DATA, UNMARK_WORKERS, UNMARK_LEASE,\n"
    "UNMARK_MAX_ATTEMPTS, UNMARK_MAX_UPLOAD, UNMARK_ALLOW_PRIVATE_URLS, the S3\n"
    "variables, UNMARK_RESULT_TTL and the codec variables, as for serve.\n"
    "\n"
    "Exit codes: 0 stopped by a signal, 1 the store could not be opened, 2 bad usage.\n";

static const char runpod_help[] =
    "Usage: unmark runpod [--test_input JSON] [--data DIR] [-q] [-v]\n"
    "\n"
    "A RunPod serverless worker speaking RunPod's pull protocol as runpod-python does:\n"
    "takes jobs from RUNPOD_WEBHOOK_GET_JOB one at a time, posts progress and each\n"
    "result to RUNPOD_WEBHOOK_POST_OUTPUT, and pings RUNPOD_WEBHOOK_PING every\n"
    "RUNPOD_PING_INTERVAL ms (default 10000) from a thread of its own. SIGTERM drains:\n"
    "no more jobs are taken, the running one finishes and is posted, exit 0.\n"
    "\n"
    "A job's input: one of source (a path or URI), source_url (with source_headers,\n"
    "source_verify_ssl), source_base64, source_s3 {bucket, key} or source_s3_key;\n"
    "filename, output_filename (default <input stem>_clean<ext>), watermark_config\n"
    "(the job API's removal options), s3Config {accessId, accessSecret, bucketName,\n"
    "endpointUrl, region, forcePathStyle} and s3_prefix (default jobs/{job_id}). With\n"
    "a bucket the result is uploaded and answered as a presigned URL; otherwise it\n"
    "stays in DIR/runpod/JOB_ID/ and its path is answered.\n"
    "\n"
    "Local test, as the SDK's: with --test_input '{\"input\": {...}}', or ./test_input.json\n"
    "when RUNPOD_WEBHOOK_GET_JOB is unset, runs that one job, prints its output JSON on\n"
    "stdout and exits 0, or 1 when it failed.\n"
    "\n"
    "  --test_input JSON    run this job locally (also --test-input)\n"
    "  --data DIR           results and downloads (default ./unmark-data)\n"
    "  -q, -v, --help\n"
    "\n"
    "Environment: RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT, RUNPOD_WEBHOOK_PING,\n"
    "RUNPOD_POD_ID, RUNPOD_AI_API_KEY (sent as the Authorization header), RUNPOD_PING_INTERVAL,\n"
    "UNMARK_DATA, UNMARK_ALLOW_PRIVATE_URLS (sources on private addresses; default 0),\n"
    "UNMARK_RESULT_TTL (a result URL's life in seconds, default 3600), and the codec variables.\n";

int cli_help(const char *command)
{
    if (!command) {
        fputs(overview_help, stdout);
        return 0;
    }
    if (strcmp(command, "remove") == 0) {
        fputs(remove_help, stdout);
        return 0;
    }
    if (strcmp(command, "detect") == 0) {
        fputs(detect_help, stdout);
        return 0;
    }
    if (strcmp(command, "probe") == 0) {
        fputs(probe_help, stdout);
        return 0;
    }
    if (strcmp(command, "serve") == 0) {
        fputs(serve_help, stdout);
        return 0;
    }
    if (strcmp(command, "worker") == 0) {
        fputs(worker_help, stdout);
        return 0;
    }
    if (strcmp(command, "runpod") == 0) {
        fputs(runpod_help, stdout);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        fputs(overview_help, stdout);
        return 0;
    }
    fprintf(stderr, "unmark: error: no command \"%s\" (see unmark help)\n", command);
    return UM_ERR_USAGE;
}

int main(int argc, char **argv)
{
    um_log_capture_ffmpeg();
    cli_load_config();
    cli_use_huge_pages(argv);
    um_memory_prefault_enable(cli_malloc_keeps_freed_memory());
    if (argc < 2) {
        fputs(overview_help, stderr);
        return UM_ERR_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("unmark %s\n", UM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return cli_help(argc > 2 ? argv[2] : NULL);
    if (strcmp(cmd, "remove") == 0)
        return cli_remove(argc - 1, argv + 1);
    if (strcmp(cmd, "probe") == 0)
        return cli_probe(argc - 1, argv + 1);
    if (strcmp(cmd, "detect") == 0)
        return cli_detect(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return cli_worker(argc - 1, argv + 1);
    if (strcmp(cmd, "runpod") == 0)
        return cli_runpod(argc - 1, argv + 1);
    fprintf(stderr, "unmark: error: no command \"%s\" (see unmark help)\n", cmd);
    return UM_ERR_USAGE;
}
