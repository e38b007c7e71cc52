#!/usr/bin/env bash
# The GPU paths, checked on a machine with an NVIDIA GPU (CI has none):
# NVDEC must hand the pipeline the same frames as software decoding, and the
# encoder must be NVENC or a logged fallback to libx264.
#
#   bench/gpu_check.sh UNMARK CLIP [CLIP ...]
#
# For each clip: a lossless `remove` with --hwdec none, and two with --hwdec
# cuda (the removal pass taking detection's last frames, and decoding them
# again with --frame-cache 0); each NVDEC output must hold the software
# one's frames (the same file, else the same frame hashes: ffmpeg's framemd5
# if the ffmpeg CLI is there, else python3 with OpenCV); `detect --json` must
# print the same with and without NVDEC; then a default `remove`, whose
# decode and encode paths are printed from its --json "done" event. Exit
# status 1 when anything differs or a run fails.
# Measured with it: see the README's GPU paragraph.
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
unmark=$1
shift
work=$(mktemp -d /tmp/unmark-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One line per frame of the decoded video in $1: its hash.
frame_hashes() {
  if command -v ffmpeg >/dev/null; then
    ffmpeg -hide_banner -loglevel error -i "$1" -map 0:v:0 -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}'
  else
    python3 - "$1" <<'PY'
import hashlib, sys, cv2
capture = cv2.VideoCapture(sys.argv[1])
while True:
    ok, frame = capture.read()
    if not ok:
        break
    print(hashlib.md5(frame.tobytes()).hexdigest())
PY
  fi
}

status=0
hardware=$("$unmark" probe "$1" | grep -i hardware)
echo "$hardware"
case $hardware in
  *"no GPU"*) echo "gpu_check: no GPU here, so nothing to check (--hwdec cuda would fall back to software)"; exit 2 ;;
esac

# 0 when the lossless outputs $1 and $2 hold the same frames: the same
# bytes (x264 is deterministic, so the same frames make the same file),
# else the same frame hashes.
same_frames() {
  cmp -s "$1" "$2" && return 0
  frame_hashes "$1" >"$work/a.txt"
  frame_hashes "$2" >"$work/b.txt"
  [ -s "$work/a.txt" ] && cmp -s "$work/a.txt" "$work/b.txt"
}

for clip in "$@"; do
  name=$(basename "$clip")
  # Software decoding is the reference; NVDEC must match it, with the removal
  # pass taking detection's last frames (--frame-cache 256M) and with
  # it decoding every frame again (--frame-cache 0).
  for run in none:256M cuda:256M cuda:0; do
    hw=${run%%:*} cache=${run##*:}
    if ! "$unmark" remove "$clip" -o "$work/$hw-$cache.mp4" --overwrite --hwdec "$hw" --frame-cache "$cache" \
        --encoder x264 --crf 0 -q; then
      echo "$name: remove --hwdec $hw --frame-cache $cache failed"; status=1; continue 2
    fi
  done
  for run in cuda-256M cuda-0; do
    if same_frames "$work/none-256M.mp4" "$work/$run.mp4"; then
      echo "$name: NVDEC ($run) and software decoding give the same frames"
    else
      echo "$name: FRAMES DIFFER between $run and software decoding"; status=1
    fi
  done
  if cmp -s <("$unmark" detect "$clip" --json --hwdec cuda 2>/dev/null) \
            <("$unmark" detect "$clip" --json --hwdec none 2>/dev/null); then
    echo "$name: detect --json the same with and without NVDEC"
  else
    echo "$name: DETECT DIFFERS between --hwdec cuda and --hwdec none"; status=1
  fi
  "$unmark" remove "$clip" -o "$work/default.mp4" --overwrite --json 2>&1 | grep -E '"event":"done"|NVENC|NVDEC|CUDA' ||
    { echo "$name: default remove failed"; status=1; }
done
exit $status
