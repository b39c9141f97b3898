#!/usr/bin/env python3
"""fixtures_gguf.py — writes tests/data/gguf/: small GGUF files for the GGUF reader and the host
dequantisation, with reference values from llama.cpp's gguf-py.

    python3 tools/ref/fixtures_gguf.py GGUF_PY_DIR [OUT_DIR]

GGUF_PY_DIR is a folder holding gguf-py's `gguf` package (llama.cpp's gguf-py/); only
`gguf.quants.dequantize` is used from it, as the independent reference. The files themselves are
written by the small writer below (the format is simple, and hostile variants need byte-level
control), which also proves the reader accepts files from a writer other than its own tests.

Files (each a few KB):
  <type>.gguf      tensor "w" of that type with random blocks (scales drawn as finite f16 values,
                   everything else random bits, plus edge blocks: negative, zero and subnormal
                   scales) and tensor "ref": the same shape in F32, gguf-py's dequantisation of "w".
                   Types: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K. q8_0.gguf is
                   GGUF version 2, q4_k.gguf uses general.alignment = 64, the others version 3
                   with the default alignment (32).
  meta.gguf        one key/value pair of every value type and arrays of every element type
                   (values listed in tests/formats/test_gguf.c), and a 2x3 F32 tensor.
  unsupported.gguf a Q2_K tensor (valid file, a type evoke does not dequantise) and an F32 one.
  orig_shape.gguf  ComfyUI-GGUF's comfy.gguf.orig_shape keys: a 5-D tensor stored 2-D and a Q8_0
                   kernel stored as rows of 256 (see orig_shape_file).
  bad_*.gguf       hostile files: each breaks one rule of the validator (see BAD below).
Requires numpy (Debian's python3-numpy). Deterministic (fixed seed).
"""
import os
import struct
import sys

import numpy as np

# ggml types: id, elements per block, bytes per block
TYPES = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "BF16": (30, 1, 2),
}
# byte offsets of the f16 scale fields inside one block
F16_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q4_K": [0, 2], "Q5_K": [0, 2],
              "Q6_K": [208], "Q2_K": [80, 82]}

# metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q",
          F64: "<d"}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STR:
        return gstr(v)
    if vtype == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
    return struct.pack(SCALAR[vtype], v)


def gguf(kvs, tensors, version=3, alignment=32, magic=b"GGUF", offsets=None, tail=b""):
    """kvs: [(key, vtype, value)]; tensors: [(name, type id, ne innermost first, bytes)].
    offsets overrides the computed data offsets; tail is appended after the data."""
    out = bytearray(magic + struct.pack("<I", version) + struct.pack("<QQ", len(tensors), len(kvs)))
    for k, vt, v in kvs:
        out += gstr(k) + struct.pack("<I", vt) + value(vt, v)
    pos, offs = 0, []
    for _, _, _, data in tensors:
        offs.append(pos)
        pos += (len(data) + alignment - 1) // alignment * alignment
    if offsets is not None:
        offs = offsets
    for (name, t, ne, _), off in zip(tensors, offs):
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n & (2**64 - 1)) for n in ne)
        out += struct.pack("<IQ", t, off)
    out += b"\0" * (-len(out) % alignment)
    for _, _, _, data in tensors:
        out += data + b"\0" * (-len(data) % alignment)
    return bytes(out + tail)


