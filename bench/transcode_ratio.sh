#!/usr/bin/env bash
# Speed and memory of `unmark remove` (one region) against a plain ffmpeg
# transcode with the same encoder settings, measured in the same run.
#
#   bench/transcode_ratio.sh [BUILD_DIR] [PRESET]      (defaults: build, slow)
#
# Makes 704x1280 30 fps clips of 10 s and 60 s (moving, textured, with AAC
# audio), then for the 10 s clip prints both wall times and their ratio
# (target <= 1.15), and for both clips unmark's peak memory (max RSS; target:
# the 60 s clip within 10% of the 10 s clip).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
preset=${2:-slow}
work=$(mktemp -d /tmp/unmark-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }

make_clip() {  # seconds, path
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=704x1280:rate=30,noise=alls=12:allf=t" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$1" \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -shortest "$2"
}
# wall seconds and max RSS (KiB) of a command, as "SECONDS KIB"
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
    cat "$work/stderr"; exit 1; }
  cat "$work/time"
}

make_clip 10 "$work/10s.mp4"
make_clip 60 "$work/60s.mp4"
region=(--region 40,60,200,90)

read -r ff_s ff_kb < <(measure ffmpeg -hide_banner -y -i "$work/10s.mp4" -map 0 -c:a copy \
  -c:v libx264 -preset "$preset" -crf 16 -tune film "$work/ff.mp4")
read -r um_s um_kb < <(measure "$build/unmark" remove "$work/10s.mp4" -o "$work/um.mp4" --overwrite \
  --encoder x264 --preset "$preset" "${region[@]}")
read -r um60_s um60_kb < <(measure "$build/unmark" remove "$work/60s.mp4" -o "$work/um60.mp4" \
  --overwrite --encoder x264 --preset "$preset" "${region[@]}")

awk -v ff="$ff_s" -v um="$um_s" -v a="$um_kb" -v b="$um60_kb" -v p="$preset" 'BEGIN {
  printf "704x1280 30 fps 10 s, libx264 preset %s crf 16 tune film\n", p
  printf "  ffmpeg transcode   %6.2f s\n", ff
  printf "  unmark remove      %6.2f s   ratio %.3f (target <= 1.15)\n", um, um / ff
  printf "peak memory of unmark remove\n"
  printf "  10 s clip  %7.1f MiB\n  60 s clip  %7.1f MiB   difference %+.1f%% (target < 10%%)\n",
         a / 1024, b / 1024, (b - a) * 100 / a
}'
