"""CLIP byte-level BPE tokenizer (openai CLIP / transformers CLIPTokenizer semantics).

  1. clean: html-unescape, collapse whitespace runs to one space, strip, lower-case
     (ftfy is not applied; for ASCII prompts it is a no-op).
  2. split with the CLIP regex (IGNORECASE):
       <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
  3. each piece -> UTF-8 bytes -> byte_encoder (GPT-2 byte->unicode table) characters;
     the last character gets the '</w>' end-of-word suffix; apply merges greedily by rank
     (lowest rank first, all occurrences left to right) until no ranked pair is left.
  4. ids = [bos] + tokens[: max_len-2] + [eos], padded to max_len (77) with pad_token's id
     (SD 1.x and our tiny models: pad = <|endoftext|>; SD 2.x uses "!" = id 0).
Vocabulary order is CLIP's: 256 byte symbols (in byte_encoder order), the same 256 with
'</w>', one token per merge (in merge order), then <|startoftext|>, <|endoftext|>.

Files (real formats): vocab.json {token: id}, merges.txt ("#version: 0.2" then "a b" per
line), tokenizer_config.json, special_tokens_map.json.
"""
import html
import json
import os
from functools import lru_cache

import regex as re

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                 re.IGNORECASE)


@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clean(text):
    text = html.unescape(html.unescape(text))
    return re.sub(r"\s+", " ", text).strip().lower()


def pre_tokenize(text):
    """-> list of byte-encoded pieces (no </w> yet)."""
    be = bytes_to_unicode()
    return ["".join(be[b] for b in p.encode("utf-8")) for p in PAT.findall(clean(text))]


def bpe(piece, ranks):
    if piece in (SOT, EOT):
        return [piece]
    word = list(piece[:-1]) + [piece[-1] + "</w>"]
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        a, b = best
        out = []
        i = 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


class CLIPTokenizer:
    def __init__(self, folder, max_length=None):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {v: k for k, v in self.encoder.items()}
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().strip().split("\n")[1:]
        self.ranks = {tuple(l.split()): i for i, l in enumerate(lines)}
        cfg = {}
        p = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(p):
            with open(p) as f:
                cfg = json.load(f)

        def tokstr(v, d):
            return v["content"] if isinstance(v, dict) else (v or d)
        self.max_length = max_length or cfg.get("model_max_length", 77)
        self.bos_id = self.encoder[tokstr(cfg.get("bos_token"), SOT)]
        self.eos_id = self.encoder[tokstr(cfg.get("eos_token"), EOT)]
        self.pad_id = self.encoder[tokstr(cfg.get("pad_token"), EOT)]
        self.cache = {}

    def tokenize(self, text):
        out = []
        for p in pre_tokenize(text):
            if p not in self.cache:
                self.cache[p] = [self.encoder[t] for t in bpe(p, self.ranks)]
            out.extend(self.cache[p])
        return out

    def __call__(self, text):
        """-> list of max_length ids: bos, tokens (truncated), eos, padding."""
        ids = [self.bos_id] + self.tokenize(text)[: self.max_length - 2] + [self.eos_id]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def decode(self, ids):
        bd = {v: k for k, v in bytes_to_unicode().items()}
        s = "".join(self.decoder[i] for i in ids if i not in (self.bos_id, self.eos_id, self.pad_id))
        s = s.replace("</w>", " ")
        return bytearray(bd.get(c, 32) for c in s).decode("utf-8", "replace").strip()


def learn_merges(texts, num_merges=400, min_count=2):
    """Classic BPE training on CLIP pre-tokenized words. Ties broken by the pair's string."""
    from collections import Counter
    freq = Counter()
    for t in texts:
        for p in pre_tokenize(t):
            freq[p] += 1
    words = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in freq}
    merges = []
    for _ in range(num_merges):
        pc = Counter()
        for w, syms in words.items():
            for i in range(len(syms) - 1):
                pc[(syms[i], syms[i + 1])] += freq[w]
        if not pc:
            break
        best, cnt = max(pc.items(), key=lambda kv: (kv[1], kv[0]))
        if cnt < min_count:
            break
        merges.append(best)
        a, b = best
        for w, syms in words.items():
            out, i = [], 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    return merges


def write_tokenizer(folder, merges, max_length=77):
    """Write vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json."""
    os.makedirs(folder, exist_ok=True)
    syms = list(bytes_to_unicode().values())
    vocab = syms + [s + "</w>" for s in syms] + ["".join(m) for m in merges] + [SOT, EOT]
    enc = {}
    for i, v in enumerate(vocab):
        if v in enc:
            raise ValueError(f"duplicate token {v}")
        enc[v] = i
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(enc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    tok = {"add_prefix_space": False, "bos_token": SOT, "clean_up_tokenization_spaces": True,
           "do_lower_case": True, "eos_token": EOT, "errors": "replace", "model_max_length": max_length,
           "pad_token": EOT, "tokenizer_class": "CLIPTokenizer", "unk_token": EOT}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(tok, f, indent=2)
        f.write("\n")
    sp = {"bos_token": SOT, "eos_token": EOT, "pad_token": EOT, "unk_token": EOT}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(sp, f, indent=2)
        f.write("\n")
    return len(vocab)
