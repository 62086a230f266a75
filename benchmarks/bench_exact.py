"""Exact matrix arithmetic: python-flint (fmpq_mat over ℚ, nmod_mat over GF(2⁶¹−1)) against
sympy's exact matrices, measured in the same run on the same integer matrices.

    python benchmarks/bench_exact.py

Workloads: a chain of matrix products (what evaluating a word W_U W_OV W_OV W_E costs),
an inverse (C4's M⁻¹), and one full exact evaluation of C11's two-layer expansion.
"""

from __future__ import annotations

import time

import numpy as np
import sympy
from sympy.physics.quantum import TensorProduct

from tensoralg.algebra.exact import PRIME_FIELD, RATIONALS, evaluate_exact, random_instance
from tensoralg.algebra.definitions import expand_definitions
from tensoralg.algebra.expr import spaces_in, symbols_in
from tensoralg.algebra.expr import iter_terms
from tensoralg.formula.parsing import Context, parse


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def chain(mats):
    out = mats[0]
    for m in mats[1:]:
        out = out * m
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'workload':34} {'sympy (s)':>10} {'flint Q (s)':>12} {'flint GF(p) (s)':>16} {'sympy/flint Q':>14}")
    for n in (8, 16, 32):
        raw = [rng.integers(-3, 4, size=(n, n)) for _ in range(4)]
        sy = [sympy.Matrix(r.tolist()) for r in raw]
        fq = [RATIONALS.matrix(n, n, (int(x) for x in r.reshape(-1))) for r in raw]
        fp = [PRIME_FIELD.matrix(n, n, (int(x) for x in r.reshape(-1))) for r in raw]
        t_sy, t_q, t_p = best_of(lambda: chain(sy)), best_of(lambda: chain(fq)), best_of(lambda: chain(fp))
        print(f"{f'product of 4, n={n}':34} {t_sy:10.4f} {t_q:12.6f} {t_p:16.6f} {t_sy / t_q:14.0f}x")
        t_sy, t_q, t_p = best_of(lambda: sy[0].inv(), 1), best_of(lambda: fq[0].inv()), best_of(lambda: fp[0].inv())
        print(f"{f'inverse, n={n}':34} {t_sy:10.4f} {t_q:12.6f} {t_p:16.6f} {t_sy / t_q:14.0f}x")

    ctx = Context.build(heads=(2, 2))
    c11 = expand_definitions(parse("(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)", ctx))
    for size in (3, 5):
        dims = {s: size for s in spaces_in(c11)}
        q = random_instance(symbols_in(c11), dims, 0, RATIONALS)
        p = random_instance(symbols_in(c11), dims, 0, PRIME_FIELD)
        sy = {s: sympy.Matrix(v.nrows(), v.ncols(), [int(x.p) for x in v.entries()]) for s, v in q.items()}

        def sympy_c11():
            # The same Kronecker-product evaluation, term by term, with sympy matrices.
            total = None
            for c, factors in iter_terms(c11.normal_form):
                mats = []
                for f, (rows, _) in zip(factors, c11.shape):
                    word = list(f.factors) if hasattr(f, "factors") else [f]
                    m = sympy.eye(dims[rows])
                    for atom in word:
                        if hasattr(atom, "symbol"):
                            m = m * sy[atom.symbol]
                    mats.append(m)
                term = TensorProduct(*mats) * c
                total = term if total is None else total + term
            return total

        t_sy = best_of(sympy_c11, 2)
        t_q = best_of(lambda: evaluate_exact(c11, q, dims, RATIONALS))
        t_p = best_of(lambda: evaluate_exact(c11, p, dims, PRIME_FIELD))
        print(f"{f'C11 expansion, all sizes {size}':34} {t_sy:10.4f} {t_q:12.6f} {t_p:16.6f} {t_sy / t_q:14.0f}x")


if __name__ == "__main__":
    main()
