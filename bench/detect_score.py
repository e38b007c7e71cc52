#!/usr/bin/python3
"""detect_score: score a watermark detector against the benchmark's ground truth.

Usage:
    bench/detect_score.py --cases /tmp/wm-cases \\
        [--cmd 'build/unmark detect {input} --json'] [--preset slow] \\
        [--case NAME ...] [--json FILE] [--timeout SECONDS]

For every case folder in --cases that holds a truth.json (see ../shared/bench/wmbench.py,
cmd_gen: one true box [x1, y1, x2, y2] per frame, x2/y2 exclusive), it
  1. times a plain transcode of marked.mp4 (libx264 -preset PRESET -crf 16 -tune film);
  2. times the detect command on marked.mp4 and parses its JSON:
       {"width":W, "height":H, "fps":F,
        "frames":[{"index":i, "pts":s, "boxes":[[x1,y1,x2,y2], ...]}, ...], "marks":[...]}
  3. runs the detect command on clean.mkv (no mark) and counts the frames with a box;
  4. scores every truth frame against its true box T:
       covered  - the union of the detected boxes covers >= 99% of T's pixels;
       IoU      - the best IoU of T with any single detected box
                  (also reported: IoU of T with the bounding box of all the frame's boxes);
       false    - the frame has a box that does not overlap T at all (IoU == 0);
  5. prints a markdown table and a PASS/FAIL line per case, with the targets:
       recall 100%, IoU >= 0.8 on >= 95% of frames, no false box, nothing on the
       clean clip, detect time / transcode time <= 0.10, as many entries as truth frames.
     A failing case lists its first uncovered frames and its first frames with IoU < 0.8.

{input} in --cmd is replaced by the (shell-quoted) path of the clip. A non-zero exit or
unparsable output fails that case (its stderr tail is shown); the script goes on.
The exit status is 0 when every case passes, 1 otherwise.

Python 3 standard library plus numpy; run with /usr/bin/python3.
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

COVER_MIN = 0.99        # fraction of T's pixels the union of boxes must cover
IOU_GOOD = 0.8          # a frame's best IoU must reach this ...
IOU_GOOD_SHARE = 0.95   # ... on at least this share of the frames
RATIO_MAX = 0.10        # detect wall time / transcode wall time
DEBUG_LIST = 10         # frames listed per problem for a failing case
STDERR_TAIL = 20        # lines of stderr shown when the detector fails


# ---------------------------------------------------------------- running things
def timed_shell(cmd, timeout):
    """Runs a shell command; returns (returncode, stdout, stderr, wall seconds)."""
    t = time.monotonic()
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + f"\n[timed out after {timeout} s]".encode()
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - t


def tail(text, n=STDERR_TAIL):
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-n:]) if lines else "(empty)"


def transcode_time(marked, preset, tmpdir, timeout):
    """Wall time of a plain x264 transcode of marked, or (None, error text)."""
    out = os.path.join(tmpdir, "transcode.mp4")
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", marked, "-map", "0", "-c:a", "copy",
           "-c:v", "libx264", "-preset", preset, "-crf", "16", "-tune", "film", out]
    rc, _, err, dt = timed_shell(shlex.join(cmd), timeout)
    if rc != 0:
        return None, f"transcode failed (rc={rc}):\n{tail(err)}"
    return dt, None


class DetectError(Exception):
    pass


def run_detect(cmd_template, path, timeout):
    """Runs the detector on path; returns (parsed JSON, wall seconds). Raises DetectError."""
    cmd = cmd_template.replace("{input}", shlex.quote(path))
    rc, out, err, dt = timed_shell(cmd, timeout)
    if rc != 0:
        raise DetectError(f"`{cmd}` exited with {rc}; stderr tail:\n{tail(err)}")
    try:
        doc = json.loads(out)
    except json.JSONDecodeError as e:
        raise DetectError(f"`{cmd}` printed no valid JSON ({e}); stdout starts {out[:200]!r}; "
                          f"stderr tail:\n{tail(err)}")
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise DetectError(f"`{cmd}`: the JSON has no \"frames\" list; stdout starts {out[:200]!r}")
    return doc, dt


# ---------------------------------------------------------------- parsing the detector's output
def clean_box(b, width, height):
    """A detected box as ints clipped to the frame (x2, y2 exclusive); empty boxes stay (x2<=x1 or y2<=y1)."""
    if not isinstance(b, (list, tuple)) or len(b) != 4 or not all(isinstance(v, (int, float)) for v in b):
        raise DetectError(f"malformed box {b!r}")
    x1, y1 = max(0, math.floor(b[0])), max(0, math.floor(b[1]))
    x2, y2 = min(width, math.ceil(b[2])), min(height, math.ceil(b[3]))
    return (x1, y1, x2, y2)


def boxes_by_frame(doc, width, height):
    """Maps each frame index to its list of boxes. Entries without "index" take their position.

    Returns (dict index -> [box], problems) where problems lists duplicate indices etc."""
    by_index, problems = {}, []
    for pos, entry in enumerate(doc["frames"]):
        if not isinstance(entry, dict):
            raise DetectError(f"frames[{pos}] is not an object")
        i = entry.get("index", pos)
        if not isinstance(i, int):
            raise DetectError(f"frames[{pos}] has index {i!r}")
        if i in by_index:
            problems.append(f"index {i} appears twice")
        boxes = entry.get("boxes", [])
        if not isinstance(boxes, list):
            raise DetectError(f"frames[{pos}].boxes is not a list")
        by_index.setdefault(i, []).extend(clean_box(b, width, height) for b in boxes)
    return by_index, problems


def header_problems(doc, truth):
    """Differences between the detector's width/height and the truth's (boxes would be in other units)."""
    out = []
    for key in ("width", "height"):
        if doc.get(key) != truth[key]:
            out.append(f"{key} {doc.get(key)!r} != truth {truth[key]}")
    return out


# ---------------------------------------------------------------- metrics
def area(b):
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def intersection(a, b):
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def iou(a, b):
    inter = area(intersection(a, b))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def bounding_box(boxes):
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def coverage(truth_box, boxes):
    """Fraction of truth_box's pixels inside the union of boxes, on a pixel mask of truth_box."""
    x1, y1, x2, y2 = truth_box
    mask = np.zeros((y2 - y1, x2 - x1), bool)
    for b in boxes:
        ix1, iy1, ix2, iy2 = intersection(truth_box, b)
        if ix2 > ix1 and iy2 > iy1:
            mask[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1] = True
    return float(mask.mean()) if mask.size else 0.0


