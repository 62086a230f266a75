"""Normal form of the expanded product Π_{l=4..1} (Id + Σ_{h=1..H} A^{l,h}⊗W_OV^{l,h}): (H+1)⁴ terms.

This is the whole-model path expansion of a 4-layer model with H heads per layer
(distinct symbols in each layer, so no two terms collect).

Baseline, measured in the same run: sympy expanding the same product with
noncommutative symbols and ``sympy.physics.quantum.TensorProduct`` (the mixed
product is applied when tensor products are multiplied). sympy is timed on the
sizes it finishes in seconds; tensoralg also on ~100k terms, and the time per
term across sizes shows how cost grows.

    python benchmarks/bench_normal_form.py [--max-heads 17] [--sympy-max-heads 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

from tensoralg.algebra.expr import Identity, Product, Sum, Tensor, atom
from tensoralg.algebra.symbols import Symbol


def tensoralg_product(heads: int) -> int:
    factors = []
    for layer in range(4):
        terms = [Tensor((Identity("n_ctx"), Identity("d_model")))]
        for h in range(heads):
            A = atom(Symbol("A", (layer, h), "n_ctx", "n_ctx"))
            W = atom(Symbol("W_OV", (layer, h), "d_model", "d_model"))
            terms.append(Tensor((A, W)))
        factors.append(Sum(tuple(terms)))
    return len(Product(tuple(factors)).normal_form)


def sympy_product(heads: int) -> int:
    from sympy import Add, Mul, symbols
    from sympy.physics.quantum import TensorProduct

    IA, IW = symbols("I_A I_W", commutative=False)
    layers = []
    for layer in range(4):
        A = symbols(f"A{layer}_0:{heads}", commutative=False)
        W = symbols(f"W{layer}_0:{heads}", commutative=False)
        layers.append([TensorProduct(IA, IW)] + [TensorProduct(a, w) for a, w in zip(A, W)])
    words = [(x,) for x in layers[0]]
    for factor in layers[1:]:
        words = [w + (y,) for w in words for y in factor]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sympy.physics.quantum.tensorproduct import tensor_product_simp

        return len(Add.make_args(Add(*(tensor_product_simp(Mul(*w, evaluate=False)) for w in words))))


def timed(fn, heads: int, repeat: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(heads)
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-heads", type=int, default=17)
    parser.add_argument("--sympy-max-heads", type=int, default=5)
    args = parser.parse_args()

    sympy_product(1)  # warm-up: imports and caches, so they do not count against sympy
    print(f"{'H':>3} {'terms':>8} {'tensoralg s':>12} {'µs/term':>8} {'sympy s':>9} {'sympy/tensoralg':>16}")
    for heads in sorted({2, 3, 4, 5, 8, 12, args.max_heads}):
        if heads > args.max_heads:
            continue
        ours, count = timed(tensoralg_product, heads, repeat=3 if heads < 12 else 1)
        assert count == (heads + 1) ** 4
        line = f"{heads:>3} {count:>8} {ours:>12.4f} {1e6 * ours / count:>8.2f}"
        if heads <= args.sympy_max_heads:
            theirs, n = timed(sympy_product, heads, repeat=1)
            assert n == count
            line += f" {theirs:>9.3f} {theirs / ours:>15.1f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
