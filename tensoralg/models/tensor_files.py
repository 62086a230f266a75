"""Reading named tensors from .safetensors and .npz files: headers first, then memory maps.

Every header is checked against the file before a byte of data is read or an array is
allocated: the declared dtype (float16, bfloat16, float32, float64 only), the shape (a list
of non-negative integers), and the byte range, which must lie inside the file and hold exactly
prod(shape)·itemsize bytes. A :class:`TensorFile` then answers ``shapes`` from the headers
alone, so a caller can check a whole model's structure (keys, layer indices, sizes) first and
read only when that passes (:meth:`TensorFile.read`).

Reading never copies what it can view: float32/float64 tensors of a .safetensors file and
of an uncompressed .npz member are read-only views of one memory map of the file; float16
widens to float32 and bfloat16 is decoded exactly into float32 (its 16 bits are the high half
of a float32: ``(bits as uint32) << 16``), chunk by chunk from plain reads in a .safetensors file. Compressed .npz members are inflated into an array
of exactly the declared size; a member that inflates to more or less is an error.

>>> import tempfile, os
>>> import safetensors.numpy
>>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
>>> safetensors.numpy.save_file({"W_E": np.arange(6, dtype=np.float32).reshape(2, 3)}, path)
>>> tensors = open_tensor_file(path)
>>> tensors.shapes, tensors.dtypes
({'W_E': (2, 3)}, {'W_E': 'F32'})
>>> tensors.read("W_E").tolist()
[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
>>> bf16_bits = np.array([0x3FC0, 0xC100], dtype=np.uint16)   # 1.5 and −8.0 in bfloat16
>>> decode_bfloat16(bf16_bits).tolist()
[1.5, -8.0]
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..errors import WeightsError

#: safetensors dtype → (numpy dtype of the stored bits, itemsize). BF16 is decoded from uint16.
FLOAT_DTYPES: Mapping[str, str] = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}
#: Bytes per element of the whole-byte dtypes safetensors defines; the byte range of a tensor of any
#: other dtype (packed 4- and 6-bit floats, names from a newer format) is only checked to lie in the file.
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
             "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
             "C64": 8, "C128": 16}
_NUMPY_NAMES = {"float16": "F16", "float32": "F32", "float64": "F64"}
#: Integer and boolean dtypes (safetensors names → stored numpy dtype) read only as scalars, widened to
#: float64: a config flag or code written as ``np.array(1)`` or ``True`` (an .npz member keeps numpy's name).
SCALAR_DTYPES: Mapping[str, str] = {"BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "I32": "<i4",
                                    "U32": "<u4", "I64": "<i8", "U64": "<u8"}
_NUMPY_SCALAR_NAMES = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
#: safetensors refuses headers above 100 MB; so do we (a GPT-2 header is ~15 kB).
MAX_HEADER = 100_000_000
#: Deflate cannot expand more than 1032:1; a member claiming more is corrupt or a zip bomb.
MAX_DEFLATE_RATIO = 1032


def write_safetensors(arrays: Mapping[str, np.ndarray], path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays to a .safetensors file, readable as any file the user creates (mode 0o666 less the umask,
    not the 0o600 of safetensors' temporary file); a failure is one :class:`WeightsError` line."""
    import os

    import safetensors.numpy
    from safetensors import SafetensorError

    contiguous = {key: np.asarray(value, order="C") for key, value in arrays.items()}  # 0-d stays 0-d
    try:
        safetensors.numpy.save_file(contiguous, str(path), metadata=None if metadata is None else dict(metadata))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"cannot write {path}: {exc}") from None


