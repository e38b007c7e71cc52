#!/usr/bin/python3
"""removal_breakdown: where a removal's error and flicker come from, against the benchmark's truth.

Usage:
    bench/removal_breakdown.py bins  CASE OUTPUT [OUTPUT ...]
    bench/removal_breakdown.py spots CASE OUTPUT [OUTPUT ...]
    bench/removal_breakdown.py acorr CASE OUTPUT
    bench/removal_breakdown.py matte CASE TEMPLATE_DIR

CASE is a case folder of ../shared/bench (clean.mkv, truth.json, truth_alpha.npy); an OUTPUT is any
video of it (a remove's, the marked clip, the clean clip encoded once, ...). wmbench.py score gives one
number per output; these split it:
  bins   luma MSE and mean error, and flicker (mean |dOUT - dCLEAN| between consecutive frames, BGR as
         wmbench scores it), by the true opacity under each pixel of the scored box (the true box
         padded by 6 px): how much comes from the untouched ring around the mark, its soft edge, its
         strokes;
  spots  per place the mark stands: flicker and PSNR over the mark's own pixels (true opacity >= 0.01);
  acorr  per place, the correlation of the luma error (OUTPUT - clean) with itself k frames later over
         the strokes (opacity > 0.5): how much of it a temporal filter could average away;
  matte  the opacity saved by `unmark detect --save-template DIR` against the true one, by opacity, and
         split into its smooth part (5x5 mean) and the rest.
Only frames whose true box is the same as the frame before count towards flicker.

Needs ../shared/bench/wmbench.py (its frame reader), numpy and OpenCV (python3-opencv); run with
/usr/bin/python3.
"""
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import wmbench  # noqa: E402

BINS = [0, 0.01, 0.2, 0.5, 0.7, 0.9, 1.01]
PAD = 6


class Case:
    """A case's truth: the true opacity placed where the mark stands in frame i, and the scored box."""

    def __init__(self, path):
        self.path = path
        self.truth = json.load(open(os.path.join(path, "truth.json")))
        self.alpha = np.load(os.path.join(path, "truth_alpha.npy"))
        ys, xs = np.nonzero(self.alpha > 0.01)
        self.origin = (int(xs.min()), int(ys.min()))  # of the box inside the alpha array

    def box(self, i):
        return tuple(self.truth["boxes"][i])

    def placed_alpha(self, i):
        x1, y1 = self.box(i)[:2]
        ox, oy = x1 - self.origin[0], y1 - self.origin[1]
        ah, aw = self.alpha.shape
        full = np.zeros((self.truth["height"], self.truth["width"]), np.float32)
        full[oy:oy + ah, ox:ox + aw] = self.alpha
        return full

    def scored(self, i):
        x1, y1, x2, y2 = self.box(i)
        return slice(max(0, y1 - PAD), y2 + PAD), slice(max(0, x1 - PAD), x2 + PAD)

    def frames(self, outputs):
        """(i, clean, [output frames]) as float32 BGR, up to the truth's frame count."""
        readers = [wmbench.frames(o) for o in outputs]
        for i, clean in enumerate(wmbench.frames(os.path.join(self.path, "clean.mkv"))):
            if i >= self.truth["frames"]:
                return
            yield i, clean.astype(np.float32), [next(r).astype(np.float32) for r in readers]


def luma(bgr):
    return cv2.cvtColor(bgr.astype(np.uint8), cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32)


def db(mse):
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def cmd_bins(case, outputs):
    k = len(BINS) - 1
    se, bias, flick = np.zeros((len(outputs), k)), np.zeros((len(outputs), k)), np.zeros((len(outputs), k))
    count, fcount = np.zeros(k), np.zeros(k)
    prev = None
    for i, clean, outs in case.frames(outputs):
        sl, a = case.scored(i), case.placed_alpha(i)[case.scored(i)]
        which = np.digitize(a, BINS) - 1
        still = prev is not None and case.box(i) == case.box(i - 1)
        for b in range(k):
            sel = which == b
            count[b] += sel.sum()
            fcount[b] += sel.sum() if still else 0
            for j, o in enumerate(outs):
                e = (luma(o) - luma(clean))[sl][sel]
                se[j, b] += (e ** 2).sum()
                bias[j, b] += e.sum()
                if still:
                    d = np.abs((o - prev[1][j]) - (clean - prev[0]))[sl].mean(-1)
                    flick[j, b] += d[sel].sum()
        prev = (clean, outs)
    for b in range(k):
        if count[b]:
            print(f"opacity {BINS[b]:.2f}-{BINS[b + 1]:.2f} share {count[b] / count.sum():.3f}  " + " | ".join(
                f"mse {se[j, b] / count[b]:.2f} bias {bias[j, b] / count[b]:+.2f} "
                f"flicker {flick[j, b] / max(fcount[b], 1):.3f}" for j in range(len(outputs))))
    for j, o in enumerate(outputs):
        print(f"{o}: luma PSNR {db(se[j].sum() / count.sum()):.2f}, flicker {flick[j].sum() / fcount.sum():.3f}")


