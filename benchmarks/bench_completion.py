"""Proofs modulo relations: completion, reduction with cofactors, and the independent checker.

    python benchmarks/bench_completion.py

Workload: A^{L−1,0} ⋯ A^{1,0} A^{0,0} 𝟙 = 𝟙 for L patterns (each A𝟙 = 𝟙) and the centring
relations P² = P, Pᵀ = P, P𝟙 = 0 with P(P W_E + 𝟙cᵀ) = P W_E. For each: completion time,
certificate size, and the whole proof's time as a ratio of the checker's time measured in
the same run (the checker only expands Σ c·u·(ℓ − r)·v in the free algebra's normal form).
"""

from __future__ import annotations

import time

from tensoralg.algebra.certificate import check_certificate
from tensoralg.formula.parsing import Context, parse_equation
from tensoralg.verify.assumptions import check_assuming


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def row(label: str, text: str, assume=(), lets=()) -> None:
    seconds, verdict = best_of(lambda: check_assuming(text, assume, declarations=lets))
    lhs, rhs = parse_equation(text, Context.build(lets))
    check_seconds, check = best_of(lambda: check_certificate(lhs, rhs, verdict.certificate))
    assert verdict.status == "PROVED" and check.ok
    print(f"{label:<34} {len(verdict.certificate):>6} {verdict.completion['rules']:>6} "
          f"{verdict.completion['seconds'] * 1e3:>10.2f} {seconds * 1e3:>10.2f} {check_seconds * 1e3:>10.2f} "
          f"{seconds / check_seconds:>8.1f}×")


def main() -> None:
    print(f"{'statement':<34} {'terms':>6} {'rules':>6} {'compl. ms':>10} {'proof ms':>10} {'check ms':>10} {'ratio':>9}")
    for L in (2, 8, 32, 64):
        product = " ".join(f"A^{{{l},0}}" for l in reversed(range(L)))
        row(f"L = {L} patterns", f"{product} 𝟙 == 𝟙")
    row("centring P(P W_E + 𝟙cᵀ) = P W_E", "P (P W_E + 𝟙 cᵀ) == P W_E", ("P P = P", "Pᵀ = P", "P 𝟙 = 0"),
        ("P: d_model x d_model", "c: n_vocab x 1"))


if __name__ == "__main__":
    main()
