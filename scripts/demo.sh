#!/usr/bin/env bash
# The main job on a sample, from a fresh Debian 12 machine: installs the
# packages, builds unmark, makes a 9 s 704x1280 clip of a panning texture
# with a white 75%-opaque "Sora" mark hopping between three spots every 3 s
# (and a stereo track), removes it with automatic detection, and says where
# to look.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
mkdir -p out
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
mark="fontfile=$font:text=Sora:fontsize=56:fontcolor=white@0.75"
# A textured picture that pans (a stand-in for real footage), 704x1280.
ffmpeg -hide_banner -loglevel error -y -f lavfi \
  -i "nullsrc=s=1600x2400,geq=lum='128+55*sin(X/9+Y/13)+45*cos(X/5-Y/11)+20*sin(X*Y/900)':cb='128+30*sin(X/40)':cr='128+30*cos(Y/50)'" \
  -frames:v 1 out/sample-texture.png
ffmpeg -hide_banner -loglevel error -y -loop 1 -framerate 30 -i out/sample-texture.png \
  -f lavfi -i "sine=frequency=330:sample_rate=48000" -t 9 \
  -vf "crop=704:1280:x='t*60':y='t*90',drawtext=$mark:x=40:y=60:enable='lt(t,3)',drawtext=$mark:x=520:y=600:enable='between(t,3,6)',drawtext=$mark:x=40:y=1120:enable='gte(t,6)'" \
  -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -ac 2 -shortest out/sample-marked.mp4
# The main job: nothing to tell it; it finds the mark and follows it.
build/unmark remove out/sample-marked.mp4 -o out/sample-clean.mp4 --overwrite
ffmpeg -hide_banner -loglevel error -y -ss 1 -i out/sample-marked.mp4 -frames:v 1 out/sample-marked.png
ffmpeg -hide_banner -loglevel error -y -ss 1 -i out/sample-clean.mp4 -frames:v 1 out/sample-clean.png
cat <<MSG

Done. Look at:
  out/sample-marked.mp4   the watermarked clip (the mark hops at 3 s and 6 s)
  out/sample-clean.mp4    the same clip with the mark removed (audio kept)
  out/sample-marked.png, out/sample-clean.png   frame 30 of each, side by side
MSG