def cmd_spots(case, outputs):
    spots, prev = {}, None
    for i, clean, outs in case.frames(outputs):
        sl = case.scored(i)
        mark = case.placed_alpha(i)[sl] >= 0.01
        s = spots.setdefault(case.box(i)[:2], {"frames": 0, "se": np.zeros(len(outs)),
                                               "flick": np.zeros(len(outs)), "pairs": 0})
        s["frames"] += 1
        still = prev is not None and case.box(i) == case.box(i - 1)
        s["pairs"] += still
        for j, o in enumerate(outs):
            s["se"][j] += (((o - clean)[sl][mark]) ** 2).mean()
            if still:
                s["flick"][j] += np.abs((o - prev[1][j]) - (clean - prev[0]))[sl][mark].mean()
        prev = (clean, outs)
    for place, s in spots.items():
        print(f"at {place}: {s['frames']} frames  " + " | ".join(
            f"flicker {s['flick'][j] / max(s['pairs'], 1):.3f} PSNR {db(s['se'][j] / s['frames']):.2f}"
            for j in range(len(outputs))))


def cmd_acorr(case, output):
    errors = []
    for i, clean, (o,) in case.frames([output]):
        x1, y1 = case.box(i)[:2]
        ox, oy = x1 - case.origin[0], y1 - case.origin[1]
        ah, aw = case.alpha.shape
        e = (luma(o) - luma(clean))[oy:oy + ah, ox:ox + aw][case.alpha > 0.5]
        errors.append((case.box(i)[:2], e - e.mean()))
    for place in sorted(set(p for p, _ in errors)):
        at = [i for i, (p, _) in enumerate(errors) if p == place]
        var = np.mean([np.mean(errors[i][1] ** 2) for i in at])
        cells = []
        for lag in (1, 2, 4, 8, 16, 32):
            c = [np.mean(errors[i][1] * errors[i + lag][1]) for i in at
                 if i + lag < len(errors) and errors[i + lag][0] == place]
            cells.append(f"{lag}:{np.mean(c) / var:.2f}" if c else f"{lag}:-")
        print(f"at {place}: error variance {var:.2f}, correlation at lag " + " ".join(cells))


def cmd_matte(case, template):
    mark = json.load(open(os.path.join(template, "template.json")))["marks"][0]
    fitted = cv2.imread(os.path.join(template, mark["alpha"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
    fitted /= 65535.0 if fitted.max() > 255 else 255.0
    true = case.placed_alpha(0).astype(np.float64)
    placed = np.zeros_like(true)
    bx, by = mark["box"][:2]
    placed[by:by + fitted.shape[0], bx:bx + fitted.shape[1]] = fitted
    d = placed - true
    smooth = cv2.blur(d, (5, 5))
    for lo, hi in zip(BINS[1:-1], BINS[2:]):
        sel = (true >= lo) & (true < hi)
        if sel.sum():
            print(f"true opacity {lo:.2f}-{hi:.2f}: {sel.sum()} px, error mean {d[sel].mean():+.4f} "
                  f"rms {np.sqrt((d[sel] ** 2).mean()):.4f} (smooth part {np.sqrt((smooth[sel] ** 2).mean()):.4f}, "
                  f"rest {np.sqrt(((d - smooth)[sel] ** 2).mean()):.4f})")
    print(f"colour {mark['colour']}, largest opacity fitted {fitted.max():.3f}, true {case.alpha.max():.3f}")


def main(argv):
    verbs = {"bins": (cmd_bins, 2), "spots": (cmd_spots, 2), "acorr": (cmd_acorr, 2), "matte": (cmd_matte, 2)}
    if len(argv) < 3 or argv[0] not in verbs or len(argv) < verbs[argv[0]][1] + 1:
        print(__doc__.strip())
        return 2
    fn, _ = verbs[argv[0]]
    case = Case(argv[1])
    if argv[0] in ("bins", "spots"):
        fn(case, argv[2:])
    else:
        fn(case, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