def score_frame(truth_box, boxes):
    """Per-frame numbers: coverage, best single-box IoU, IoU of the union bbox, false box present."""
    return {
        "coverage": coverage(truth_box, boxes),
        "iou": max((iou(truth_box, b) for b in boxes), default=0.0),
        "iou_union": iou(truth_box, bounding_box(boxes)) if boxes else 0.0,
        "false": any(iou(truth_box, b) == 0.0 for b in boxes),
    }


def score_frames(truth, by_index):
    """Scores every truth frame; a frame with no entry counts as one with no box."""
    per = []
    for i, tb in enumerate(truth["boxes"]):
        boxes = by_index.get(i, [])
        per.append(dict(score_frame(tuple(tb), boxes), index=i, truth=list(tb), boxes=[list(b) for b in boxes]))
    return per


def summarize(per):
    n = len(per)
    share = lambda k: sum(1 for f in per if k(f)) / n if n else 0.0
    return {
        "recall": share(lambda f: f["coverage"] >= COVER_MIN),
        "iou_good_share": share(lambda f: f["iou"] >= IOU_GOOD),
        "mean_iou": sum(f["iou"] for f in per) / n if n else 0.0,
        "mean_iou_union": sum(f["iou_union"] for f in per) / n if n else 0.0,
        "false_frames": sum(1 for f in per if f["false"]),
    }


