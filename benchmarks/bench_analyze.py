"""The whole ``tensoralg analyze`` at GPT-2 shapes: per-phase time against the machine's floor, peak
memory, growth from small to XL, same-run baselines, and a float64 reference check.

    python benchmarks/bench_analyze.py [--shapes small,medium,xl] [--repeat 3] [--dir /tmp]
                                       [--no-baselines] [--no-reference] [--keep]

For each shape a float32 .safetensors file of random Gaussian weights is written to ``--dir``
(streamed tensor by tensor) and deleted afterwards unless ``--keep``:

    small   12×12 heads, d_model 768,  d_head 64, n_vocab 50257, n_ctx 1024, no MLPs   (0.43 GB)
    medium  24×16 heads, d_model 1024, d_head 64, n_vocab 50257, n_ctx 1024, no MLPs   (0.84 GB)
    xl      48×25 heads, d_model 1600, d_head 64, n_vocab 50257, n_ctx 1024, MLPs 6400 (6.2 GB)

``tensoralg analyze FILE --json -v`` runs ``--repeat`` times in a fresh process under
``/usr/bin/time -f %M`` (peak RSS); the medians of its per-phase times are printed next to each
phase's floor: its GEMM FLOPs divided by the GEMM rate measured in this run (float32 and float64
separately), or for loading and stacking, the bytes moved divided by the measured copy rate.
Floors count matrix products only (not exp, eigvals, sorting), so a ratio near 1 means the phase
is GEMM-bound at the machine's speed.

Baselines (small shape, the same number of runs, medians, each in analyze's precision for that part):
* OV spectra per head, TransformerLens's FactoredMatrix route: form W_U W_O^h and W_V^h W_E
  (n_vocab × d_head each), then eigvals of their d_head × d_head product, for all 144 heads, in
  float64 like analyze's n_vocab-long products (the float32 → float64 cast is not timed);
* composition, all pairs batched as TransformerLens's ``all_composition_scores`` does: per reader
  layer, the FactoredMatrix products of its heads' W_QK / W_OV with every head's W_OV and their
  Frobenius norms from d_head-sized Gram matrices (all H² pairs, then masked), in float32 like
  analyze's composition product.
Goal: the whole ``analyze`` at least 3× faster than the OV-spectra baseline alone.

Reference (small shape): every score of analyze's float32 path against the same computation with
all weights in float64: largest deviation, relative (absolute where the score is below 1e-3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tensoralg.models.circuits import copying_scores, head_weights, ov_circuits, qk_circuits
from tensoralg.models.composition import composition_scores
from tensoralg.models.factored import FactoredMatrix
from tensoralg.models.induction import behavioural_scores, previous_token_scores
from tensoralg.models.model import AttentionLayer, MLPLayer, Model
from tensoralg.models.weights import load_weights

PHASES = ("load", "stack heads", "spectra", "composition", "previous-token", "induction", "behaviour")


class Shape(NamedTuple):
    name: str
    layers: int
    heads: int
    d_model: int
    d_head: int = 64
    n_vocab: int = 50257
    n_ctx: int = 1024
    d_mlp: int = 0

    @property
    def H(self) -> int:
        return self.layers * self.heads


SHAPES = {
    "small": Shape("small", 12, 12, 768),
    "medium": Shape("medium", 24, 16, 1024),
    "xl": Shape("xl", 48, 25, 1600, d_mlp=6400),
}


def tensors(shape: Shape):
    """(name, shape) of every tensor of a model of this shape, tensoralg naming."""
    d, k, H = shape.d_model, shape.d_head, shape.heads
    yield "W_E", (d, shape.n_vocab)
    yield "W_U", (shape.n_vocab, d)
    yield "W_pos", (d, shape.n_ctx)
    for l in range(shape.layers):
        for name in ("W_Q", "W_K", "W_V"):
            yield f"layers.{l}.{name}", (H, k, d)
        yield f"layers.{l}.W_O", (H, d, k)
        if shape.d_mlp:
            yield f"mlps.{l}.W_in", (shape.d_mlp, d)
            yield f"mlps.{l}.W_out", (d, shape.d_mlp)


def write_weights(shape: Shape, path: Path, seed: int = 0) -> int:
    """A float32 .safetensors file of Gaussian weights (entries N(0, 1/fan_in)), written one tensor at a
    time (8-byte header length, JSON header, raw little-endian data), so memory stays at one tensor."""
    entries, offset = {}, 0
    for name, dims in tensors(shape):
        size = int(np.prod(dims)) * 4
        entries[name] = {"dtype": "F32", "shape": list(dims), "data_offsets": [offset, offset + size]}
        offset += size
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as out:
        out.write(len(header).to_bytes(8, "little"))
        out.write(header)
        for name, dims in tensors(shape):
            array = rng.standard_normal(dims, dtype=np.float32)
            array *= np.float32(1 / np.sqrt(dims[-1]))
            out.write(array.astype("<f4", copy=False).tobytes())
    return path.stat().st_size


def gemm_rate(dtype: type, runs: int = 5) -> float:
    """Median FLOP/s of a (768 × 4096)·(4096 × 768) product, the shape of analyze's n_vocab-long products."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((768, 4096)).astype(dtype), rng.standard_normal((4096, 768)).astype(dtype)
    a @ b
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * 768 * 4096 * 768 / statistics.median(times)


