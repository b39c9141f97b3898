"""Seeded procedural video set: one or two coloured shapes moving over a textured background.

Clips are F = 8 frames of 32x32 RGB (uint8, [F, H, W, 3]).  The shapes, colours and the
background come from dataset.py (the text-to-image set), so the same pixel rules hold: every
background channel <= 70, every object colour has a channel >= 170 (what the checkers rely on).

Grammar (all lower case):
  single: "a <colour> <shape> moving <dir>"
  pair:   "a <colour> <shape> moving <dir> and a <colour> <shape> moving <dir>"  (colours differ)
  colour: red green blue yellow purple cyan white orange;  shape: circle square triangle;
  dir:    left right up down   ("up" = towards the top row)

Motion: each object moves in a straight line at v px/frame along its direction, with a
perpendicular drift |u| <= 0.15 px/frame; its start is uniform among the places that keep the
whole shape inside the frame for all 8 frames.  Size s (circle radius s; square half-side
0.9 s; triangle base = height = 2.2 s): a single object s in [4.5, 6.0], v in [1.3, 2.0]
(9-14 px over the clip); each object of a pair s in [3.5, 4.5], v in [1.2, 1.7], and the two
objects' boxes never overlap (1 px margin) in any frame (rejection sampling).
The background (plain, noisy, striped or checkered) is static over the clip.

Use: `render_batch(rng, n)` -> (uint8 clips (n, F, 32, 32, 3), captions, scenes);
`heldout_prompts(n)` -> captions from a seed the training never uses;
`render_prompt(caption, rng)` -> a clip for a caption of the grammar (fixtures, evaluation).
A scene is {"objects": [{"colour", "shape", "dir", "s", "x0", "y0", "vx", "vy"}, ...]}.
"""
import re

import numpy as np

from dataset import COLOURS, SHAPES, H, W, background, shape_mask, _colour

F = 8
DIRS = ("left", "right", "up", "down")
DIR_V = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
CNAMES = list(COLOURS)
S_RANGE = (4.5, 6.0)        # single object
V_RANGE = (1.3, 2.0)
PAIR_S_RANGE = (3.5, 4.5)   # each object of a pair (smaller, so that two paths fit in 32x32)
PAIR_V_RANGE = (1.2, 1.7)
DRIFT = 0.15
P_SINGLE = 0.5

RX_OBJ = r"a (\w+) (\w+) moving (\w+)"
RX = re.compile(r"^" + RX_OBJ + r"(?: and " + RX_OBJ + r")?$")


def half_extent(shape, s):
    """(left/right, up, down) extents of a shape around its centre, in px."""
    if shape == "circle":
        return s, s, s
    if shape == "square":
        return 0.9 * s, 0.9 * s, 0.9 * s
    return 1.1 * s, 1.1 * s, 1.1 * s  # triangle: base 2.2 s, height 2.2 s centred on cy


def _box(o, f):
    ex, eu, ed = half_extent(o["shape"], o["s"])
    x, y = o["x0"] + f * o["vx"], o["y0"] + f * o["vy"]
    return x - ex, y - eu, x + ex, y + ed


def _place(o, rng):
    """Pick a start so that the shape stays inside the frame (0.5 px margin) in every frame."""
    ex, eu, ed = half_extent(o["shape"], o["s"])
    xs = [0.5 + ex - min(0, o["vx"]) * (F - 1), W - 0.5 - ex - max(0, o["vx"]) * (F - 1)]
    ys = [0.5 + eu - min(0, o["vy"]) * (F - 1), H - 0.5 - ed - max(0, o["vy"]) * (F - 1)]
    if xs[0] > xs[1] or ys[0] > ys[1]:
        return False
    o["x0"], o["y0"] = rng.uniform(*xs), rng.uniform(*ys)
    return True


def _object(rng, colour, shape, direction, pair=False):
    s = rng.uniform(*(PAIR_S_RANGE if pair else S_RANGE))
    v, u = rng.uniform(*(PAIR_V_RANGE if pair else V_RANGE)), rng.uniform(-DRIFT, DRIFT)
    dx, dy = DIR_V[direction]
    o = {"colour": colour, "shape": shape, "dir": direction, "s": s,
         "vx": dx * v + (u if dx == 0 else 0.0), "vy": dy * v + (u if dy == 0 else 0.0)}
    if not _place(o, rng):
        raise AssertionError("object cannot fit")
    return o