def decode_bfloat16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values from their uint16 bit patterns, exactly, as float32 (x = bits · 2¹⁶ reinterpreted)."""
    wide = bits.astype(np.uint32)
    np.left_shift(wide, 16, out=wide)
    return wide.view(np.float32)


@dataclass(frozen=True, eq=False)
class TensorFile:
    """The checked headers of a weights file and a reader for each tensor.

    ``shapes[key]`` and ``dtypes[key]`` (safetensors names: F16, BF16, F32, F64, or the
    refused ones such as I64, BOOL, F8_E4M3, C64) come from the headers; :meth:`read` returns
    a read-only float32 or float64 array and refuses any other dtype, naming the key (with
    ``integer_scalars``, an integer or boolean scalar is read as a float64 number).
    """

    path: Path
    shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, str]
    _readers: Mapping[str, Callable[[], np.ndarray]] = field(repr=False)

    def read(self, key: str, integer_scalars: bool = False) -> np.ndarray:
        dtype = self.dtypes[key]
        if (integer_scalars and dtype not in FLOAT_DTYPES and self.shapes[key] == ()
                and (dtype in SCALAR_DTYPES or dtype in _NUMPY_SCALAR_NAMES)):
            scalar = np.array(float(self._readers[key]()), dtype=np.float64)  # an integer or boolean scalar
            scalar.setflags(write=False)
            return scalar
        if dtype not in FLOAT_DTYPES:
            raise WeightsError(f"{key} has dtype {dtype} in {self.path.name}; expected float16, bfloat16, float32 or float64")
        array = self._readers[key]()
        if array.dtype == np.float16:
            array = array.astype(np.float32)
        elif array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("="))
        array = array.view(np.ndarray)
        array.setflags(write=False)
        return array


#: The index of a sharded safetensors checkpoint (Hugging Face ``save_pretrained`` past ``max_shard_size``).
SHARD_INDEX = ".safetensors.index.json"


def open_tensor_file(path: str | Path) -> TensorFile:
    """Read and check the headers of a .safetensors or .npz file, or of every shard named by a
    ``*.safetensors.index.json`` (no tensor data is read)."""
    path = Path(path)
    if path.name.endswith(SHARD_INDEX) and path.is_file():
        return _open_sharded(path)
    if path.suffix not in (".npz", ".safetensors"):
        raise WeightsError(f"unknown weights file type {path.suffix or '(none)'!r} for {path}: expected .npz or .safetensors (pickle-based formats are never read)")
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a weights file")
    if not path.is_file():
        raise WeightsError(f"cannot read {path}: no such file")
    try:
        return _open_safetensors(path) if path.suffix == ".safetensors" else _open_npz(path)
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None


def _shape(key: str, shape: object, where: str) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)) or not all(type(n) is int and n >= 0 for n in shape):
        raise WeightsError(f"{where}: {key} declares shape {shape!r}; expected a list of non-negative integers")
    return tuple(shape)


def source_files(path: str | Path) -> tuple[Path, ...]:
    """The files a weights path reads: itself, and for a shard index the shards it names too."""
    path = Path(path)
    if not (path.name.endswith(SHARD_INDEX) and path.is_file()):
        return (path,)
    try:
        weight_map = json.loads(path.read_text(encoding="utf-8")).get("weight_map") or {}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        weight_map = {}
    names = {name for name in weight_map.values() if isinstance(name, str)} if isinstance(weight_map, dict) else set()
    return (path,) + tuple(path.parent / name for name in sorted(names))


def _open_sharded(index: Path) -> TensorFile:
    """The shards of ``index`` as one :class:`TensorFile`: its ``weight_map`` names, for each key, a
    .safetensors file in the same directory; every shard's headers are checked, each key must lie in
    the shard the map names, and a shard may hold no key the map does not give it."""
    where = f"cannot read the sharded checkpoint {index}"
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise WeightsError(f"{where}: the index is not a JSON object ({exc})") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise WeightsError(f"{where}: the index has no weight_map (a JSON object from tensor names to shard files)")
    shards: dict[str, list[str]] = {}
    for key, name in weight_map.items():
        if not (isinstance(name, str) and name.endswith(".safetensors") and Path(name).name == name and name not in (".", "..")):
            raise WeightsError(f"{where}: weight_map gives {key} the shard {name!r}; expected a .safetensors file name "
                               "in the index's directory")
        shards.setdefault(name, []).append(key)
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    readers: dict[str, Callable[[], np.ndarray]] = {}
    for name, keys in shards.items():
        try:
            shard = open_tensor_file(index.parent / name)
        except WeightsError as exc:
            raise WeightsError(f"{where}: {exc}") from None
        missing = sorted(set(keys) - set(shard.shapes))
        if missing:
            raise WeightsError(f"{where}: weight_map puts {missing[0]} in {name}, which does not hold it")
        extra = sorted(set(shard.shapes) - set(keys))
        if extra:
            raise WeightsError(f"{where}: {name} holds {extra[0]}, which weight_map gives to another shard or omits")
        for key in keys:
            shapes[key], dtypes[key] = shard.shapes[key], shard.dtypes[key]
            readers[key] = (lambda shard=shard, key=key: shard.read(key))
    return TensorFile(index, shapes, dtypes, readers)


def _open_safetensors(path: Path) -> TensorFile:
    size = path.stat().st_size
    where = f"cannot read {path} as safetensors"
    with open(path, "rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            raise WeightsError(f"{where}: the file has {size} bytes, fewer than its 8-byte header length")
        (length,) = struct.unpack("<Q", start)
        if length > min(size - 8, MAX_HEADER):
            raise WeightsError(f"{where}: the header declares {length} bytes but the file has {size - 8} after the length")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{where}: the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{where}: the header is not a JSON object")
    data_start, data_size = 8 + length, size - 8 - length
    shapes, dtypes, ranges = {}, {}, {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise WeightsError(f"{where}: the entry of {key} needs dtype, shape and data_offsets; got {entry!r:.80}")
        dtype = entry["dtype"]
        if not isinstance(dtype, str):
            raise WeightsError(f"{where}: {key} declares dtype {dtype!r}; expected a name such as F32")
        shape = _shape(key, entry["shape"], where)
        offsets = entry["data_offsets"]
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise WeightsError(f"{where}: {key} has data_offsets {offsets!r}, outside the {data_size} data bytes of the file")
        expected = math.prod(shape) * _ITEMSIZE.get(dtype, 0)
        if dtype in _ITEMSIZE and offsets[1] - offsets[0] != expected:
            raise WeightsError(f"{where}: {key} declares shape {list(shape)} of {dtype} ({expected} bytes) "
                               f"but data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes")
        shapes[key], dtypes[key], ranges[key] = shape, dtype, (data_start + offsets[0], data_start + offsets[1])
    mapped: list[np.memmap] = []

    def reader(key: str) -> Callable[[], np.ndarray]:
        def read() -> np.ndarray:
            begin, end = ranges[key]
            if dtypes[key] in ("F16", "BF16"):
                return _widen(path, begin, shapes[key], dtypes[key])
            if begin == end:  # an empty tensor: nothing to map
                return np.zeros(shapes[key], FLOAT_DTYPES[dtypes[key]])
            if not mapped:
                mapped.append(np.memmap(path, dtype=np.uint8, mode="r"))
            return mapped[0][begin:end].view({**FLOAT_DTYPES, **SCALAR_DTYPES}[dtypes[key]]).reshape(shapes[key])
        return read

    return TensorFile(path, shapes, dtypes, {key: reader(key) for key in shapes})


def _widen(path: Path, begin: int, shape: tuple[int, ...], dtype: str, chunk: int = 1 << 22) -> np.ndarray:
    """A float16/bfloat16 tensor decoded into float32 chunk by chunk from plain reads, so that the
    16-bit data is never resident all at once beside its float32 copy (peak: 2× the stored bytes)."""
    out = np.empty(math.prod(shape), dtype=np.float32)
    with open(path, "rb") as handle:
        handle.seek(begin)
        for start in range(0, out.size, chunk):
            count = min(chunk, out.size - start)
            bits = np.fromfile(handle, dtype="<u2", count=count)
            out[start:start + count] = decode_bfloat16(bits) if dtype == "BF16" else bits.view(np.float16)
    return out.reshape(shape)


def _npy_header(stream, key: str, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(stream, max_header_size=100_000)
    except (ValueError, EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
        raise WeightsError(f"{where}: member {key}.npy has no valid .npy header ({exc})") from None
    return _shape(key, list(shape), where), fortran, dtype


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.hasobject:
        return "object"
    return _NUMPY_NAMES.get(dtype.newbyteorder("=").name if dtype.byteorder in "<>" else dtype.name, str(dtype))


def _open_npz(path: Path) -> TensorFile:
    where = f"cannot read {path} as .npz"
    size = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        with open(path, "rb") as handle:
            start = handle.read(6)
        if start == b"\x93NUMPY":
            raise WeightsError(f"{path} holds a single array, not named arrays (an .npz archive)") from None
        if start[:1] == b"\x80":
            raise WeightsError(f"{where}: it is a Python pickle, which tensoralg never reads (unpickling runs code)") from None
        raise WeightsError(f"{where}: {exc}") from None
    shapes, dtypes, readers = {}, {}, {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise WeightsError(f"{where}: member {info.filename} is not a .npy array")
            key = info.filename[:-4]
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise WeightsError(f"{where}: member {info.filename} uses an unsupported compression (method {info.compress_type})")
            if info.header_offset + info.compress_size > size:
                raise WeightsError(f"{where}: member {info.filename} extends past the end of the file")
            if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1):
                raise WeightsError(f"{where}: member {info.filename} claims {info.file_size} bytes from {info.compress_size} "
                                   f"compressed, more than deflate can produce (a corrupt file or a zip bomb)")
            try:
                with archive.open(info) as stream:
                    shape, fortran, dtype = _npy_header(stream, key, where)
                    header_size = stream.tell()
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
                raise WeightsError(f"{where}: member {info.filename}: {exc}") from None
            name = _dtype_name(dtype)
            if name == "object":
                raise WeightsError(f"{path}: key {key} holds Python objects that cannot be read without pickle, which tensoralg never uses")
            expected = math.prod(shape) * dtype.itemsize
            if info.file_size - header_size != expected:
                raise WeightsError(f"{where}: {key} declares shape {list(shape)} of {dtype} ({expected} bytes) "
                                   f"but its member holds {info.file_size - header_size} bytes")
            shapes[key], dtypes[key] = shape, name
            readers[key] = _npz_reader(path, info, header_size, shape, fortran, dtype, where)
    return TensorFile(path, shapes, dtypes, readers)


def _npz_reader(path: Path, info: zipfile.ZipInfo, header_size: int, shape: tuple[int, ...], fortran: bool,
                dtype: np.dtype, where: str) -> Callable[[], np.ndarray]:
    order = "F" if fortran else "C"

    def read() -> np.ndarray:
        count = math.prod(shape)
        if info.compress_type == zipfile.ZIP_STORED and count:
            with open(path, "rb") as handle:  # the local header's name and extra fields precede the data
                handle.seek(info.header_offset)
                local = handle.read(30)
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            offset = info.header_offset + 30 + name_length + extra_length + header_size
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
        out = np.empty(count, dtype=dtype)
        buffer = out.view(np.uint8)
        try:
            with zipfile.ZipFile(path) as archive, archive.open(info) as stream:
                stream.seek(header_size)
                filled = 0
                while filled < buffer.size:
                    got = stream.readinto(buffer[filled:filled + (1 << 24)])
                    if not got:
                        break
                    filled += got
                if filled != buffer.size or stream.read(1):
                    raise WeightsError(f"{where}: member {info.filename} does not hold the {buffer.size} bytes its header declares")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise WeightsError(f"{where}: member {info.filename}: {exc}") from None
        return out.reshape(shape, order=order)

    return read
