"""Build the tokenizer fixtures of tests/formats/test_tokenizer.c.

    /usr/bin/python3 tools/ref/fixtures_tokenizer.py [tests/data/tokenizer]

1. A small CLIP-format BPE vocabulary (vocab.json, merges.txt, tokenizer_config.json,
   special_tokens_map.json) learned with tools/ref/clip_tokenizer.py on a mixed-script corpus, so
   merges also join multi-byte characters; sd2/ holds the SD 2.x-style configs whose pad token is
   "!" (tokenizer_config.json says <|endoftext|>, special_tokens_map.json overrides it with "!").
2. cases.json: for a list of tricky strings and a few hundred seeded random ones, what
   transformers' CLIPTokenizer (slow, no ftfy) gives: the BasicTokenizer-cleaned text and the
   token ids, with the SD 1.x and the SD 2.x special tokens.

transformers itself is not installed here, so HFCLIPTokenizer below re-implements its code path
step by step (PreTrainedTokenizer.tokenize's split on special tokens; CLIPTokenizer._tokenize with
BasicTokenizer(strip_accents=False, do_split_on_punc=False): _clean_text, _tokenize_chinese_chars,
NFC, whitespace_tokenize, lower(); the CLIP pattern with regex.IGNORECASE; bytes_to_unicode; bpe
with the "</w>" suffix and merges by rank). tools/ref/clip_tokenizer.py (which follows openai
CLIP's cleanup instead) must agree with it on plain ASCII prompts; the script checks that.
"""
import json
import os
import random
import sys
import unicodedata

import regex as re

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer as ref  # noqa: E402

PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                 re.IGNORECASE)


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    """BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize"""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    text = "".join(out)
    text = "".join(f" {c} " if is_cjk(ord(c)) else c for c in text)
    text = unicodedata.normalize("NFC", text)
    tokens = text.strip().split()
    tokens = [t.lower() for t in tokens]
    return " ".join(tokens).strip().split()