def _overlap(a, b):
    for f in range(F):
        ax0, ay0, ax1, ay1 = _box(a, f)
        bx0, by0, bx1, by1 = _box(b, f)
        if ax0 - 1 < bx1 and bx0 - 1 < ax1 and ay0 - 1 < by1 and by0 - 1 < ay1:
            return True
    return False


def scene_from_spec(spec, rng):
    """spec: list of (colour, shape, dir) -> a scene with sampled sizes, speeds and places
    (the pair re-drawn until the objects never overlap)."""
    for _ in range(200):
        objs = [_object(rng, c, s, d, len(spec) == 2) for c, s, d in spec]
        if len(objs) < 2 or not _overlap(objs[0], objs[1]):
            return {"objects": objs}
    raise AssertionError(f"no non-overlapping placement for {spec}")


def random_spec(rng):
    if rng.random() < P_SINGLE:
        return [(CNAMES[rng.integers(len(CNAMES))], SHAPES[rng.integers(3)], DIRS[rng.integers(4)])]
    c1, c2 = rng.choice(len(CNAMES), size=2, replace=False)
    return [(CNAMES[c1], SHAPES[rng.integers(3)], DIRS[rng.integers(4)]),
            (CNAMES[c2], SHAPES[rng.integers(3)], DIRS[rng.integers(4)])]


def random_scene(rng):
    return scene_from_spec(random_spec(rng), rng)


def caption(sc):
    return " and ".join(f"a {o['colour']} {o['shape']} moving {o['dir']}" for o in sc["objects"])


def parse(text):
    """caption -> list of (colour, shape, dir); ValueError outside the grammar."""
    m = RX.match(" ".join(text.strip().lower().split()))
    if not m:
        raise ValueError(f"caption not in the video grammar: {text!r}")
    g = [x for x in m.groups() if x is not None]
    spec = [tuple(g[i:i + 3]) for i in range(0, len(g), 3)]
    for c, s, d in spec:
        if c not in COLOURS or s not in SHAPES or d not in DIRS:
            raise ValueError(f"caption not in the video grammar: {text!r} (word {c!r}/{s!r}/{d!r})")
    if len(spec) == 2 and spec[0][0] == spec[1][0]:
        raise ValueError(f"the two objects must differ in colour: {text!r}")
    return spec


def render(sc, rng):
    """scene -> uint8 clip [F, H, W, 3] (static background, hard-edged shapes)."""
    bg = background(rng)
    cols = [_colour(rng, o["colour"]) for o in sc["objects"]]
    clip = np.empty((F, H, W, 3), np.uint8)
    for f in range(F):
        img = bg.copy()
        for o, col in zip(sc["objects"], cols):
            img[shape_mask(o["shape"], o["x0"] + f * o["vx"], o["y0"] + f * o["vy"], o["s"])] = col
        clip[f] = np.round(img).astype(np.uint8)
    return clip


def render_batch(rng, n):
    scenes = [random_scene(rng) for _ in range(n)]
    clips = np.stack([render(sc, rng) for sc in scenes])
    return clips, [caption(sc) for sc in scenes], scenes


def render_prompt(text, rng):
    sc = scene_from_spec(parse(text), rng)
    return render(sc, rng), sc


def heldout_prompts(n=40, seed=20261206):
    """Evaluation prompts drawn with a seed the training never uses (training draws from
    seeds 0.. with the step number folded in, see train_video.py)."""
    rng = np.random.default_rng(seed)
    return [caption(scene_from_spec(random_spec(rng), rng)) for _ in range(n)]


def all_words():
    return sorted(set(CNAMES) | set(SHAPES) | set(DIRS) | {"a", "moving", "and"})


if __name__ == "__main__":
    import sys
    rng = np.random.default_rng(0)
    clips, caps, _ = render_batch(rng, 4)
    print(clips.shape, clips.dtype)
    for c in caps:
        print(" ", c)
    if len(sys.argv) > 1:  # write a strip of the first clips as a PNG
        from common import write_png
        strip = np.concatenate([np.concatenate(list(c), 1) for c in clips], 0)
        write_png(sys.argv[1], strip)
