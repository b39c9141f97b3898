"""Write assets/prompts/heldout.txt: 120 compositional prompts for the prompt benchmark
(tools/bench/prompt_bench.sh), drawn from the training grammar (tools/train/dataset.py) with a seed the
training never uses, so no prompt is picked by hand.

    /usr/bin/python3 tools/train/make_heldout_prompts.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dataset import heldout_prompts  # noqa: E402

SEED = 777001  # distinct from the training and evaluation seeds in tools/train/

if __name__ == "__main__":
    out = os.path.join(HERE, "..", "..", "assets", "prompts", "heldout.txt")
    prompts = heldout_prompts(120, seed=SEED)
    with open(out, "w") as f:
        f.write("\n".join(prompts) + "\n")
    print(f"wrote {len(prompts)} prompts to {os.path.normpath(out)}")