class HFCLIPTokenizer:
    def __init__(self, folder, config_folder=None):
        config_folder = config_folder or folder
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = f.read().strip().split("\n")[1: 49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        self.ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = ref.bytes_to_unicode()
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        cfg = {}
        for name in ["tokenizer_config.json", "special_tokens_map.json"]:  # the map overrides the config
            p = os.path.join(config_folder, name)
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    for k, v in json.load(f).items():
                        if k in ("bos_token", "eos_token", "pad_token", "unk_token", "model_max_length"):
                            cfg[k] = v

        def content(v, d):
            return v["content"] if isinstance(v, dict) else (v or d)
        self.bos = content(cfg.get("bos_token"), "<|startoftext|>")
        self.eos = content(cfg.get("eos_token"), "<|endoftext|>")
        self.pad = content(cfg.get("pad_token"), "<|endoftext|>")
        self.unk = content(cfg.get("unk_token"), "<|endoftext|>")
        self.max_length = cfg.get("model_max_length", 77)
        self.specials = list(dict.fromkeys([self.bos, self.eos, self.unk, self.pad]))

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
            if len(word) == 1:
                break
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        word = " ".join(word)
        self.cache[token] = word
        return word

    def _tokenize(self, text):
        text = " ".join(basic_tokenize(text))
        out = []
        for piece in re.findall(PAT, text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            out.extend(self.bpe(piece).split(" "))
        return out

    def split_specials(self, text):
        """Leftmost, longest special token first (transformers' Trie.split for these tokens)."""
        parts, seg, i = [], 0, 0
        while i < len(text):
            best = None
            for s in self.specials:
                if text.startswith(s, i) and (best is None or len(s) > len(best)):
                    best = s
            if best is None:
                i += 1
                continue
            parts.append(text[seg:i])
            parts.append((best,))
            i += len(best)
            seg = i
        parts.append(text[seg:])
        return parts

    def tokenize_ids(self, text):
        ids = []
        for part in self.split_specials(text):
            if isinstance(part, tuple):
                ids.append(self.encoder[part[0]])
            elif part:
                ids.extend(self.encoder.get(t, self.encoder.get(self.unk)) for t in self._tokenize(part))
        return ids

    def __call__(self, text):
        ids = [self.encoder[self.bos]] + self.tokenize_ids(text)[: self.max_length - 2] + [self.encoder[self.eos]]
        return ids + [self.encoder[self.pad]] * (self.max_length - len(ids))


CORPUS = """a photo of a cat sitting on a red chair, highly detailed, 4k
an astronaut riding a horse on the moon, digital art
portrait of a woman with blue eyes and long hair in the style of van gogh
the quick brown fox jumps over the lazy dog
it's a beautiful day; we're going to the beach and they'll swim
café crème brûlée naïve résumé façade jalapeño señor über straße
die schöne grüne wiese mit blumen und bäumen
el niño comió una manzana en la mañana
ελληνικά γράμματα και λέξεις όπως αγάπη και θάλασσα
русский язык красивая кошка на диване
日本語のテキストと東京の夜景 中文字符和北京的风景
한국어 문장과 서울의 야경
emoji 😀 😀 👍 👍 🎨 🎨 🌅 🌅 ✨ ✨ ❤️ ❤️
numbers 123 456 7890 3.14 2024 1st 2nd 3rd
punctuation!!! ??? ... --- *** ### @@@ $$$ %%% &&& ((())) [[]] {{}}
""".strip().split("\n")

TRICKY = [
    "", " ", "a", "A", "!", "!!!", "hello world", "Hello, World!", "  multiple   spaces\t\ttabs\n\nnewlines  ",
    "it's they're we've I'm you'll he'd don't", "IT'S THEY'RE", "'s 't 're", "''quoted''", "rock'n'roll",
    "café", "cafe\u0301", "CAFÉ", "naïve résumé", "Ångström", "A\u030angstro\u0308m", "straße STRASSE ẞ",
    "ΣΑΣ ΟΔΟΣ σοφός Σ ΑΣ.", "Ἀθῆναι", "İstanbul", "ſtar ſ's", "Kelvin K", "ﬁne ﬂow", "Ω ohm", "Ａ full width ＡＢＣ",
    "日本語", "東京タワー", "中文和English混合", "한국어", "\u1100\u1161\u11a8 jamo", "\uf900\uf901", "\U00020000\U0002a6d6",
    "😀😃😄", "👍🏽 👨\u200d👩\u200d👧 🇯🇵 ❤️", "a😀b", "x² ½ Ⅻ ٣ ४", "3.14159", "2024-01-01", "1,000,000",
    "<|startoftext|>", "<|endoftext|>", "a<|endoftext|>b", "hello <|startoftext|> world",
    "!!<|endoftext|>", "<|endoftext|><|endoftext|>", "<|start", "ctrl\x01\x02\x7fchars", "nbsp\u00a0here\u2003em\u3000ideo",
    "zero\u200bwidth\ufeffbom", "line\u2028sep\u2029par", "vt\x0bff\x0cfs\x1cnel\x85", "\ufffdreplacement", "private\ue000use",
    "a photo of an astronaut riding a horse on mars, trending on artstation, octane render, 8k",
    "a\u0316\u0301 a\u0301\u0316 \u0344 e\u0301\u0302", "ℌ𝔢𝔩𝔩𝔬", "नमस्ते दुनिया", "مرحبا بالعالم", "สวัสดีชาวโลก",
    "word " * 100, "supercalifragilisticexpialidocious" * 5, "'" * 20, "a'S b'T c'RE", "tab\tsep\tvalues",
]

FRAGMENTS = [
    "a", "b", "Z", "photo", "Cat", "the", " ", "  ", "\t", "\n", "\r\n", "'", "'s", "'ll", "'T", "!", "?", ".", ",", "...", "-",
    "0", "7", "42", "3.5", "é", "e\u0301", "ñ", "n\u0303", "Å", "A\u030a", "\u0316", "\u0301", "\u0344", "ß", "ẞ", "İ", "ſ",
    "Σ", "σ", "ς", "ΑΣ", "Ά", "ΐ", "д", "Ж", "日", "本", "語", "\uf900", "\U00020001", "カ", "ひ", "한", "\u1100", "\u1161",
    "\u11a8", "😀", "👍", "\U0001f3fd", "\u200d", "🇯", "🇵", "❤", "\ufe0f", "²", "½", "Ⅻ", "٣", "४", "\u00a0", "\u2003",
    "\u3000", "\u2028", "\x0b", "\x1c", "\x85", "\x01", "\x7f", "\u200b", "\ufeff", "\ufffd", "\ue000", "<|endoftext|>",
    "<|startoftext|>", "<|", "|>", "ﬁ", "Ω", "Ｋ", "K", "ℌ", "\u0345", "\u0307", "İ\u0301", "&amp;", "#", "@", "\\", "\"",
]


def random_cases(n, seed=1234):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append("".join(rng.choice(FRAGMENTS) for _ in range(k)))
    return out


def main(out):
    os.makedirs(os.path.join(out, "sd2"), exist_ok=True)
    merges = ref.learn_merges(CORPUS * 2, num_merges=700, min_count=2)
    nv = ref.write_tokenizer(out, merges)
    # SD 2.x: tokenizer_config keeps <|endoftext|> as pad, special_tokens_map.json says "!"
    with open(os.path.join(out, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "sd2", "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    sp = {"bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
          "eos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
          "pad_token": "!",
          "unk_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}}
    with open(os.path.join(out, "sd2", "special_tokens_map.json"), "w") as f:
        json.dump(sp, f, indent=2)
        f.write("\n")

    sd1 = HFCLIPTokenizer(out)
    sd2 = HFCLIPTokenizer(out, os.path.join(out, "sd2"))
    assert sd2.encoder[sd2.pad] == 0 and sd1.pad == "<|endoftext|>"
    openai = ref.CLIPTokenizer(out)
    texts = TRICKY + random_cases(400)
    cases, agree, compared = [], 0, 0
    for t in texts:
        c = {"text": t, "normalized": " ".join(basic_tokenize(t)), "tokens": sd1.tokenize_ids(t), "tokens_sd2": sd2.tokenize_ids(t)}
        assert sd1(t)[: min(len(c["tokens"]) + 1, 76)][1:] == c["tokens"][:75][: min(len(c["tokens"]), 75)]
        cases.append(c)
        plain = all(32 <= ord(ch) < 127 for ch in t) and "&" not in t and "<|" not in t
        if plain:
            compared += 1
            agree += openai(t) == sd1(t)
    assert agree == compared, f"tools/ref/clip_tokenizer.py disagrees on {compared - agree} plain ASCII prompts"
    full = {t: sd1(t) for t in ["a photo of a cat", "", "word " * 100]}
    full_sd2 = {t: sd2(t) for t in ["a photo of a cat!", ""]}
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab_size": nv, "cases": cases, "encoded": full, "encoded_sd2": full_sd2}, f, ensure_ascii=True, indent=0)
        f.write("\n")
    differ = sum(1 for t in texts if sd1.tokenize_ids(t) != openai.tokenize(t))
    print(f"vocab {nv}, merges {len(merges)}, {len(cases)} cases; tools/ref agrees on {agree}/{compared} plain ASCII prompts, "
          f"differs (openai CLIP cleanup vs transformers without ftfy) on {differ} of all cases")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "tokenizer"))
