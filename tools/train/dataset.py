"""Seeded procedural 32x32 RGB data set of one or two coloured shapes with captions.

Scenes (`Scene` = list of objects + relation) are drawn from a small grammar and rendered
with hard edges (pixel centres at x+0.5, y+0.5) on a dark background that is plain, noisy or
lightly striped/checkered (every background channel <= 70; every object colour has a
channel >= 170, which is what check.py relies on).

Grammar (all lower case):
  single: "a [small|large] <colour> <shape> <where>"   (size word present with p = 0.75)
          where = on the left | on the right | at the top | at the bottom | in the center
  pair:   "a <colour> <shape> <rel> a <colour> <shape>"  rel = left of | right of | above | below
          (the two colours differ)
  colour: red green blue yellow purple cyan white orange;  shape: circle square triangle

Geometry (s = "radius"): circle radius s; square half-side 0.9 s; triangle pointing up,
base = height = 2.2 s.  small s in [3.5, 4.5], large s in [7, 8.5], pair objects s in [3.5, 5.5].
single-object centres: left (8.5,16) right (23.5,16) top (16,8.5) bottom (16,23.5)
center (16,16), each +-1.5 px jitter (large ones pushed 1 px inwards);
pairs: "A left of B" -> A.x in [6,11], B.x in [21,26], both y in [10,22] ("above" likewise on y).

Use: `render_batch(rng, n)` -> (uint8 images (n,32,32,3), captions, scenes);
`heldout_prompts(n)` -> fully specified captions from a different seed (for evaluation);
`negative_caption(scene, rng)` -> the caption with exactly one attribute changed
(hard negatives for the CLIP reward); `negative_scene(scene, rng, claim)` -> the scene with
one named claim changed, `rounded_scene` -> its squares with rounded corners, `render_twin`
-> renders of two scenes that differ only there (minimal pairs, image-side hard negatives).
"""
import numpy as np

COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 235), "yellow": (235, 215, 40),
    "purple": (180, 60, 220), "cyan": (40, 210, 220), "white": (235, 235, 235), "orange": (245, 135, 30),
}
SHAPES = ("circle", "square", "triangle")
WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
         "center": "in the center"}
WHERE_XY = {"left": (8.5, 16), "right": (23.5, 16), "top": (16, 8.5), "bottom": (16, 23.5), "center": (16, 16)}
RELS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}
SIZE_S = {"small": (3.5, 4.5), "large": (7.0, 8.5)}
PAIR_S = (3.5, 5.5)
H = W = 32
_YY, _XX = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
CNAMES = list(COLOURS)


def shape_mask(shape, cx, cy, s, round_frac=0.0):
    """round_frac > 0 (squares only): corners rounded with radius round_frac * half-side,
    the shape the text-to-image model tends to draw; the checker calls it a circle once the
    corner pixels are gone, so it is a hard negative for "square" (never a positive)."""
    if shape == "circle":
        return (_XX - cx) ** 2 + (_YY - cy) ** 2 <= s * s
    if shape == "square":
        h = 0.9 * s
        ax, ay = np.abs(_XX - cx), np.abs(_YY - cy)
        m = (ax <= h) & (ay <= h)
        if round_frac > 0:
            r = round_frac * h
            qx, qy = ax - (h - r), ay - (h - r)
            m &= ~((qx > 0) & (qy > 0) & (qx * qx + qy * qy > r * r))
        return m
    if shape == "triangle":
        h = 2.2 * s
        top = cy - h / 2
        f = (_YY - top) / h  # 0 at apex, 1 at base
        return (f >= 0) & (f <= 1) & (np.abs(_XX - cx) <= f * h / 2)
    raise ValueError(shape)


