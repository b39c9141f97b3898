"""Pure-Python safetensors reader/writer (no `safetensors` package needed).

Format (https://github.com/huggingface/safetensors):
  8 bytes  little-endian u64 N = length of the JSON header
  N bytes  UTF-8 JSON: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...],
           "data_offsets": [begin, end]}, ...}; offsets are relative to the byte after the
           header, tensors are C-contiguous little-endian, packed with no gaps, and the data
           ends exactly at the end of the file.
The writer mirrors the reference library: tensors laid out in order of name, header padded
with spaces so the data starts on an 8-byte boundary.  Works with numpy arrays and (when
torch is importable) torch tensors; BF16 goes through torch or a uint16 view.
"""
import json
import struct

import numpy as np

# safetensors dtype name -> (numpy dtype, element size)
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "BF16": np.dtype("<u2"),  # BF16 stored/returned as raw uint16 bits
}
_NP_TO_ST = {np.dtype(v).str: k for k, v in _DTYPES.items() if k != "BF16"}


def _to_numpy(t):
    """Return (numpy array, safetensors dtype string)."""
    try:
        import torch
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            if t.dtype == torch.bfloat16:
                return t.view(torch.int16).numpy().view(np.uint16), "BF16"
            t = t.numpy()
    except ImportError:
        pass
    a = np.asarray(t)
    if not a.flags.c_contiguous:
        a = a.copy(order="C")  # (ascontiguousarray would turn 0-d into 1-d)
    key = a.dtype.newbyteorder("<").str if a.dtype.byteorder not in ("|",) else a.dtype.str
    if key not in _NP_TO_ST:
        raise TypeError(f"unsupported dtype {a.dtype}")
    return a.astype(a.dtype.newbyteorder("<"), copy=False), _NP_TO_ST[key]


def save_file(tensors, path, metadata=None):
    """Write a dict name -> tensor/array to `path` in safetensors format."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in sorted(tensors):
        arr, dt = _to_numpy(tensors[name])
        b = arr.tobytes(order="C")
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_header(path):
    """Return (header dict without __metadata__, metadata dict, data start offset)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n).decode("utf-8"))
    meta = h.pop("__metadata__", {}) or {}
    return h, meta, 8 + n


def load_file(path, as_torch=False):
    """Read a safetensors file into a dict name -> numpy array (or torch tensor).

    Validates what the C loader validates: dtype whitelist, offsets inside the data,
    no overlaps/gaps, data ending at end of file."""
    h, _, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    spans = []
    out = {}
    for name, info in h.items():
        dt = info["dtype"]
        if dt not in _DTYPES:
            raise ValueError(f"{name}: dtype {dt} not supported")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        npdt = _DTYPES[dt]
        n = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e <= len(data)) or e - b != n * npdt.itemsize:
            raise ValueError(f"{name}: bad offsets {b},{e} for shape {shape} {dt}")
        spans.append((b, e, name))
        arr = np.frombuffer(data, dtype=npdt, count=n, offset=b).reshape(shape).copy()
        if as_torch:
            import torch
            if dt == "BF16":
                out[name] = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
            else:
                out[name] = torch.from_numpy(arr)
        else:
            out[name] = arr
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            raise ValueError(f"{name}: gap or overlap at {b} (expected {pos})")
        pos = e
    if pos != len(data):
        raise ValueError(f"data ends at {pos} but file has {len(data)} data bytes")
    return out


def bf16_to_f32(u16):
    """Raw BF16 bits (uint16 array) -> float32 array."""
    return (u16.astype(np.uint32) << 16).view(np.float32)


if __name__ == "__main__":
    import os
    import tempfile
    rng = np.random.default_rng(0)
    t = {"b": rng.standard_normal((3, 5)).astype(np.float32), "a": np.arange(7, dtype=np.int64),
         "c": rng.standard_normal((2, 2, 3)).astype(np.float16), "s": np.float32(3.5)}
    p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    save_file(t, p, {"format": "pt"})
    r = load_file(p)
    for k in t:
        assert np.array_equal(np.asarray(t[k]), r[k]) and r[k].dtype == np.asarray(t[k]).dtype, k
    h, meta, start = read_header(p)
    assert start % 8 == 0 and meta == {"format": "pt"} and list(h) == ["a", "b", "c", "s"]
    try:
        import torch
        tb = {"x": torch.randn(4, 3).to(torch.bfloat16)}
        save_file(tb, p)
        assert torch.equal(load_file(p, as_torch=True)["x"], tb["x"])
    except ImportError:
        pass
    print("safetensors_io ok")
