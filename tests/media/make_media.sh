#!/bin/sh
# shellcheck disable=SC2086 # $FF, $X264 and $MEDIA_FILES are word lists on purpose
# Makes the media the integration tests run on, with the ffmpeg CLI and its
# lavfi sources: small clips (1-3 s, 320x240 unless a case needs otherwise),
# images, a mask, and deliberately broken inputs.
#
# Usage: make_media.sh OUTDIR
#
# Idempotent: a file that already exists is left alone, so a second run costs
# nothing. Each file is written under a temporary name and renamed into place,
# so an interrupted run never leaves a half-written file that a later run
# would skip.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
OUT=$1
mkdir -p "$OUT"
cd "$OUT"

FF="ffmpeg -nostdin -hide_banner -loglevel error -y"
SIZE=320x240
X264="-c:v libx264 -preset ultrafast -crf 18"

# Bump MEDIA_VERSION whenever a recipe below changes: a folder made by another
# version is cleared of the files this script makes, so none is left stale.
MEDIA_VERSION=3
MEDIA_FILES="cfr.mp4 vfr.mkv noaudio.mp4 twoaudio.mkv pcm.mov rot90.mp4 odd.mkv tenbit.mp4
long.mp4 image.png image.jpg image.webp mask.png mask_small.png empty.mp4 text.mp4
truncated.mp4 corrupt.mp4 huge.y4m unsupported.mkv audioonly.wav pattern.png moving.mp4 marked.mp4 marked.png
under_mark.png"
if [ "$(cat .media-version 2>/dev/null || true)" != "$MEDIA_VERSION" ]; then
    rm -f -- $MEDIA_FILES
    echo "$MEDIA_VERSION" > .media-version
fi

# need NAME: true when NAME still has to be made.
need() {
    [ ! -e "$1" ]
}

# tmpname NAME: the temporary name NAME is written under (same extension, so
# ffmpeg picks the right muxer).
tmpname() {
    echo ".tmp-$1"
}

# commit NAME: moves the finished temporary file into place.
commit() {
    mv -f "$(tmpname "$1")" "$1"
}

# cfr.mp4: H.264 yuv420p at 25 fps, 2 s, one AAC stereo track.
if need cfr.mp4; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=2" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
        -filter:a "aformat=channel_layouts=stereo" \
        $X264 -pix_fmt yuv420p -c:a aac -b:a 96k -shortest \
        "$(tmpname cfr.mp4)"
    commit cfr.mp4
fi

# vfr.mkv: H.264 with a variable frame rate. Every frame n with n % 5 in {1, 3}
# is dropped, so frame durations alternate between 40 ms and 80 ms.
if need vfr.mkv; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=3" \
        -vf "select='not(eq(mod(n\,5)\,1)+eq(mod(n\,5)\,3))'" -fps_mode vfr \
        $X264 -pix_fmt yuv420p "$(tmpname vfr.mkv)"
    commit vfr.mkv
fi

# noaudio.mp4: video only.
if need noaudio.mp4; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" \
        $X264 -pix_fmt yuv420p "$(tmpname noaudio.mp4)"
    commit noaudio.mp4
fi

# twoaudio.mkv: video, AAC (440 Hz) and FLAC (880 Hz, mono) tracks with
# different content and languages, and an SRT subtitle stream.
if need twoaudio.mkv; then
    cat > .subs.srt <<'EOF'
1
00:00:00,200 --> 00:00:00,900
First line

2
00:00:01,000 --> 00:00:01,800
Second line
EOF
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=2" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
        -f lavfi -i "sine=frequency=880:sample_rate=44100:duration=2" \
        -i .subs.srt \
        -map 0:v -map 1:a -map 2:a -map 3:s \
        $X264 -pix_fmt yuv420p \
        -c:a:0 aac -b:a:0 96k -ac:a:0 2 -c:a:1 flac \
        -c:s srt \
        -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra \
        -metadata:s:s:0 language=eng \
        "$(tmpname twoaudio.mkv)"
    rm -f .subs.srt
    commit twoaudio.mkv
fi

# pcm.mov: H.264 with pcm_s16le audio (MP4 does not take PCM: converted to AAC).
if need pcm.mov; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" \
        -f lavfi -i "sine=frequency=660:sample_rate=48000:duration=1" \
        $X264 -pix_fmt yuv420p -c:a pcm_s16le -ac 2 "$(tmpname pcm.mov)"
    commit pcm.mov
fi

# rot90.mp4: display matrix rotation 90, bt709 colour tags, limited range,
# SAR 4:3. FFmpeg 5.1 turns the "rotate" tag into a display matrix only when
# stream copying (and has no -display_rotation yet), hence two steps.
if need rot90.mp4; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" \
        -vf "setsar=4/3" $X264 -pix_fmt yuv420p \
        -color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv \
        .rot0.mp4
    $FF -i .rot0.mp4 -c copy -metadata:s:v:0 rotate=90 "$(tmpname rot90.mp4)"
    rm -f .rot0.mp4
    commit rot90.mp4
fi

# odd.mkv: odd dimensions 321x241, FFV1 yuv420p (testsrc2 rounds its size
# down to even, so the picture is scaled up by one pixel each way).
if need odd.mkv; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" -vf "scale=321:241" \
        -c:v ffv1 -pix_fmt yuv420p "$(tmpname odd.mkv)"
    commit odd.mkv
fi

# tenbit.mp4: H.264 High 10, yuv420p10le.
if need tenbit.mp4; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" \
        -c:v libx264 -preset ultrafast -crf 18 -pix_fmt yuv420p10le -profile:v high10 \
        "$(tmpname tenbit.mp4)"
    commit tenbit.mp4
fi