def background(rng):
    base = rng.uniform(0, 45, size=3).astype(np.float32)
    img = np.broadcast_to(base, (H, W, 3)).copy()
    kind = rng.integers(0, 10)
    if kind < 4:
        pass  # plain
    elif kind < 7:
        img += rng.normal(0, 5, size=(H, W, 1)).astype(np.float32)
    else:
        amp = rng.uniform(5, 12)
        period = rng.integers(4, 9)
        if rng.integers(0, 2):
            pat = ((_XX // period + _YY // period) % 2)  # checker
        else:
            pat = ((_XX if rng.integers(0, 2) else _YY) // period) % 2  # stripes
        img += (amp * pat)[..., None]
    return np.clip(img, 0, 70)


def random_scene(rng, full=False):
    """A scene dict. full=True: always state the size (evaluation prompts)."""
    if rng.random() < 0.5:
        size = "small" if rng.random() < 0.5 else "large"
        return {"kind": "single", "colour": CNAMES[rng.integers(len(CNAMES))],
                "shape": SHAPES[rng.integers(3)], "size": size,
                "say_size": bool(full or rng.random() < 0.75),
                "where": list(WHERE)[rng.integers(5)]}
    c1, c2 = rng.choice(len(CNAMES), size=2, replace=False)
    return {"kind": "pair", "a": {"colour": CNAMES[c1], "shape": SHAPES[rng.integers(3)]},
            "b": {"colour": CNAMES[c2], "shape": SHAPES[rng.integers(3)]},
            "rel": list(RELS)[rng.integers(4)]}


def caption(sc):
    if sc["kind"] == "single":
        sz = sc["size"] + " " if sc["say_size"] else ""
        return f"a {sz}{sc['colour']} {sc['shape']} {WHERE[sc['where']]}"
    a, b = sc["a"], sc["b"]
    return f"a {a['colour']} {a['shape']} {RELS[sc['rel']]} a {b['colour']} {b['shape']}"


def _colour(rng, name):
    return np.clip(np.array(COLOURS[name], np.float32) + rng.uniform(-12, 12, size=3), 0, 255)


def render(sc, rng):
    img = background(rng)
    if sc["kind"] == "single":
        s = rng.uniform(*SIZE_S[sc["size"]])
        cx, cy = WHERE_XY[sc["where"]]
        cx += rng.uniform(-1.5, 1.5)
        cy += rng.uniform(-1.5, 1.5)
        if sc["size"] == "large":  # keep big shapes inside the frame
            cx += np.sign(16 - cx)
            cy += np.sign(16 - cy)
        img[shape_mask(sc["shape"], cx, cy, s, sc.get("round", 0.0))] = _colour(rng, sc["colour"])
    else:
        lo, hi = rng.uniform(6, 11), rng.uniform(21, 26)
        o1, o2 = rng.uniform(10, 22), rng.uniform(10, 22)
        rel = sc["rel"]
        if rel in ("left", "right"):
            (ax, bx) = (lo, hi) if rel == "left" else (hi, lo)
            pa, pb = (ax, o1), (bx, o2)
        else:
            (ay, by) = (lo, hi) if rel == "above" else (hi, lo)
            pa, pb = (o1, ay), (o2, by)
        for o, (x, y) in ((sc["a"], pa), (sc["b"], pb)):
            img[shape_mask(o["shape"], x, y, rng.uniform(*PAIR_S), o.get("round", 0.0))] = _colour(rng, o["colour"])
    return np.round(img).astype(np.uint8)


def render_batch(rng, n, full=False):
    scenes = [random_scene(rng, full) for _ in range(n)]
    imgs = np.stack([render(sc, rng) for sc in scenes])
    return imgs, [caption(sc) for sc in scenes], scenes


def heldout_prompts(n=50, seed=20240917):
    """Evaluation prompts (sizes always stated) drawn with a seed the training never uses."""
    rng = np.random.default_rng(seed)
    return [caption(random_scene(rng, full=True)) for _ in range(n)]


def negative_caption(sc, rng):
    """Caption of `sc` with exactly one attribute changed (colour, shape, size, position,
    relation, or the two objects swapped)."""
    return caption(negative_scene(sc, rng)[0])


CLAIMS = ("colour", "shape", "size", "position", "relation", "swap")


def claims(sc):
    """The claims of a scene's caption that a one-attribute change can falsify."""
    if sc["kind"] == "single":
        return ["colour", "shape", "position"] + (["size"] if sc["say_size"] else [])
    return ["colour", "shape", "relation", "swap"]


def negative_scene(sc, rng, claim=None):
    """-> (scene with exactly one claim changed, the claim).  claim: one of claims(sc), or
    None for a random one (the draw order is the historical negative_caption's)."""
    import copy
    sc = copy.deepcopy(sc)
    if sc["kind"] == "single":
        opts = ["colour", "shape", "where"] + (["size"] if sc["say_size"] else [])
        k = opts[rng.integers(len(opts))] if claim is None else {"position": "where"}.get(claim, claim)
        if k == "colour":
            sc["colour"] = rng.choice([c for c in CNAMES if c != sc["colour"]])
        elif k == "shape":
            sc["shape"] = rng.choice([s for s in SHAPES if s != sc["shape"]])
        elif k == "size":
            sc["size"] = "large" if sc["size"] == "small" else "small"
        elif k == "where":
            sc["where"] = rng.choice([w for w in WHERE if w != sc["where"]])
        else:
            raise ValueError(claim)
        return sc, {"where": "position"}.get(k, k)
    k = rng.integers(4) if claim is None else ["colour", "shape", "relation", "swap"].index(claim)
    o = sc["a"] if rng.random() < 0.5 else sc["b"]
    if k == 0:
        used = {sc["a"]["colour"], sc["b"]["colour"]}
        o["colour"] = rng.choice([c for c in CNAMES if c not in used])
    elif k == 1:
        o["shape"] = rng.choice([s for s in SHAPES if s != o["shape"]])
    elif k == 2:
        sc["rel"] = {"left": "right", "right": "left", "above": "below", "below": "above"}[sc["rel"]]
    else:
        sc["a"], sc["b"] = sc["b"], sc["a"]  # colours differ, so this always changes it
    return sc, ["colour", "shape", "relation", "swap"][k]


def rounded_scene(sc, rng):
    """The scene with its square(s) drawn with rounded corners (None if it has no square)."""
    import copy
    sc = copy.deepcopy(sc)
    objs = [sc] if sc["kind"] == "single" else [sc["a"], sc["b"]]
    sq = [o for o in objs if o["shape"] == "square"]
    if not sq:
        return None
    for o in sq:
        o["round"] = float(rng.uniform(0.4, 1.0))
    return sc


def render_twin(sc, rng):
    """A generator in the same state as rng: rendering another scene of the same kind with it
    gives the same background, jitter and sizes (a minimal pair)."""
    r = np.random.default_rng()
    r.bit_generator.state = rng.bit_generator.state
    return r


def all_caption_texts(n=20000, seed=1):
    rng = np.random.default_rng(seed)
    return [caption(random_scene(rng)) for _ in range(n)] + [caption(random_scene(rng, True)) for _ in range(n // 4)]


if __name__ == "__main__":
    import sys
    rng = np.random.default_rng(0)
    imgs, caps, _ = render_batch(rng, 64)
    for c in caps[:10]:
        print(c)
    if len(sys.argv) > 1:  # write a contact sheet PPM
        g = imgs.reshape(8, 8, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(256, 256, 3)
        with open(sys.argv[1], "wb") as f:
            f.write(b"P6 256 256 255\n" + g.tobytes())
