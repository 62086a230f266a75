"""Loading a GPT-2-small-sized Hugging Face checkpoint: time and peak memory against plain safetensors.

Writes a random checkpoint shaped like GPT-2 small (12 layers × 12 heads, d_model 768, d_mlp 3072,
n_vocab 50257, n_ctx 1024: 124 M parameters, 498 MB in float32) with its config.json into a
temporary directory, then, each in a fresh subprocess so that peak memory is the load's own:

* baseline: ``safetensors.numpy.load_file`` — the file read into numpy arrays (no checks);
* tensoralg: ``load_checkpoint`` — headers checked, the tensors viewed through one memory map,
  every value checked (finite, |w| ≤ 1e6), the Model built with the paper's layout (views).

Peak memory is the child's high-water mark of resident memory (VmHWM, reset through
/proc/self/clear_refs after the imports) minus its resident size just before loading, as a multiple of the file size; pages of the memory map count as
resident once touched. Times are the best of ``--repeat`` alternating runs (the page cache is warm
for both after the first run). float16 and bfloat16 files decode into float32, so their loaded
model is twice the file size by necessity.

    python benchmarks/bench_loading.py [--dtype F32|F16|BF16] [--repeat 3] [--scale 1.0]

``--scale 0.1`` shrinks n_vocab, n_ctx and the layer count for a quick run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

LAYERS, HEADS, D_MODEL, N_VOCAB, N_CTX = 12, 12, 768, 50257, 1024

CHILD = r"""
import json, sys, time
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
which, path = sys.argv[1], sys.argv[2]
if which == "baseline":
    import safetensors.numpy
    load = lambda: safetensors.numpy.load_file(path)
else:
    from tensoralg.models.checkpoints import load_checkpoint
    load = lambda: load_checkpoint(path)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark VmHWM: the imports' own peak does not count
before = status("VmRSS")
start = time.perf_counter()
result = load()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak": status("VmHWM") - before}))
"""


def write_checkpoint(folder: Path, dtype: str, scale: float) -> Path:
    """A random GPT-2-shaped checkpoint (model.safetensors + config.json), written tensor by tensor."""
    import safetensors.numpy

    layers, vocab, ctx = max(1, round(LAYERS * scale)), max(16, round(N_VOCAB * scale)), max(16, round(N_CTX * scale))
    rng = np.random.default_rng(0)
    d, m = D_MODEL, 4 * D_MODEL
    shapes = {"transformer.wte.weight": (vocab, d), "transformer.wpe.weight": (ctx, d),
              "transformer.ln_f.weight": (d,), "transformer.ln_f.bias": (d,)}
    for l in range(layers):
        shapes |= {f"transformer.h.{l}.{k}": s for k, s in [
            ("ln_1.weight", (d,)), ("ln_1.bias", (d,)), ("attn.c_attn.weight", (d, 3 * d)), ("attn.c_attn.bias", (3 * d,)),
            ("attn.c_proj.weight", (d, d)), ("attn.c_proj.bias", (d,)), ("ln_2.weight", (d,)), ("ln_2.bias", (d,)),
            ("mlp.c_fc.weight", (d, m)), ("mlp.c_fc.bias", (m,)), ("mlp.c_proj.weight", (m, d)), ("mlp.c_proj.bias", (d,))]}
    arrays = {k: (rng.standard_normal(s, dtype=np.float32) * 0.02) for k, s in shapes.items()}
    if dtype == "F16":
        arrays = {k: v.astype(np.float16) for k, v in arrays.items()}
    elif dtype == "BF16":  # bfloat16 bits (truncated float32), stored through a uint16 view and relabelled below
        arrays = {k: (v.view(np.uint32) >> 16).astype(np.uint16) for k, v in arrays.items()}
    path = folder / "model.safetensors"
    safetensors.numpy.save_file(arrays, str(path))
    if dtype == "BF16":
        _relabel(path, "U16", "BF16")
    (folder / "config.json").write_text(json.dumps({"n_head": HEADS, "n_embd": d, "n_layer": layers, "vocab_size": vocab,
                                                    "n_positions": ctx, "layer_norm_epsilon": 1e-5,
                                                    "activation_function": "gelu_new"}))
    return path


def _relabel(path: Path, old: str, new: str) -> None:
    """Rename a dtype in a safetensors header in place (same length: "U16" and "BF16" differ by one, so pad)."""
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    for entry in header.values():
        if isinstance(entry, dict) and entry.get("dtype") == old:
            entry["dtype"] = new
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length:])


def run(which: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=("F32", "F16", "BF16"), default="F32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = write_checkpoint(Path(folder), args.dtype, args.scale)
        size = path.stat().st_size
        runs: dict[str, list[dict]] = {"baseline": [], "tensoralg": []}
        for _ in range(args.repeat):
            for which in ("tensoralg",) if args.dtype == "BF16" else ("baseline", "tensoralg"):
                runs[which].append(run(which, path))
    print(f"checkpoint: {size / 1e6:.0f} MB ({args.dtype}), best of {args.repeat}")
    best = {w: min(r, key=lambda x: x["seconds"]) for w, r in runs.items() if r}
    for which, result in best.items():
        peak = max(r["peak"] for r in runs[which])
        print(f"{which:<10} {result['seconds']:7.3f} s   peak memory {peak / 1e6:7.0f} MB = {peak / size:.2f}× the file")
    if "baseline" in best:
        print(f"time ratio tensoralg / safetensors→numpy: {best['tensoralg']['seconds'] / best['baseline']['seconds']:.2f}")


if __name__ == "__main__":
    main()
