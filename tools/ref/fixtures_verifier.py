#!/usr/bin/python3
"""Regenerate the verifier's test fixtures: ground-truth renders of the shapes data set.

Writes tests/data/verifier/atlas.png — N clean 32x32 renders from tools/train/dataset.py laid
out as a grid of tiles, row-major, COLS tiles per row — and tests/data/verifier/captions.txt,
one line per tile: "<index>\t<caption>\t<negative caption>\t<P>\t<Q>", where the negative is
the same scene with exactly one attribute changed (dataset.negative_caption: colour, shape,
size, position, relation, or the two objects swapped) and P, Q (0/1) are the verdicts of the
Python prototype checker (tools/train/check.py) on the caption and on the negative.
tests/cli/test_verifier.c checks that the C verifier accepts the captions, rejects the negatives,
and agrees with the prototype on every tile. Also writes sample_single.png and sample_pair.png,
two single tiles with their caption in a "prompt" tEXt chunk (as evoke writes it), for
tests/cli/cli_verify.sh.

Run with Debian's interpreter, which has numpy:  /usr/bin/python3 tools/ref/fixtures_verifier.py
The PNG is written with the standard library (zlib) so nothing beyond numpy is needed.
"""
import os
import struct
import sys
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import check  # noqa: E402
import dataset  # noqa: E402

N, COLS, SEED = 320, 16, 20250611


def write_png(path, img, text=None):
    """8-bit RGB PNG; each row uses the filter (none/sub/up) that compresses it best; `text`
    ({key: ASCII value}) goes into tEXt chunks."""
    h, w, _ = img.shape
    a = img.astype(np.int16)
    raw = bytearray()
    for y in range(h):
        row = a[y].reshape(-1)
        sub = row.copy()
        sub[3:] -= row[:-3]
        up = row - a[y - 1].reshape(-1) if y else row.copy()
        cands = [(0, row), (1, sub), (2, up)]
        ft, best = min(cands, key=lambda c: np.abs(((c[1] + 128) % 256) - 128).sum())
        raw.append(ft)
        raw += (best % 256).astype(np.uint8).tobytes()

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    for k, v in (text or {}).items():
        data += chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("ascii"))
    data += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    out = os.path.join(ROOT, "tests", "data", "verifier")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    imgs, caps, scenes = dataset.render_batch(rng, N)
    negs = [dataset.negative_caption(sc, rng) for sc in scenes]
    rows = (N + COLS - 1) // COLS
    atlas = np.zeros((rows * 32, COLS * 32, 3), np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, COLS)
        atlas[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32] = im
    write_png(os.path.join(out, "atlas.png"), atlas)
    with open(os.path.join(out, "captions.txt"), "w") as f:
        f.write(f"# {N} tiles of 32x32, {COLS} per row, in atlas.png; "
                "index<TAB>caption<TAB>negative<TAB>check.py on caption<TAB>check.py on negative\n")
        for i, (im, c, n) in enumerate(zip(imgs, caps, negs)):
            p, q = int(check.check(im, c)["ok"]), int(check.check(im, n)["ok"])
            f.write(f"{i}\t{c}\t{n}\t{p}\t{q}\n")
    for kind, name in (("single", "sample_single.png"), ("pair", "sample_pair.png")):
        i = next(i for i, sc in enumerate(scenes) if sc["kind"] == kind and check.check(imgs[i], caps[i])["ok"]
                 and not check.check(imgs[i], negs[i])["ok"])
        write_png(os.path.join(out, name), imgs[i], {"prompt": caps[i]})
        print(f"{name}: tile {i}: {caps[i]!r} (negative {negs[i]!r})")
    print(f"wrote {N} tiles to {out}")


if __name__ == "__main__":
    main()
