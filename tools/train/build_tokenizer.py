"""Build the domain CLIP BPE tokenizer (vocab.json, merges.txt, tokenizer_config.json,
special_tokens_map.json) from the data-set captions: 256 byte tokens + 256 byte+'</w>'
tokens + merges learned on the captions (classic BPE, min pair count 2, at most 400) +
<|startoftext|> + <|endoftext|>.  Deterministic.

    /usr/bin/python3 tools/train/build_tokenizer.py OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_tokenizer import CLIPTokenizer, learn_merges, write_tokenizer  # noqa: E402
from dataset import all_caption_texts, COLOURS, SHAPES  # noqa: E402


def build(folder):
    texts = all_caption_texts()
    # also the words of the grammar once each, plus a little generic English, so every word is covered
    extra = " ".join(list(COLOURS) + list(SHAPES) + ["small large left right top bottom center above below of on the in at a an",
                                                     "and with picture photo image of two one"])
    merges = learn_merges(texts + [extra] * 3, num_merges=400, min_count=2)
    n = write_tokenizer(folder, merges)
    return n, merges


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "out/tokenizer"
    n, merges = build(out)
    tok = CLIPTokenizer(out)
    s = "a large red circle on the left"
    ids = tok(s)
    print(f"vocab {n}, merges {len(merges)}; {s!r} -> {ids[:10]} ... decode {tok.decode(ids)!r}")