# moving.mp4: a clean 480x270 clip whose textured picture pans (a pattern
# with edges every way), for detection: it must yield no box.
# marked.mp4: the same with a 75%-opaque white "Sora" at 20,20 for the first
# 3 s and at 360,200 after (truth in the detection test).
if need pattern.png; then
    $FF -f lavfi -i "nullsrc=s=1600x900,geq=lum='128+55*sin(X/9+Y/13)+45*cos(X/5-Y/11)+20*sin(X*Y/900)':cb=128:cr=128" \
        -frames:v 1 "$(tmpname pattern.png)"
    commit pattern.png
fi
if need moving.mp4; then
    $FF -loop 1 -framerate 25 -i pattern.png -t 6 \
        -vf "crop=480:270:x='min(t*90\,1100)':y='min(t*40\,600)'" \
        $X264 -pix_fmt yuv420p "$(tmpname moving.mp4)"
    commit moving.mp4
fi
if need marked.mp4; then
    mark="fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:text=Sora:fontsize=32:fontcolor=white@0.75"
    $FF -i moving.mp4 \
        -vf "drawtext=$mark:x=20:y=20:enable='lt(t,3)',drawtext=$mark:x=360:y=200:enable='gte(t,3)'" \
        $X264 "$(tmpname marked.mp4)"
    commit marked.mp4
fi

# marked.png: frame 10 of marked.mp4, a still with the mark at 20,20.
if need marked.png; then
    $FF -i marked.mp4 -vf "select=eq(n\,10)" -frames:v 1 "$(tmpname marked.png)"
    commit marked.png
fi

# under_mark.png: frame 10 of moving.mp4, the picture under marked.png's mark.
if need under_mark.png; then
    $FF -i moving.mp4 -vf "select=eq(n\,10)" -frames:v 1 "$(tmpname under_mark.png)"
    commit under_mark.png
fi

# long.mp4: the exception to "small and short": 640x360, 8 s, for the
# interrupt test, which needs a job that is still running when it signals.
if need long.mp4; then
    $FF -f lavfi -i "testsrc2=size=640x360:rate=25:duration=8" \
        $X264 -pix_fmt yuv420p "$(tmpname long.mp4)"
    commit long.mp4
fi

# image.png / image.jpg / image.webp: one textured 320x240 picture each.
for ext in png jpg webp; do
    if need "image.$ext"; then
        $FF -f lavfi -i "testsrc2=size=$SIZE:rate=1" -frames:v 1 "$(tmpname "image.$ext")"
        commit "image.$ext"
    fi
done

# mask.png: same size as image.png; white rectangle (x=100 y=80 w=60 h=40) on
# black.
if need mask.png; then
    $FF -f lavfi -i "color=black:size=$SIZE:rate=1" \
        -vf "drawbox=x=100:y=80:w=60:h=40:color=white:t=fill,format=gray" \
        -frames:v 1 "$(tmpname mask.png)"
    commit mask.png
fi

# mask_small.png: a mask of another size than image.png.
if need mask_small.png; then
    $FF -f lavfi -i "color=black:size=160x120:rate=1" \
        -vf "drawbox=x=10:y=10:w=20:h=20:color=white:t=fill,format=gray" \
        -frames:v 1 "$(tmpname mask_small.png)"
    commit mask_small.png
fi

# ---- bad inputs --------------------------------------------------------

# empty.mp4: zero bytes.
if need empty.mp4; then
    : > "$(tmpname empty.mp4)"
    commit empty.mp4
fi

# text.mp4: a text file with a video extension.
if need text.mp4; then
    printf 'This is not a video.\nJust some text.\n' > "$(tmpname text.mp4)"
    commit text.mp4
fi

# truncated.mp4: the first 30% of cfr.mp4; its moov box is at the end, so the
# file has no index.
if need truncated.mp4; then
    size=$(wc -c < cfr.mp4)
    head -c $((size * 3 / 10)) cfr.mp4 > "$(tmpname truncated.mp4)"
    commit truncated.mp4
fi

# corrupt.mp4: cfr.mp4 with 16 KiB in the middle of its media data overwritten
# by pseudo-random bytes (fixed seed, so every run makes the same file). The
# index is intact: the file opens and decodes partially.
if need corrupt.mp4; then
    cp cfr.mp4 "$(tmpname corrupt.mp4)"
    size=$(wc -c < cfr.mp4)
    perl -e 'srand(1234); binmode STDOUT; print pack("C*", map { int(rand(256)) } 1..16384)' \
        | dd of="$(tmpname corrupt.mp4)" bs=1 seek=$((size * 4 / 10)) conv=notrunc status=none
    commit corrupt.mp4
fi

# huge.y4m: a Y4M header claiming 100000x100000 followed by a few bytes.
if need huge.y4m; then
    printf 'YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\nabcdefgh' \
        > "$(tmpname huge.y4m)"
    commit huge.y4m
fi

# unsupported.mkv: an MKV whose video track's CodecID is one FFmpeg does not
# know ("V_MPEG4/ISO/AVC" patched to "V_UNMARK/NOPE!", same length), so
# there is a video stream but no decoder for it.
if need unsupported.mkv; then
    $FF -f lavfi -i "testsrc2=size=$SIZE:rate=25:duration=1" \
        $X264 -pix_fmt yuv420p "$(tmpname unsupported.mkv)"
    perl -0777 -pi -e 's{V_MPEG4/ISO/AVC}{V_UNMARK/NOPE!!}g or die "no CodecID\n"' \
        "$(tmpname unsupported.mkv)"
    commit unsupported.mkv
fi

# audioonly.wav: audio and no video stream.
if need audioonly.wav; then
    $FF -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
        -c:a pcm_s16le "$(tmpname audioonly.wav)"
    commit audioonly.wav
fi

exit 0
