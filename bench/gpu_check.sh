#!/usr/bin/env bash
# The GPU paths, checked on a machine with an NVIDIA GPU (CI has none):
# NVDEC must hand the pipeline the same frames as software decoding, and the
# encoder must be NVENC or a logged fallback to libx264.
#
#   bench/gpu_check.sh UNMARK CLIP [CLIP ...]
#
# For each clip: a lossless `remove` with --hwdec cuda and with --hwdec none,
# the two outputs' decoded frames hashed and compared (ffmpeg's framemd5 if
# the ffmpeg CLI is there, else python3 with OpenCV); then a default
# `remove`, whose decode and encode paths are printed from its --json "done"
# event. Exit status 1 when any clip's frames differ or a run fails.
# Measured with it: see the README's GPU paragraph.
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
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
"$unmark" probe "$1" | grep -i hardware
for clip in "$@"; do
  name=$(basename "$clip")
  for hw in cuda none; do
    if ! "$unmark" remove "$clip" -o "$work/$hw.mkv" --overwrite --hwdec "$hw" --encoder x264 --crf 0 -q; then
      echo "$name: remove --hwdec $hw failed"; status=1; continue 2
    fi
  done
  frame_hashes "$work/cuda.mkv" >"$work/cuda.txt"
  frame_hashes "$work/none.mkv" >"$work/none.txt"
  if cmp -s "$work/cuda.txt" "$work/none.txt"; then
    echo "$name: NVDEC and software decoding give the same $(wc -l <"$work/cuda.txt") frames"
  else
    echo "$name: FRAMES DIFFER between --hwdec cuda and --hwdec none"; status=1
  fi
  "$unmark" remove "$clip" -o "$work/default.mp4" --overwrite --json 2>&1 | grep -E '"event":"done"|NVENC|NVDEC|CUDA' ||
    { echo "$name: default remove failed"; status=1; }
done
exit $status
