#!/usr/bin/env python3
"""check_includes.py — the include graph of runtime/, evo/ and tools/ against the layer order.

Reads every #include "..." line, resolves it the way the build does (runtime/ for "core/...",
"ops/...", ...; evo/ for the search headers, named bare; the including file's own folder), and
groups files into modules (X.c with X.h). It fails (exit 1, one line per problem) on:
  - an upward include: a file including a header of a higher layer. The order is
        core < ops < formats < nn < models, samplers, rewards < evo < tools
    (formats sits beside the kernels: configs name the kernels' activations, and nn's layers load
    weight files); models, samplers and rewards share a rank and may include each other;
  - runtime/ including evo/;
  - a cycle of modules that spans different layers;
  - a cycle of modules outside core/ (context, memory, pipeline and stream are one unit).
Usage: tools/check_includes.py [SOURCE_DIR] (default: this file's repository).
"""
import os
import re
import sys

RANK = {"core": 0, "ops": 1, "formats": 2, "nn": 3, "models": 4, "samplers": 4, "rewards": 4, "evo": 5, "tools": 6}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    parts = rel.split("/")
    if parts[0] == "runtime" and len(parts) > 2:
        return parts[1]
    if parts[0] in ("evo", "tools"):
        return parts[0]
    return None


def module_of(rel):
    return os.path.splitext(rel)[0]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    files = []
    for top in ("runtime", "evo", "tools"):
        for d, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                if n.endswith((".c", ".h")):
                    files.append(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    known = set(files)
    problems = []
    edges = {}  # module -> set of modules
    for rel in sorted(files):
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        src_layer = layer_of(rel)
        for inc in INCLUDE.findall(text):
            candidates = [os.path.normpath(os.path.join(os.path.dirname(rel), inc)).replace(os.sep, "/"),
                          "runtime/" + inc, "evo/" + inc]
            target = next((c for c in candidates if c in known), None)
            if target is None:
                continue  # generated or third-party (shaders.h, stb, cJSON)
            dst_layer = layer_of(target)
            if src_layer is None or dst_layer is None:
                continue
            if rel.startswith("runtime/") and target.startswith("evo/"):
                problems.append(f"{rel}: includes {target}: the runtime never includes evo/")
            elif RANK[dst_layer] > RANK[src_layer]:
                problems.append(f"{rel}: includes {target}: {src_layer} may not include {dst_layer} (a higher layer)")
            a, b = module_of(rel), module_of(target)
            if a != b:
                edges.setdefault(a, set()).add(b)
    # strongly connected components of the module graph (Tarjan, iterative)
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for start in sorted(set(edges) | {m for s in edges.values() for m in s}):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))
    for comp in sccs:
        layers = sorted({layer_of(m + ".h") or layer_of(m + ".c") for m in comp})
        if len(layers) > 1:
            problems.append(f"cycle across layers {', '.join(layers)}: {' <-> '.join(comp)}")
        elif layers != ["core"]:
            problems.append(f"cycle in {layers[0]}: {' <-> '.join(comp)}")
    for p in problems:
        print(f"check_includes: {p}")
    if problems:
        return 1
    print(f"check_includes: {len(files)} files, {sum(len(s) for s in edges.values())} module edges: layers respected, no cycles outside core/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