def copy_rate(runs: int = 5) -> float:
    """Median bytes/s of copying a 256 MB array (the floor of reading a cached file into memory)."""
    source = np.ones(2**26, dtype=np.float32)
    target = np.empty_like(source)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - start)
    return source.nbytes / statistics.median(times)


def floors(shape: Shape, file_bytes: int, f32: float, f64: float, copy: float, seq_len: int = 25, sequences: int = 4) -> dict[str, float]:
    """Seconds per phase at the measured rates: matrix-product FLOPs (or bytes moved) / rate."""
    d, k, H, N, n = shape.d_model, shape.d_head, shape.H, shape.n_vocab, shape.n_ctx
    heads_per_layer = [shape.heads] * shape.layers
    attention_bytes = 4 * H * 4 * k * d
    spectra = 2 * (2 * d * d * N) / f64 + 2 * (2 * H * k * d * d + 2 * H * k * k * d) / f64
    earlier = np.cumsum([0] + heads_per_layer[:-1])
    composition = sum(2 * 3 * h * k * d * w * k for h, w in zip(heads_per_layer, earlier)) / f32 + 16 * H * k * k * d / f64
    previous = H * (2 * 2 * k * d * n + 2 * n * n * k) / f32
    S, T = sequences, seq_len
    rows = S * 2 * T
    forward = shape.layers * (2 * rows * 4 * shape.heads * k * d + 2 * 2 * S * shape.heads * (2 * T) ** 2 * k + 2 * rows * 2 * d * shape.d_mlp)
    behaviour = forward / f64 + 2 * S * H * T * 512 * d / f32  # the screening's first vocabulary chunk only
    return {"load": file_bytes / copy, "stack heads": attention_bytes / copy, "spectra": spectra, "composition": composition,
            "previous-token": previous, "induction": 0.0, "behaviour": behaviour}


def run_analyze(path: Path, repeat: int) -> tuple[dict[str, float], float, float]:
    """Median per-phase times, median total wall time and the largest peak RSS (GB) of ``repeat`` CLI runs."""
    per_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    totals, peaks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "tensoralg", "analyze", str(path), "--json", "-v"],
                              capture_output=True, text=True, check=True)
        totals.append(time.perf_counter() - start)
        lines = done.stderr.strip().splitlines()
        peaks.append(int(lines[-1]) / 2**20)
        for line in lines[:-1]:
            name = line[:16].strip()
            if name in per_phase:
                per_phase[name].append(float(line[16:].split()[0]))
    return {p: statistics.median(v) for p, v in per_phase.items() if v}, statistics.median(totals), max(peaks)


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ov_spectra_baseline(W_E: np.ndarray, W_U: np.ndarray, W_V: np.ndarray, W_O: np.ndarray) -> list[np.ndarray]:
    """Per head: W_U W_O^h (n_vocab × d_head) and W_V^h W_E (d_head × n_vocab), then eigvals of their product
    (in the precision of the arrays given: float64, as analyze computes its n_vocab-long products)."""
    return [np.linalg.eigvals((W_V[i] @ W_E) @ (W_U @ W_O[i])) for i in range(W_V.shape[0])]


def composition_baseline(heads) -> np.ndarray:
    """TransformerLens's all_composition_scores as batched FactoredMatrix products, one reader layer at a time."""
    W_OV = FactoredMatrix(heads.W_O, heads.W_V)[None]  # 1 × H × d × d, inner d_head
    W_QK = FactoredMatrix(np.swapaxes(heads.W_Q, -1, -2), heads.W_K)
    layers = heads.layers
    out = np.zeros((3, len(layers), len(layers)))
    writer_norms = W_OV.norm()
    for l in np.unique(layers):
        idx = np.flatnonzero(layers == l)
        qk, ov = W_QK[idx].unsqueeze(1), FactoredMatrix(heads.W_O[idx], heads.W_V[idx]).unsqueeze(1)  # R × 1 × d × d
        for m, reader in enumerate((qk.T, qk, ov)):
            out[m][:, idx] = ((reader @ W_OV).norm() / (reader.norm() * writer_norms)).T
    return np.where(layers[:, None] < layers[None, :], out, 0.0)