def debug_lists(per):
    """The first frames that miss the coverage or IoU target, or hold a false box."""
    pick = lambda k: [{key: f[key] for key in ("index", "truth", "boxes", "coverage", "iou")}
                      for f in per if k(f)][:DEBUG_LIST]
    return {"not_covered": pick(lambda f: f["coverage"] < COVER_MIN),
            "iou_below": pick(lambda f: f["iou"] < IOU_GOOD),
            "false_box": pick(lambda f: f["false"])}


# ---------------------------------------------------------------- one case
def score_case(case_dir, args):
    """Runs everything for one case and returns a dict of its numbers (and errors)."""
    truth = json.load(open(os.path.join(case_dir, "truth.json")))
    r = {"case": os.path.basename(os.path.normpath(case_dir)), "truth_frames": len(truth["boxes"]),
         "errors": [], "notes": []}
    with tempfile.TemporaryDirectory(prefix="detect_score_") as tmp:
        r["transcode_s"], err = transcode_time(os.path.join(case_dir, "marked.mp4"), args.preset, tmp, args.timeout)
    if err:
        r["errors"].append(err)
    try:
        doc, r["detect_s"] = run_detect(args.cmd, os.path.join(case_dir, "marked.mp4"), args.timeout)
        r["errors"] += header_problems(doc, truth)
        r["detected_entries"] = len(doc["frames"])
        by_index, problems = boxes_by_frame(doc, truth["width"], truth["height"])
        r["errors"] += problems
        if r["detected_entries"] != r["truth_frames"]:
            r["errors"].append(f"{r['detected_entries']} frame entries for {r['truth_frames']} truth frames")
        if doc.get("fps") is not None and abs(float(doc["fps"]) - float(truth["fps"])) > 1e-3:
            r["notes"].append(f"fps {doc['fps']} != truth {truth['fps']}")
        per = score_frames(truth, by_index)
        r.update(summarize(per))
        r["debug"] = debug_lists(per)
        r["per_frame"] = {k: [f[k] for f in per] for k in ("coverage", "iou", "iou_union", "false")}
    except DetectError as e:
        r["errors"].append(f"detect on marked.mp4: {e}")
    r["clean_frames_with_box"] = clean_clip_boxes(case_dir, truth, args, r)
    if r.get("detect_s") is not None and r.get("transcode_s"):
        r["ratio"] = r["detect_s"] / r["transcode_s"]
    r["passed"] = passed(r)
    return r


def clean_clip_boxes(case_dir, truth, args, r):
    """Frames of clean.mkv where the detector reports a box (the target is 0); None on failure."""
    try:
        doc, _ = run_detect(args.cmd, os.path.join(case_dir, "clean.mkv"), args.timeout)
        by_index, _ = boxes_by_frame(doc, truth["width"], truth["height"])
        hits = sorted(i for i, boxes in by_index.items() if boxes)
        r["clean_first_with_box"] = [{"index": i, "boxes": [list(b) for b in by_index[i]]} for i in hits[:DEBUG_LIST]]
        return len(hits)
    except DetectError as e:
        r["errors"].append(f"detect on clean.mkv: {e}")
        return None


def passed(r):
    return (not r["errors"]
            and r.get("recall") == 1.0
            and r.get("iou_good_share", 0) >= IOU_GOOD_SHARE
            and r.get("false_frames") == 0
            and r.get("clean_frames_with_box") == 0
            and r.get("ratio") is not None and r["ratio"] <= RATIO_MAX)


# ---------------------------------------------------------------- report
def fmt(v, spec, suffix=""):
    return "-" if v is None else f"{v:{spec}}{suffix}"


