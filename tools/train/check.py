"""Prototype pixel checker: does a 32x32 RGB image (uint8) satisfy a caption of dataset.py?

Algorithm (the C verifier mirrors it exactly; all constants are below):
  1. foreground = pixels whose max(R,G,B) >= FG_MIN (110).  (Backgrounds are <= 70.)
  2. each foreground pixel gets the nearest colour prototype (dataset.COLOURS, Euclidean RGB
     distance); pixels farther than MAX_DIST (110) from every prototype are ignored.
  3. per colour: 4-connected components; the largest one is "the object" of that colour if
     its area >= MIN_AREA (6) pixels, else the colour is absent.
  4. shape: with r = y - ymin, top = pixels with r < h//2, bottom = pixels with r >= h - h//2
     (the middle row of an odd-height box counts for neither); triangle if bottom >= 1.6 * top (our triangles point up: ratio ~3, circles
     and squares ~1); else square if at least 3 of the 4 bbox corner pixels belong to the
     component; else circle.
  5. size from extent = max(bbox_w, bbox_h): large if >= 12 else small.
  6. position from the centroid (cx, cy), pixel centres at +0.5, image 32x32:
       left: cx < 13 and |cy-16| < 6    right: cx > 19 and |cy-16| < 6
       top:  cy < 13 and |cx-16| < 6    bottom: cy > 19 and |cx-16| < 6
       center: |cx-16| <= 4 and |cy-16| <= 4
     relations: "A left of B": cx_A < cx_B - 5; "right of": cx_A > cx_B + 5;
                "above": cy_A < cy_B - 5;      "below": cy_A > cy_B + 5.
Result per caption: colour (every named colour present), shape (and each has its shape),
position (where / relation holds, given the colours are present), size (when stated),
ok = all of them.  `colour_pos` = colour and position (the metric of the earlier study).
"""
import re

import numpy as np

from dataset import COLOURS

FG_MIN, MAX_DIST, MIN_AREA = 110, 110.0, 6
CNAMES = list(COLOURS)
PROTO = np.array([COLOURS[c] for c in CNAMES], np.float32)

RX_SINGLE = re.compile(r"^a (?:(small|large) )?(\w+) (\w+) (?:on the|at the|in the) (left|right|top|bottom|center)$")
RX_PAIR = re.compile(r"^a (\w+) (\w+) (left of|right of|above|below) a (\w+) (\w+)$")


def parse(caption):
    m = RX_SINGLE.match(caption.strip())
    if m:
        return {"kind": "single", "size": m.group(1), "colour": m.group(2), "shape": m.group(3), "where": m.group(4)}
    m = RX_PAIR.match(caption.strip())
    if m:
        return {"kind": "pair", "a": (m.group(1), m.group(2)), "rel": m.group(3), "b": (m.group(4), m.group(5))}
    raise ValueError(f"caption not in grammar: {caption!r}")


def _components(mask):
    """4-connected components -> list of pixel-index arrays (row-major flood fill)."""
    H, W = mask.shape
    lab = np.zeros((H, W), np.int32)
    comps = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if lab[y0, x0]:
            continue
        n = len(comps) + 1
        lab[y0, x0] = n
        stack = [(y0, x0)]
        pix = []
        while stack:
            y, x = stack.pop()
            pix.append((y, x))
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < H and 0 <= xx < W and mask[yy, xx] and not lab[yy, xx]:
                    lab[yy, xx] = n
                    stack.append((yy, xx))
        comps.append(np.array(pix))
    return comps


def find_objects(img):
    """-> {colour: {"area", "cx", "cy", "w", "h", "shape", "size"}} for colours present."""
    img = np.asarray(img).astype(np.float32)
    fg = img.max(-1) >= FG_MIN
    d = ((img[:, :, None, :] - PROTO[None, None]) ** 2).sum(-1) ** 0.5
    idx = d.argmin(-1)
    ok = fg & (d.min(-1) <= MAX_DIST)
    out = {}
    for ci, name in enumerate(CNAMES):
        m = ok & (idx == ci)
        if m.sum() < MIN_AREA:
            continue
        comps = _components(m)
        big = max(comps, key=len)
        if len(big) < MIN_AREA:
            continue
        ys, xs = big[:, 0], big[:, 1]
        w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        fill = len(big) / float(w * h)
        y0, x0, x1, y1 = ys.min(), xs.min(), xs.max(), ys.max()
        r = ys - y0
        top = int((r < h // 2).sum())
        bottom = int((r >= h - h // 2).sum())
        pset = set(zip(ys.tolist(), xs.tolist()))
        corners = sum((yy, xx) in pset for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)))
        if bottom >= 1.6 * top:
            shape = "triangle"
        elif corners >= 3:
            shape = "square"
        else:
            shape = "circle"
        out[name] = {"area": len(big), "cx": xs.mean() + 0.5, "cy": ys.mean() + 0.5, "w": int(w), "h": int(h),
                     "fill": fill, "shape": shape, "size": "large" if max(w, h) >= 12 else "small"}
    return out


def _where_ok(o, where):
    cx, cy = o["cx"], o["cy"]
    return {"left": cx < 13 and abs(cy - 16) < 6, "right": cx > 19 and abs(cy - 16) < 6,
            "top": cy < 13 and abs(cx - 16) < 6, "bottom": cy > 19 and abs(cx - 16) < 6,
            "center": abs(cx - 16) <= 4 and abs(cy - 16) <= 4}[where]


def check(img, caption):
    p = parse(caption)
    objs = find_objects(img)
    r = {}
    if p["kind"] == "single":
        o = objs.get(p["colour"])
        r["colour"] = o is not None
        r["shape"] = bool(o and o["shape"] == p["shape"])
        r["position"] = bool(o and _where_ok(o, p["where"]))
        r["size"] = bool(o and (p["size"] is None or o["size"] == p["size"]))
    else:
        a, b = objs.get(p["a"][0]), objs.get(p["b"][0])
        r["colour"] = a is not None and b is not None
        r["shape"] = bool(r["colour"] and a["shape"] == p["a"][1] and b["shape"] == p["b"][1])
        if r["colour"]:
            dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
            r["position"] = {"left of": dx < -5, "right of": dx > 5, "above": dy < -5, "below": dy > 5}[p["rel"]]
        else:
            r["position"] = False
        r["size"] = True
    r["colour_pos"] = r["colour"] and r["position"]
    r["ok"] = r["colour"] and r["shape"] and r["position"] and r["size"]
    return r


def score(imgs, captions):
    """Mean of each check over a batch -> dict."""
    rs = [check(i, c) for i, c in zip(imgs, captions)]
    return {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}


if __name__ == "__main__":
    # sanity: ground-truth renders must pass (nearly) always; mismatched captions must fail
    from dataset import render_batch, negative_caption
    rng = np.random.default_rng(5)
    imgs, caps, scenes = render_batch(rng, 600, full=True)
    s = score(imgs, caps)
    print("ground truth:", {k: round(v, 3) for k, v in s.items()})
    bad = [(c, check(i, c)) for i, c in zip(imgs, caps) if not check(i, c)["ok"]]
    for c, r in bad[:10]:
        print("  FAIL", c, r)
    negs = [negative_caption(sc, rng) for sc in scenes]
    print("negatives:", {k: round(v, 3) for k, v in score(imgs, negs).items()})
