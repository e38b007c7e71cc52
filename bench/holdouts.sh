#!/usr/bin/env bash
# Hold-out cases for the watermark benchmark: clips the public set does not
# have, made the same way (../shared/bench/wmbench.py gen), to check that a
# change solves the problem and not the five public cases.
#
#   bench/holdouts.sh MEDIA_ROOT OUT_DIR        (MEDIA_ROOT: what fetch-media.sh printed)
#
# Then score the peers and unmark on them as on the public cases:
#   /usr/bin/python3 ../shared/bench/wmbench.py run --cases OUT_DIR \
#       --cmd 'build/unmark remove {input} -o {output} --overwrite' --preset slow
# (the peers are scored on the first run: about a minute a case).
#
#   h1  a still camera: the mark is learnt only once it has hopped, and its
#       first place is found again by the template search;
#   h2  a handheld camera, a Sora mark with a drop shadow (a darker layer:
#       its colour is not one W) hopping over six places, another font;
#   h3  a pan over a high-contrast pattern under a text mark at opacity 0.5:
#       the inpainted guess of the picture under the mark is poor;
#   h4  a static yellow bug over a zoom, over a light-yellow wall at first:
#       the bug has almost no luma contrast there;
#   h5  a pan over a sunset under the handle mark: detection found its third
#       place twice (two spots), and it was taken off twice there;
#   h6  a Ken Burns zoom over a bridge under a mark with a strong shadow
#       (0.5) at opacity 0.7;
#   h7  a pan over another pattern under the handle mark at 0.8 with a
#       0.6 shadow: a shadow under a mark of another shape, for the
#       shadow's layer fit (src/remove/matte_shadow.c) not to fit h2 and
#       h6 alone.
set -euo pipefail
M=${1:?media root}
O=${2:?out dir}
B=$(dirname "$0")/../../shared/bench/wmbench.py
bg=$M/usr/share/backgrounds
mkdir -p "$O"
gen() {
  local name=$1
  shift
  [ -f "$O/$name/truth.json" ] || /usr/bin/python3 "$B" gen --out "$O/$name" --seconds 6 "$@"
}
gen h1-static-sora  --photo "$bg/Dragonfly_by_Bolly.jpg" --size 1280x720 --motion static --wm sora-handle \
  --opacity 0.8 --crf 18 --seed 11
gen h2-wine-shadow  --photo "$bg/Wine_by_Jakkub_Mede.jpg" --size 720x1280 --motion handheld --wm sora \
  --shadow 0.4 --positions cycle6 --font lato --seed 12
gen h3-pattern-text --photo "$bg/analogpattern_by_Peter_Nerlich.jpg" --size 1280x720 --motion pan --wm text \
  --opacity 0.5 --period 2 --seed 13
gen h4-green-bug    --photo "$bg/greentock_by_Peter_Nerlich.jpg" --size 1280x720 --motion kenburns --wm bug \
  --positions bl --opacity 0.65 --crf 20 --seed 14
gen h5-sunset-pan   --photo "$bg/sunset_by_Aitzol_Berasategi.jpg" --size 1280x720 --motion pan --wm sora-handle \
  --seed 15
gen h6-bridge-shadow --photo "$bg/Bridge_by_Sander_Klootwijk.jpg" --size 720x1280 --motion kenburns --wm sora \
  --shadow 0.5 --opacity 0.7 --seed 16
gen h7-handle-shadow --photo "$bg/free_by_Peter_Nerlich.jpg" --size 1280x720 --motion pan --wm sora-handle \
  --opacity 0.8 --shadow 0.6 --seed 22
