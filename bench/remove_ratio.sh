#!/usr/bin/env bash
# The whole `unmark remove` (detection, restoration, encode) against a plain
# ffmpeg transcode with the same encoder settings, on any input, in
# alternating runs.
#
#   bench/remove_ratio.sh INPUT [RUNS] [BUILD_DIR] [PRESET]   (defaults: 5, build, slow)
#
# Each round runs the transcode, then `unmark remove INPUT` with its
# defaults (automatic detection), one after the other, so that both see the
# machine in the same state. Prints both wall times (minimum and median),
# CPU seconds (user + system, minimum) and the ratio of the minimum wall
# times: on a shared virtual machine the minimum is what each command needs,
# the rest is other load.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }
input=$1
runs=${2:-5}
build=${3:-build}
preset=${4:-slow}
cd "$(dirname "$0")/.."
[ -f "$input" ] || { echo "no such input: $input" >&2; exit 2; }
[ -x "$build/unmark" ] || { echo "no $build/unmark: build first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
case $runs in '' | *[!0-9]* | 0) echo "RUNS must be a positive number: $runs" >&2; exit 2 ;; esac
work=$(mktemp -d /tmp/unmark-ratio.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Appends "NAME WALL CPU" to the log, or prints the command's errors and stops.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "$name %e %U %S" -a -o "$work/log" "$@" >/dev/null 2>"$work/stderr" || {
    cat "$work/stderr" >&2; exit 1; }
}

for ((i = 0; i < runs; i++)); do
  measure ffmpeg ffmpeg -hide_banner -loglevel error -y -i "$input" -map 0 -c:a copy \
    -c:v libx264 -preset "$preset" -crf 16 -tune film "$work/ff.mp4"
  measure unmark "$build/unmark" remove "$input" -o "$work/um.mp4" --overwrite --encoder x264 \
    --preset "$preset"
done

awk -v input="$input" -v preset="$preset" '
  { n[$1]++; wall[$1, n[$1]] = $2; cpu = $3 + $4
    if (!($1 in low) || cpu < low[$1]) low[$1] = cpu }
  function sorted_at(name, k,    m, i, j, t, v) {
    m = n[name]
    for (i = 1; i <= m; i++) v[i] = wall[name, i]
    for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return v[k]
  }
  END {
    printf "%s, libx264 preset %s crf 16 tune film, %d alternating runs\n", input, preset, n["ffmpeg"]
    ff = sorted_at("ffmpeg", 1)
    for (k = 0; k < 2; k++) {
      name = k ? "unmark" : "ffmpeg"
      printf "  %-7s wall min %6.2f s  median %6.2f s  CPU min %6.2f s\n", name, sorted_at(name, 1),
             sorted_at(name, int((n[name] + 1) / 2)), low[name]
    }
    printf "  ratio (minimum wall) %.3f (target <= 1.2)\n", sorted_at("unmark", 1) / ff
  }' "$work/log"
