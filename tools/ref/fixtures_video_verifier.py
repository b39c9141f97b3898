#!/usr/bin/python3
"""Regenerate the video verifier's test fixtures: clips of the video data set, clean and spoilt.

Writes into tests/data/verifier/:
  video_atlas.png   N clips of 8 frames of 32x32, one clip per row (frame f at x = 32 f);
  video_clips.txt   one line per clip: "<index>\t<caption>\t<negative>\t<P>\t<Q>\t<how>", where
                    the negative changes exactly one attribute of one object
                    (video_check.negative_caption: colour, shape or direction), P and Q (0/1)
                    are the verdicts of the Python checker (tools/train/video_check.py) on the
                    caption and on the negative, and <how> says how the clip was made:
                    "clean" (video_data.render), "static" (no motion), "diagonal" (moving
                    along both axes at once), "vanish" (the first object gone from 4 frames),
                    "blur" (separable 3-tap blur, side weight 0.05-0.3, + noise, like a model's soft
                    samples);
  video_pair.npy    one clean two-object clip as evoke decodes video: float32 [8, 3, 32, 32]
                    in [0, 1], with video_pair.txt holding "<caption>\t<P>\t<negative>\t<Q>".
tests/cli/test_video_verifier.c checks that the C verifier agrees with the Python checker on
every clip and caption (and prints the agreement).
Run with Debian's interpreter (numpy):  /usr/bin/python3 tools/ref/fixtures_video_verifier.py
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
import video_check  # noqa: E402
import video_data  # noqa: E402
from fixtures_verifier import write_png  # noqa: E402

SEED = 20261207
KINDS = ["clean"] * 20 + ["static"] * 4 + ["diagonal"] * 4 + ["vanish"] * 4 + ["blur"] * 8


def spoil(kind, sc, rng):
    if kind == "static":
        for o in sc["objects"]:
            o["vx"] = o["vy"] = 0.0
    elif kind == "diagonal":
        o = sc["objects"][0]
        v = max(abs(o["vx"]), abs(o["vy"]))
        o["vx"], o["vy"] = np.sign(o["vx"] or 1) * v * 0.8, np.sign(o["vy"] or 1) * v * 0.8
        o["x0"], o["y0"] = 16 - 3.5 * o["vx"], 16 - 3.5 * o["vy"]
    clip = video_data.render(sc, rng)
    if kind == "vanish":
        # paint the first object's frames 0..3 with the background colour under it
        o = sc["objects"][0]
        for f in range(4):
            m = video_data.shape_mask(o["shape"], o["x0"] + f * o["vx"], o["y0"] + f * o["vy"], o["s"] + 1)
            clip[f][m] = clip[f][0, 0]
    if kind == "blur":
        x = clip.astype(np.float32)
        pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        w = rng.uniform(0.05, 0.3)
        k = np.array([w, 1 - 2 * w, w], np.float32)
        x = sum(k[i] * pad[:, i:i + 32, 1:33] for i in range(3))
        pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(k[i] * pad[:, 1:33, i:i + 32] for i in range(3))
        x += rng.normal(0, 6, size=x.shape)
        clip = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return clip


def main():
    out = os.path.join(ROOT, "tests", "data", "verifier")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    clips, lines = [], []
    for i, kind in enumerate(KINDS):
        sc = video_data.random_scene(rng)
        cap = video_data.caption(sc)
        clip = spoil(kind, sc, rng)
        neg = video_check.negative_caption(cap, rng)
        p, q = int(video_check.check(clip, cap)["ok"]), int(video_check.check(clip, neg)["ok"])
        clips.append(clip)
        lines.append(f"{i}\t{cap}\t{neg}\t{p}\t{q}\t{kind}\n")
    atlas = np.concatenate([np.concatenate(list(c), 1) for c in clips], 0)
    write_png(os.path.join(out, "video_atlas.png"), atlas)
    with open(os.path.join(out, "video_clips.txt"), "w") as f:
        f.write(f"# {len(clips)} clips of 8 frames of 32x32 in video_atlas.png, one per row; index<TAB>caption<TAB>"
                "negative<TAB>video_check.py on caption<TAB>on negative<TAB>how the clip was made\n")
        f.writelines(lines)
    sc = video_data.scene_from_spec([("orange", "triangle", "down"), ("cyan", "square", "left")], rng)
    cap = video_data.caption(sc)
    clip = video_data.render(sc, rng)
    neg = "a orange triangle moving up and a cyan square moving left"
    np.save(os.path.join(out, "video_pair.npy"), (clip.transpose(0, 3, 1, 2).astype(np.float32) / 255.0))
    with open(os.path.join(out, "video_pair.txt"), "w") as f:
        f.write(f"{cap}\t{int(video_check.check(clip, cap)['ok'])}\t{neg}\t{int(video_check.check(clip, neg)['ok'])}\n")
    ps = [int(l.split("\t")[3]) for l in lines]
    print(f"wrote {len(clips)} clips to {out}; the checker passes {sum(ps)} of their captions")


if __name__ == "__main__":
    main()
