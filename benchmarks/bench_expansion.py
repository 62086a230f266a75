"""Streaming path-expansion terms as JSON: terms per second and peak memory, against same-run baselines.

    python benchmarks/bench_expansion.py

Cases: 4 layers × 8 heads (all 6561 terms), 12 layers × 12 heads up to order 2
(9649 terms) and up to order 3 (389809 terms), written to os.devnull by the code
behind ``tensoralg expand --format json``. Baselines, measured in the same run:

  list+dumps     the obvious implementation: a dict per term built from the term's
                 expression (normal form → letter_json), collected in a list, then
                 json.dumps of the whole document;
  normal form    the algebra alone: the normal form of the unexpanded product
                 T = (Id⊗W_U) Π_l (Id + Σ_h A^{l,h}⊗W_OV^{l,h}) (Id⊗W_E), printed with
                 printing.to_json (only for 4 × 8: for 12 × 12 it has 13¹² terms).

Time is measured without tracemalloc; peak memory in a second run with it.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from typing import Callable

from tensoralg.algebra.architecture import Architecture
from tensoralg.cli import build_parser
from tensoralg.cli.expand import run
from tensoralg.paths.expansion import iter_logit_terms, unexpanded_logits
from tensoralg.algebra.printing import letter_json, to_json


def streamed(argv: list[str]) -> Callable[[], None]:
    args = build_parser().parse_args(["expand", *argv, "--format", "json"])

    def go() -> None:
        with open(os.devnull, "w") as sink:
            run(args, out=sink)

    return go


def list_and_dumps(architecture: Architecture, max_order: int | None) -> Callable[[], None]:
    def go() -> None:
        terms = []
        for term in iter_logit_terms(architecture, max_order):
            (key, c), = term.expr.normal_form.terms.items()
            positional, residual = ([letter_json(letter) for letter in word] for word in key)
            terms.append({"order": term.order, "family": term.family, "source": term.source,
                          "positional": positional, "residual": residual, "coefficient": str(c)})
        with open(os.devnull, "w") as sink:
            sink.write(json.dumps({"architecture": architecture.to_json(), "kind": "logits", "terms": terms}))

    return go


def normal_form_of_product(architecture: Architecture) -> Callable[[], None]:
    def go() -> None:
        with open(os.devnull, "w") as sink:
            sink.write(json.dumps(to_json(unexpanded_logits(architecture))))

    return go


def measure(job: Callable[[], None]) -> tuple[float, float]:
    """(seconds, peak MiB): the best of two timed runs, then one run under tracemalloc."""
    seconds = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        job()
        seconds = min(seconds, time.perf_counter() - start)
    tracemalloc.start()
    job()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def main() -> None:
    cases = [
        ("4 layers × 8 heads", Architecture((8,) * 4), None, ["--layers", "4", "--heads", "8"], 6561),
        ("12 × 12, order ≤ 2", Architecture((12,) * 12), 2, ["--layers", "12", "--heads", "12", "--max-order", "2"], 9649),
        ("12 × 12, order ≤ 3", Architecture((12,) * 12), 3, ["--layers", "12", "--heads", "12", "--max-order", "3"], 389809),
    ]
    print(f"{'case':<20} {'method':<12} {'terms':>8} {'seconds':>8} {'terms/s':>10} {'peak MiB':>9} {'speed-up':>9}")
    for name, architecture, max_order, argv, n in cases:
        seconds, peak = measure(streamed(argv))
        rate = n / seconds
        print(f"{name:<20} {'streamed':<12} {n:>8} {seconds:>8.3f} {rate:>10,.0f} {peak:>9.2f} {'':>9}")
        baselines = []
        if n < 50_000:  # the list baseline holds every term in memory; keep it to the small cases
            baselines.append(("list+dumps", list_and_dumps(architecture, max_order)))
        if max_order is None:
            baselines.append(("normal form", normal_form_of_product(architecture)))
        for label, job in baselines:
            b_seconds, b_peak = measure(job)
            print(f"{name:<20} {label:<12} {n:>8} {b_seconds:>8.3f} {n / b_seconds:>10,.0f} {b_peak:>9.2f} "
                  f"{b_seconds / seconds:>8.1f}×")


if __name__ == "__main__":
    main()
