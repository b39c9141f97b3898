"""Expected token ids of the built-in CLIP vocabulary (tests/formats/test_tokenizer.c).

    /usr/bin/python3 tools/ref/fixtures_clip_vocab.py [tests/data/tokenizer/cases_clip.json]

Builds vocab.json and merges.txt from assets/clip/bpe_simple_vocab_16e6.txt.gz the way openai
CLIP's SimpleTokenizer lists its vocabulary (transformers' CLIP vocab.json is that list), in a
temporary folder, and runs fixtures_tokenizer.py's step-by-step re-implementation of transformers'
CLIPTokenizer (transformers is not installed here) with SD 1.x's special tokens and SD 2.x's ("!"
as pad) on the same tricky and random strings as the small-vocabulary fixture, plus prompts.
"""
import gzip
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer as ref  # noqa: E402
import fixtures_tokenizer as fx  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "A red circle left of a blue square",
    "portrait of a woman, highly detailed, digital painting, artstation, concept art, sharp focus, by greg rutkowski",
    "a cozy cabin in the snowy mountains at dusk, warm light in the windows, 35mm film",
    "Ukiyo-e woodblock print of Mt. Fuji with cherry blossoms",
]


def main(out):
    with gzip.open(os.path.join(ROOT, "assets", "clip", "bpe_simple_vocab_16e6.txt.gz"), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1: 49152 - 256 - 2 + 1]
    vocab = list(ref.bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        sd2dir = os.path.join(d, "sd2")
        os.makedirs(sd2dir)
        with open(os.path.join(sd2dir, "special_tokens_map.json"), "w") as f:
            json.dump({"pad_token": "!"}, f)
        sd1 = fx.HFCLIPTokenizer(d)
        sd2 = fx.HFCLIPTokenizer(d, sd2dir)
        texts = PROMPTS + fx.TRICKY + fx.random_cases(200, seed=4321)
        cases = [{"text": t, "tokens": sd1.tokenize_ids(t), "tokens_sd2": sd2.tokenize_ids(t)} for t in texts]
        encoded = {t: sd1(t) for t in PROMPTS[:2]}
        encoded_sd2 = {t: sd2(t) for t in ["a photo of a cat!"]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"vocab_size": len(vocab), "cases": cases, "encoded": encoded, "encoded_sd2": encoded_sd2}, f,
                  ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"{len(cases)} cases -> {out}; '{PROMPTS[0]}' -> {sd1(PROMPTS[0])[:12]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "tokenizer", "cases_clip.json"))
