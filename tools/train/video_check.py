"""Pixel checker for the video set: does a clip [F, 32, 32, 3] (uint8) show its caption?

Per frame, check.find_objects (the image checker: foreground max(R,G,B) >= 110, nearest colour
prototype within 110, largest 4-connected component per colour >= 6 px, shape from the
top/bottom balance and the box corners, centroid).  Then, for each object the caption names:
  colour:  its colour is found in >= 5/8 of the frames (PRESENT_MIN / 8);
  shape:   the named shape is the strict majority of the shapes read in the frames where the
           colour is found;
  motion:  least-squares line through the centroids (frame index -> cx, cy) of those frames:
           velocity (vx, vy) px/frame; the direction is the axis with the larger |v| when
           |v_major| >= V_MIN (0.5) and |v_major| >= 2 |v_minor|, its sign giving
           left/right (x) or up/down (y, up = decreasing y); otherwise "none";
  ok = every named object passes colour, shape and motion.
The C verifier (tools/cli/video_verifier.c) implements the same rules.  The ground truth of a
rendered clip is its scene; `python3 video_check.py` prints the pass rate of the checker on
ground-truth renders and on captions with one attribute changed.
"""
import numpy as np

from check import find_objects
from video_data import parse, DIRS

PRESENT_MIN, V_MIN = 5, 0.5


def track(clip):
    """-> per frame list of find_objects dicts."""
    return [find_objects(f) for f in clip]


def fit_velocity(fs, xs, ys):
    fs = np.asarray(fs, np.float64)
    fm = fs.mean()
    d = ((fs - fm) ** 2).sum()
    if d == 0:
        return 0.0, 0.0
    vx = ((fs - fm) * (np.asarray(xs) - np.mean(xs))).sum() / d
    vy = ((fs - fm) * (np.asarray(ys) - np.mean(ys))).sum() / d
    return float(vx), float(vy)


def direction(vx, vy):
    ax, ay = abs(vx), abs(vy)
    if max(ax, ay) < V_MIN:
        return "none"
    if ax >= 2 * ay:
        return "right" if vx > 0 else "left"
    if ay >= 2 * ax:
        return "down" if vy > 0 else "up"
    return "none"


def measure(frames, colour):
    """-> dict(frames present, majority shape (or None), vx, vy, direction, per-frame centroids)."""
    fs = [i for i, objs in enumerate(frames) if colour in objs]
    shapes = [frames[i][colour]["shape"] for i in fs]
    cx = [frames[i][colour]["cx"] for i in fs]
    cy = [frames[i][colour]["cy"] for i in fs]
    maj = None
    for s in set(shapes):
        if 2 * shapes.count(s) > len(shapes):
            maj = s
    vx, vy = fit_velocity(fs, cx, cy) if len(fs) >= 2 else (0.0, 0.0)
    return {"present": len(fs), "shape": maj, "vx": vx, "vy": vy, "dir": direction(vx, vy),
            "track": list(zip(fs, cx, cy))}


def check(clip, text, frames=None):
    spec = parse(text)
    frames = frames if frames is not None else track(clip)
    r = {"colour": True, "shape": True, "motion": True}
    for colour, shape, d in spec:
        m = measure(frames, colour)
        present = m["present"] * 8 >= PRESENT_MIN * len(frames)
        r["colour"] &= present
        r["shape"] &= present and m["shape"] == shape
        r["motion"] &= present and m["dir"] == d
    r["ok"] = r["colour"] and r["shape"] and r["motion"]
    return r


def score(clips, captions):
    rs = [check(c, t) for c, t in zip(clips, captions)]
    return {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}


def negative_caption(text, rng):
    """The caption with exactly one attribute of one object changed."""
    from video_data import CNAMES, SHAPES
    spec = [list(o) for o in parse(text)]
    i = rng.integers(len(spec))
    k = rng.integers(3)
    used = {o[0] for o in spec}
    pool = ([c for c in CNAMES if c not in used], [s for s in SHAPES if s != spec[i][1]],
            [d for d in DIRS if d != spec[i][2]])[k]
    spec[i][k] = pool[rng.integers(len(pool))]
    return " and ".join(f"a {c} {s} moving {d}" for c, s, d in spec)


if __name__ == "__main__":
    from video_data import render_batch
    rng = np.random.default_rng(5)
    clips, caps, _ = render_batch(rng, 400)
    print("ground truth:", {k: round(v, 3) for k, v in score(clips, caps).items()})
    bad = [(c, check(v, c)) for v, c in zip(clips, caps) if not check(v, c)["ok"]]
    for c, r in bad[:10]:
        print("  FAIL", c, r)
    negs = [negative_caption(c, rng) for c in caps]
    print("one attribute changed:", {k: round(v, 3) for k, v in score(clips, negs).items()})