def random_blocks(rng, name, nblocks):
    tid, block, size = TYPES[name]
    if name == "F32":
        return rng.standard_normal(nblocks).astype(np.float32).tobytes()
    if name == "F16":
        v = (rng.standard_normal(nblocks) * 2).astype(np.float16)
        v[:4] = np.array([6e-8, -0.0, 65504, -3e-5], dtype=np.float16)  # subnormal, -0, max, small
        return v.tobytes()
    if name == "BF16":
        v = (rng.standard_normal(nblocks) * 3).astype(np.float32)
        v[:3] = np.array([1e-39, -0.0, 3e38], dtype=np.float32)  # subnormal, -0, large
        return (v.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    scales = (rng.standard_normal((nblocks, len(F16_FIELDS[name]))) * 0.05).astype(np.float16)
    scales[0, :] = -np.abs(scales[0, :])            # negative scales
    scales[1, -1] = 0                               # zero dmin / min / scale
    scales[2, 0] = np.float16(3e-6)                 # subnormal scale
    for k, off in enumerate(F16_FIELDS[name]):
        raw[:, off:off + 2] = scales[:, k:k + 1].view(np.uint8).reshape(nblocks, 2)
    return raw.tobytes()


def type_files(out, quants, GT):
    rng = np.random.default_rng(20261206)
    for name in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]:
        tid, block, size = TYPES[name]
        ne0 = {1: 40, 32: 96, 256: 512}[block]
        rows = 2 if block == 256 else 3
        nblocks = rows * ne0 // block
        data = random_blocks(rng, name, nblocks)
        raw = np.frombuffer(data, dtype=np.uint8).reshape(rows, ne0 // block * size)
        ref = quants.dequantize(raw, GT(tid)).astype(np.float32)
        assert ref.shape == (rows, ne0), (name, ref.shape)
        version = 2 if name == "Q8_0" else 3
        alignment = 64 if name == "Q4_K" else 32
        kvs = [("general.architecture", STR, "evoke-test"), ("general.name", STR, f"{name} blocks")]
        if alignment != 32:
            kvs.append(("general.alignment", U32, alignment))
        blob = gguf(kvs, [("w", tid, [ne0, rows], data), ("ref", 0, [ne0, rows], ref.tobytes())], version=version,
                    alignment=alignment)
        write(out, name.lower() + ".gguf", blob)


def meta_file(out):
    kvs = [
        ("general.architecture", STR, "evoke-test"),
        ("v.u8", U8, 200), ("v.i8", I8, -100), ("v.u16", U16, 60000), ("v.i16", I16, -30000),
        ("v.u32", U32, 4000000000), ("v.i32", I32, -2000000000), ("v.f32", F32, 1.5), ("v.bool", BOOL, 1),
        ("v.str", STR, "h\u00e9llo"), ("v.u64", U64, 2**63 + 5), ("v.i64", I64, -2**62), ("v.f64", F64, -0.125),
        ("a.u8", ARR, (U8, [1, 2, 255])), ("a.i16", ARR, (I16, [-2, 7])), ("a.i32", ARR, (I32, [-5, 0, 5, 2**31 - 1])),
        ("a.f32", ARR, (F32, [0.25, -2.0])), ("a.bool", ARR, (BOOL, [1, 0, 1])),
        ("a.str", ARR, (STR, ["alpha", "", "gamma"])), ("a.u64", ARR, (U64, [2**40])), ("a.f64", ARR, (F64, [3.5])),
        ("a.empty", ARR, (I32, [])),
    ]
    t = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    write(out, "meta.gguf", gguf(kvs, [("t", 0, [3, 2], t.tobytes())]))


def unsupported_file(out):
    rng = np.random.default_rng(7)
    q2 = random_blocks(rng, "Q2_K", 4)
    f = np.ones(4, dtype=np.float32)
    write(out, "unsupported.gguf", gguf([], [("q2", 10, [512, 2], q2), ("f", 0, [4], f.tobytes())]))


def bad_files(out):
    f32 = np.arange(6, dtype=np.float32).tobytes()
    ok_t = [("a", 0, [3, 2], f32)]
    name_kv = [("general.name", STR, "x")]
    hdr = lambda nt, nk, v=3, magic=b"GGUF": magic + struct.pack("<I", v) + struct.pack("<QQ", nt, nk)
    bad = {
        "magic": b"GGUX" + gguf(name_kv, ok_t)[4:],
        "short": b"GGUF\x03\x00",
        "v1": gguf(name_kv, ok_t, version=1),
        "bigendian": b"GGUF" + struct.pack(">I", 3) + gguf(name_kv, ok_t)[8:],
        "v9": gguf(name_kv, ok_t, version=9),
        "tensor_count": hdr(2**62, 0) + b"\0" * 64,
        "kv_count": hdr(0, 2**40) + b"\0" * 64,
        "key_len": hdr(0, 1) + struct.pack("<Q", 2**60) + b"abc" + b"\0" * 16,
        "string_len": hdr(0, 1) + gstr("k") + struct.pack("<IQ", STR, 2**50) + b"abc",
        "array_count": hdr(0, 1) + gstr("k") + struct.pack("<IIQ", ARR, U32, 2**40) + b"\0" * 16,
        "nested_array": hdr(0, 1) + gstr("k") + struct.pack("<IIQ", ARR, ARR, 1) + struct.pack("<IQ", U8, 0),
        "value_type": hdr(0, 1) + gstr("k") + struct.pack("<I", 13) + b"\0" * 8,
        "bool": gguf([("flag", BOOL, 2)], ok_t),
        "dup_key": gguf(name_kv + name_kv, ok_t),
        "alignment_type": gguf([("general.alignment", U64, 32)], ok_t),
        "alignment_value": gguf([("general.alignment", U32, 48)], ok_t, alignment=48),
        "rank": gguf(name_kv, [("a", 0, [1, 1, 1, 2, 3], f32)]),
        "dim": gguf(name_kv, [("a", 0, [-3, 2], f32)]),
        "type": gguf(name_kv, [("a", 4, [3, 2], f32)]),
        "block": gguf(name_kv, [("a", 8, [20, 1], b"\0" * 34)]),
        "offset_align": gguf(name_kv, [("a", 0, [3, 2], f32), ("b", 0, [2], f32[:8])], offsets=[0, 8]),
        "truncated": gguf(name_kv, ok_t)[:-12],
        "overlap": gguf(name_kv, [("a", 0, [8], b"\0" * 32), ("b", 0, [8], b"\0" * 32)], offsets=[0, 0])[:-32],
        "dup_name": gguf(name_kv, [("a", 0, [3, 2], f32), ("a", 0, [3, 2], f32)]),
        "overflow": gguf(name_kv, [("a", 0, [2**40, 2**40], f32)]),
        "empty_name": gguf(name_kv, [("", 0, [3, 2], f32)]),
        "trailing": gguf(name_kv, ok_t, tail=b"\0" * 64),
        "gap": gguf(name_kv, [("a", 0, [8], b"\0" * 32), ("b", 0, [8], b"\0" * 32)], offsets=[0, 64], tail=b"\0" * 32),
        "name_nul": gguf(name_kv, [("a\0b", 0, [3, 2], f32)]),
        "info_truncated": gguf(name_kv, ok_t)[:60],
        "orig_shape_type": gguf(name_kv + [("comfy.gguf.orig_shape.a", STR, "2,3")], ok_t),
        "orig_shape_count": gguf(name_kv + [("comfy.gguf.orig_shape.a", ARR, (I32, [4, 2]))], ok_t),
        "orig_shape_dim": gguf(name_kv + [("comfy.gguf.orig_shape.a", ARR, (I32, [-2, -3]))], ok_t),
        "orig_shape_rank": gguf(name_kv + [("comfy.gguf.orig_shape.a", ARR, (I32, [1] * 9))], ok_t),
    }
    for k, blob in bad.items():
        write(out, f"bad_{k}.gguf", blob)


def orig_shape_file(out):
    """ComfyUI-GGUF's comfy.gguf.orig_shape keys: a 6-element F32 tensor stored [3, 2] (ne) whose
    real shape is [1, 2, 1, 3, 1] (five dimensions, more than GGUF's four), a 512-element Q8_0 tensor
    stored as rows of 256 whose real shape is [8, 4, 4, 4], and one without a key."""
    f32 = np.arange(6, dtype=np.float32).tobytes()
    rng = np.random.default_rng(11)
    q8 = random_blocks(rng, "Q8_0", 16)
    kvs = [("comfy.gguf.orig_shape.five", ARR, (I32, [1, 2, 1, 3, 1])), ("comfy.gguf.orig_shape.kernel", ARR, (I32, [8, 4, 4, 4]))]
    write(out, "orig_shape.gguf", gguf(kvs, [("five", 0, [3, 2], f32), ("kernel", 8, [256, 2], q8), ("plain", 0, [3, 2], f32)]))


def write(out, name, blob):
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.path.insert(0, sys.argv[1])
    from gguf import quants
    from gguf.constants import GGMLQuantizationType
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "tests", "data", "gguf")
    os.makedirs(out, exist_ok=True)
    type_files(out, quants, GGMLQuantizationType)
    meta_file(out)
    unsupported_file(out)
    orig_shape_file(out)
    bad_files(out)


if __name__ == "__main__":
    main()
