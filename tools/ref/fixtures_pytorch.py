"""Write the PyTorch-checkpoint fixtures of tests/formats/test_pytorch.c: files made by the real
torch.save (so the C reader is checked against the format as PyTorch writes it), an expectation
file beside each, and hostile files that must be refused with a clear message.

    /usr/bin/python3 tools/ref/fixtures_pytorch.py [tests/data/pytorch]

Good files (each with <file>.expect.safetensors: every tensor the reader must find, by the name
it must find it under, as contiguous float32 for float tensors and in its own dtype otherwise;
nothing else, so a skipped non-tensor or a missing tensor shows up as a count mismatch):
  dtypes.pt       f32/f16/bf16/f64/i64/bool tensors, a 0-d scalar, an empty tensor (plain dict)
  lightning.ckpt  {"state_dict": OrderedDict of a small module with _metadata, "epoch", "lr",
                  "hyper_parameters", "optimizer_states" holding tensors}: only state_dict counts
  module.pth      {"module": state dict} (the DeepSpeed / ViCLIP wrapping)
  nested.pt       nested dicts, an OrderedDict, a list of [up, down] pairs, a Parameter, a
                  torch.Size and ints/strings/floats/None beside the tensors
  views.pt        views sharing one storage at offsets, transposed and sliced (non-contiguous)
                  and expanded (stride 0) tensors
  lora_list.pt    a bare list of [up, down] pairs (named "0.0", "0.1", ...)
  zip64.pt        dtypes.pt's entries re-packed with zip64 records and fields
Hostile files (each must fail with EVK_ERROR_FORMAT; the test names the words expected):
  evil_global.pt  a pickle calling os.system            deep_marks.pt    1000 nested MARKs  
  deep_nesting.pt dicts nested 100 levels               huge_size.pt     size 2^40 over 6 elements
  huge_storage.pt storage of 2^61 elements              size_mismatch.pt storage larger than its entry
  truncated.pt    dtypes.pt cut short                   overlap.pt       zip entries overlapping
  deflated.pt     a checkpoint re-zipped with deflate   bad_crc.pt       data.pkl altered after saving
  legacy.pt       torch.save(..., _use_new_zipfile_serialization=False)
  bad_global_storage.pt a persistent id whose type is OrderedDict
Values come from a fixed formula (no randomness), so re-running gives identical files.
"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402


def values(n, k):
    i = np.arange(n, dtype=np.float64)
    return np.sin(0.37 * i + k) * (1.0 + 0.5 * k) + 0.01 * (i % 7)


def ft(shape, k, dtype=torch.float32):
    n = int(np.prod(shape)) if shape else 1
    return torch.from_numpy(values(n, k).reshape(shape)).to(dtype)


def expect(tensors, path):
    out = {}
    for name, t in tensors.items():
        t = t.detach()
        out[name] = t.float().contiguous() if t.is_floating_point() else t.contiguous()
    st.save_file(out, path + ".expect.safetensors")


def save(obj, tensors, path, **kw):
    torch.save(obj, path, **kw)
    expect(tensors, path)


# ---- a zip writer laid out like torch's (stored, data aligned to 64 bytes), with zip64 on demand

def write_zip(path, entries, zip64=False):
    out = bytearray()
    central = []
    for name, data in entries:
        nb = name.encode()
        off = len(out)
        pad = (64 - (off + 30 + len(nb) + 4) % 64) % 64
        extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        crc = zlib.crc32(data) & 0xFFFFFFFF
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(nb), len(extra))
        out += nb + extra + data
        central.append((nb, crc, len(data), off))
    cd_off = len(out)
    for nb, crc, size, off in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, off)
            s32, o32 = 0xFFFFFFFF, 0xFFFFFFFF
        else:
            extra, s32, o32 = b"", size, off
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, s32, s32, len(nb), len(extra), 0, 0, 0,
                           0, o32)
        out += nb + extra
    cd_size = len(out) - cd_off
    n = len(central)
    if zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_off, 0)
    with open(path, "wb") as f:
        f.write(out)


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# ---- crafted pickles: torch's own opcodes around values no torch.save would write

class Storage:
    def __init__(self, key, typ, numel):
        self.key, self.typ, self.numel = key, typ, numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.typ, obj.key, "cpu", obj.numel)
        return None


def crafted(path, obj, storages):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    write_zip(path, [("archive/data.pkl", buf.getvalue())] + [("archive/data/" + k, v) for k, v in storages.items()]
              + [("archive/version", b"3\n")])


def crafted_pickle(path, pkl):
    write_zip(path, [("archive/data.pkl", pkl), ("archive/version", b"3\n")])


def main(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    # dtypes
    d = {
        "f32": ft((3, 5, 7), 1),
        "f16": (ft((33, 5), 2) * 3.0).half(),
        "bf16": (ft((4, 9), 3) * 100.0).bfloat16(),
        "f64": ft((6,), 4, torch.float64),
        "i64": torch.arange(-3, 12, 3, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    save(d, d, p("dtypes.pt"))

    # a Lightning-style checkpoint around a module's state dict
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.GroupNorm(1, 3), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for k, prm in enumerate(net.parameters()):
            prm.copy_(ft(tuple(prm.shape), 10 + k))
    sd = net.state_dict()
    opt = {"state": {0: {"step": 3, "exp_avg": ft((3, 2, 3, 3), 30)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    save({"state_dict": sd, "epoch": 3, "global_step": 1000, "lr": 0.5, "hyper_parameters": {"name": "tiny", "flags": [True, None]},
          "optimizer_states": [opt]}, sd, p("lightning.ckpt"))
    save({"module": sd, "step": 7}, sd, p("module.pth"))

    # nested containers and values that are not tensors
    up, down = ft((8, 2), 40), ft((2, 8), 41)
    od = collections.OrderedDict([("decoder.weight", ft((2, 3), 42)), ("decoder.bias", ft((2,), 43))])
    param = torch.nn.Parameter(ft((5,), 44))
    nested = {"unet": {"conv": {"weight": ft((2, 2, 1, 1), 45)}, "steps": 50}, "vae": od, "pairs": [[up, down], [down, up]],
              "param": param, "shape": torch.Size([2, 3]), "note": "tiny", "ratio": 0.25, "none": None, 7: ft((1,), 46)}
    flat = {"unet.conv.weight": nested["unet"]["conv"]["weight"], "vae.decoder.weight": od["decoder.weight"],
            "vae.decoder.bias": od["decoder.bias"], "pairs.0.0": up, "pairs.0.1": down, "pairs.1.0": down, "pairs.1.1": up,
            "param": param, "7": nested[7]}
    save(nested, flat, p("nested.pt"))

    # views of one storage
    base = ft((24,), 50)
    grid = base.view(4, 6)
    views = {"base": base, "row": base[6:12], "block": grid[1:3, 2:5], "t": grid.t(), "col": grid[:, 4],
             "expand": base[3:4].view(1, 1).expand(3, 4), "half": ft((3, 4), 51).half().t()}
    assert not views["block"].is_contiguous() and not views["t"].is_contiguous() and views["expand"].stride() == (0, 0)
    save(views, views, p("views.pt"))

    # a bare list of LoRA pairs
    pairs = [[ft((4, 2), 60 + 2 * k), ft((2, 4), 61 + 2 * k)] for k in range(3)]
    save(pairs, {f"{i}.{j}": pairs[i][j] for i in range(3) for j in range(2)}, p("lora_list.pt"))

    # zip64 records and fields around dtypes.pt's entries
    write_zip(p("zip64.pt"), zip_entries(p("dtypes.pt")), zip64=True)
    expect(d, p("zip64.pt"))

    # ---- hostile
    crafted(p("evil_global.pt"), {"w": Evil()}, {})
    crafted_pickle(p("deep_marks.pt"), b"\x80\x02" + b"(" * 1000 + b"N.")
    key = b"X\x01\x00\x00\x00a"
    crafted_pickle(p("deep_nesting.pt"), b"\x80\x02" + (b"}" + key) * 100 + b"}" + b"s" * 100 + b".")
    six = np.arange(6, dtype="<f4").tobytes()
    crafted(p("huge_size.pt"), {"w": Tensor(Storage("0", torch.FloatStorage, 6), 0, (1 << 40,), (1,))}, {"0": six})
    crafted(p("huge_storage.pt"), {"w": Tensor(Storage("0", torch.FloatStorage, 1 << 61), 0, (6,), (1,))}, {"0": six})
    crafted(p("size_mismatch.pt"), {"w": Tensor(Storage("0", torch.FloatStorage, 100), 0, (6,), (1,))}, {"0": six})
    crafted(p("bad_global_storage.pt"), {"w": Tensor(Storage("0", collections.OrderedDict, 6), 0, (6,), (1,))}, {"0": six})
    good = open(p("dtypes.pt"), "rb").read()
    with open(p("truncated.pt"), "wb") as f:
        f.write(good[: len(good) * 3 // 5])
    # overlap: entry A's data holds entry B (header and data)
    b_local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 4, 4, 16, 0) + b"archive/data/000" + b"abcd"
    a_name = b"archive/data.pkl"
    a_local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(b_local), len(b_local), len(b_local), len(a_name), 0)
    body = a_local + a_name + b_local
    cd = b""
    for nb, crc, size, off in ((a_name, zlib.crc32(b_local), len(b_local), 0), (b"archive/data/000", 0, 4, len(a_local) + len(a_name))):
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, size, size, len(nb), 0, 0, 0, 0, 0, off) + nb
    with open(p("overlap.pt"), "wb") as f:
        f.write(body + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(cd), len(body), 0))
    with zipfile.ZipFile(p("deflated.pt"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in zip_entries(p("dtypes.pt")):
            z.writestr(name, data)
    bad = bytearray(good)
    at = bad.index(b"X\x03\x00\x00\x00f16")  # a key inside data.pkl: still a valid pickle, no longer the saved bytes
    bad[at + 5] = ord("g")
    with open(p("bad_crc.pt"), "wb") as f:
        f.write(bad)
    torch.save({"w": ft((3,), 70)}, p("legacy.pt"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "pytorch"))