def reference_check(path: Path) -> dict[str, float]:
    """Largest deviation of each float32-path score from the all-float64 computation."""
    model = load_weights(path)
    wide = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
    model64 = Model(wide(model.W_E), wide(model.W_U),
                    tuple(AttentionLayer(*(wide(getattr(layer, n)) for n in ("W_Q", "W_K", "W_V", "W_O"))) for layer in model.layers),
                    W_pos=wide(model.W_pos), mlps=tuple(None if m is None else MLPLayer(wide(m.W_in), wide(m.W_out)) for m in model.mlps),
                    score_scale=model.score_scale)

    def scores(m: Model) -> dict[str, np.ndarray]:
        heads = head_weights(m)
        ov = ov_circuits(heads)
        comp = composition_scores(heads, np.random.default_rng(0))
        behaviour = behavioural_scores(m, np.random.default_rng(0))
        return {"OV copying": copying_scores(ov), "QK same-matching": copying_scores(qk_circuits(heads)),
                "OV singular values": ov.singular_values(), "OV norms": ov.norm(),
                "composition Q/K/V": np.stack([comp.q, comp.k, comp.v]), "previous-token": previous_token_scores(heads),
                "prefix matching": behaviour.prefix_matching, "behavioural copying": behaviour.copying}

    low = scores(model)
    high = scores(model64)
    del model64
    gaps = {}
    for name, ref in high.items():
        scale = np.where(np.abs(ref) < 1e-3, 1.0, np.abs(ref))
        gaps[name] = float(np.max(np.abs(low[name] - ref) / scale))
    return gaps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="small,medium", help="comma-separated: small, medium, xl (default small,medium)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of analyze and of each baseline; medians are reported (default 3)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the weight files are written (default the temp dir)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the same-run baselines")
    parser.add_argument("--no-reference", action="store_true", help="skip the float64 reference check")
    parser.add_argument("--keep", action="store_true", help="keep the weight files")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        parser.error(f"unknown shape {unknown[0]!r}; known: {', '.join(SHAPES)}")

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores "
          f"({platform.processor() or platform.platform()}); numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}")
    f32, f64, copy = gemm_rate(np.float32), gemm_rate(np.float64), copy_rate()
    print(f"measured in this run: float32 GEMM {f32 / 1e9:.1f} GFLOP/s, float64 GEMM {f64 / 1e9:.1f} GFLOP/s, copy {copy / 1e9:.1f} GB/s\n")
    results = {}
    for name in names:
        shape = SHAPES[name]
        path = Path(args.dir) / f"bench_analyze_{name}.safetensors"
        size = write_weights(shape, path)
        try:
            repeat = 1 if name == "xl" else args.repeat
            phases, total, peak = run_analyze(path, repeat)
            floor = floors(shape, size, f32, f64, copy)
            results[name] = (phases, total, peak, size)
            print(f"{name}: {shape.layers}×{shape.heads} heads, d_model {shape.d_model}, "
                  f"{'MLPs ' + str(shape.d_mlp) if shape.d_mlp else 'no MLPs'}; file {size / 1e9:.2f} GB; "
                  f"median of {repeat} run(s)")
            print(f"  {'phase':<16} {'time':>8} {'floor':>8} {'ratio':>7}")
            for phase in PHASES:
                t, f = phases.get(phase, 0.0), floor[phase]
                print(f"  {phase:<16} {t:8.2f} {f:8.2f} {t / f if f > 0 else float('nan'):7.1f}")
            print(f"  {'total (wall)':<16} {total:8.2f} {sum(floor.values()):8.2f} {total / sum(floor.values()):7.1f}")
            print(f"  peak RSS {peak:.2f} GB = {peak * 2**30 / size:.2f}× the file (goal ≤ 2×)\n")
            if name == "small" and not args.no_baselines:
                heads = head_weights(load_weights(path))
                wide = [np.asarray(a, np.float64) for a in (heads.W_E, heads.W_U, heads.W_V, heads.W_O)]
                t_ov = _median_time(lambda: ov_spectra_baseline(*wide), repeat)
                del wide
                t_comp = _median_time(lambda: composition_baseline(heads), repeat)
                ours = composition_scores(heads)
                theirs = composition_baseline(heads)
                gap = float(np.max(np.abs(np.stack([ours.q, ours.k, ours.v]) - theirs)))
                print(f"  baseline, 144 OV spectra per head (FactoredMatrix route): {t_ov:.2f} s; "
                      f"whole analyze {total:.2f} s: {t_ov / total:.1f}× faster (goal ≥ 3×)")
                print(f"  baseline, composition all pairs batched (all_composition_scores): {t_comp:.2f} s; "
                      f"analyze's composition phase {phases['composition']:.2f} s: {t_comp / phases['composition']:.1f}×; "
                      f"max score gap {gap:.1e}\n")
                del heads
            if name == "small" and not args.no_reference:
                print("  float64 reference, largest deviation (relative; absolute below 1e-3):")
                for score, gap in reference_check(path).items():
                    print(f"    {score:<22} {gap:.1e} {'ok' if gap <= 1e-5 else 'ABOVE 1e-5'}")
                print()
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)
    if len(results) > 1:
        first = names[0]
        print(f"growth relative to {first} (heads ×, time ×, peak RSS ×):")
        base_phases, base_total, base_peak, _ = results[first]
        for name in names[1:]:
            phases, total, peak, _ = results[name]
            per = ", ".join(f"{p} {phases[p] / base_phases[p]:.1f}×" for p in PHASES if base_phases.get(p, 0) > 0.05 and p in phases)
            print(f"  {name}: heads {SHAPES[name].H / SHAPES[first].H:.1f}×, total {total / base_total:.1f}×, "
                  f"peak {peak / base_peak:.1f}×; {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