def table(results, preset):
    print("| case | frames (detected/truth) | recall (frames covered) | IoU >= 0.8 (frames) "
          "| mean IoU (union bbox) | frames with a false box | clean clip: frames with a box "
          f"| detect s | transcode s ({preset}) | detect/transcode |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        pct = lambda k: fmt(r[k] * 100 if r.get(k) is not None else None, ".1f", "%")
        mean = "-" if r.get("mean_iou") is None else f"{r['mean_iou']:.3f} ({r['mean_iou_union']:.3f})"
        print(f"| {r['case']} | {fmt(r.get('detected_entries'), 'd')}/{r['truth_frames']} | {pct('recall')} "
              f"| {pct('iou_good_share')} | {mean} | {fmt(r.get('false_frames'), 'd')} "
              f"| {fmt(r.get('clean_frames_with_box'), 'd')} | {fmt(r.get('detect_s'), '.2f')} "
              f"| {fmt(r.get('transcode_s'), '.2f')} | {fmt(r.get('ratio'), '.3f')} |")
    print()


def verdicts(results):
    print(f"Targets: recall 100%, IoU >= {IOU_GOOD} on >= {IOU_GOOD_SHARE:.0%} of frames, no false box, "
          f"nothing on the clean clip, detect/transcode <= {RATIO_MAX}, one entry per frame.\n")
    for r in results:
        print(f"- {r['case']}: {'PASS' if r['passed'] else 'FAIL'}")
    print()
    for r in results:
        if not r["passed"]:
            details(r)


def details(r):
    print(f"### {r['case']} (FAIL)\n")
    for e in r["errors"]:
        print("- error: " + e.replace("\n", "\n      "))
    for n in r["notes"]:
        print("- note: " + n)
    if r.get("ratio") is not None and r["ratio"] > RATIO_MAX:
        print(f"- too slow: detect/transcode {r['ratio']:.3f} > {RATIO_MAX}")
    d = r.get("debug", {})
    titles = (("not_covered", f"first frames not covered (< {COVER_MIN:.0%} of the true box)"),
              ("iou_below", f"first frames with IoU < {IOU_GOOD}"),
              ("false_box", "first frames with a false box"))
    for key, title in titles:
        if d.get(key):
            print(f"- {title}:")
            for f in d[key]:
                print(f"    frame {f['index']}: truth {f['truth']} detected {f['boxes']} "
                      f"coverage {f['coverage']:.3f} IoU {f['iou']:.3f}")
    if r.get("clean_first_with_box"):
        print("- first clean-clip frames with a box:")
        for f in r["clean_first_with_box"]:
            print(f"    frame {f['index']}: {f['boxes']}")
    print()


# ---------------------------------------------------------------- main
def find_cases(root, names):
    cases = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "truth.json")))
    if names:
        missing = [n for n in names if n not in cases]
        if missing:
            sys.exit(f"no case {', '.join(missing)} in {root} (cases: {', '.join(cases)})")
        cases = [c for c in cases if c in names]
    return [os.path.join(root, c) for c in cases]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True, help="folder of case folders (each with truth.json)")
    ap.add_argument("--cmd", default="build/unmark detect {input} --json",
                    help="detector shell command; {input} is the clip (default: %(default)s)")
    ap.add_argument("--preset", default="slow", help="x264 preset of the reference transcode (default: %(default)s)")
    ap.add_argument("--case", action="extend", nargs="+", default=[], metavar="NAME", help="only these cases")
    ap.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per command (default: %(default)s)")
    args = ap.parse_args()
    if "{input}" not in args.cmd:
        sys.exit("--cmd must contain {input}")
    cases = find_cases(args.cases, args.case)
    if not cases:
        sys.exit(f"no case folders with truth.json in {args.cases}")
    results = []
    for case in cases:
        print(f"[{os.path.basename(case)}] transcoding and detecting...", file=sys.stderr, flush=True)
        results.append(score_case(case, args))
    table(results, args.preset)
    verdicts(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cmd": args.cmd, "preset": args.preset, "all_passed": all(r["passed"] for r in results),
                       "cases": results}, f, indent=1)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
