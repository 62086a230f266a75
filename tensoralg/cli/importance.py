"""``tensoralg importance MODEL``: the term-importance table of C20 in nats, on text from the model's generator.

With the attention patterns frozen at the model's own, the logits are exactly the sum of the
path terms; the table gives the loss with the direct path only, + single heads, + virtual heads
(= the full model), and each path's importance, the increase in loss when it alone is removed,
on ordinary tokens and on the second (and later) copies of repeated segments separately. The
text is drawn from the data generator recorded in the model's card (``--sequences``, ``--seed``).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import WeightsError
from ..models.registry import resolve
from ..paths.importance import importance
from . import non_negative_int

SUBSETS = {"ordinary": "ordinary tokens", "repeated": "second and later copies"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("importance", help="loss in nats of direct, single-head and virtual-head terms (C20)",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("model", metavar="MODEL", help="shipped model name (tensoralg models) or weights file with its card")
    parser.add_argument("--sequences", type=non_negative_int, default=64, help="sequences drawn from the generator (default 64)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the drawn text (default 0)")
    parser.add_argument("--top", type=non_negative_int, default=5, metavar="K", help="paths to list per subset (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def report(args: argparse.Namespace) -> dict:
    from ..training.data import LATER, ORDINARY, SECOND, TRIGRAM, DataConfig, Grammar

    source = resolve(args.model)
    model = source.load()
    if source.card is None or "training" not in source.card:
        raise WeightsError(f"{args.model} has no model card with its data generator (a .json beside the weights)")
    if args.sequences < 1:
        raise WeightsError("--sequences must be at least 1")
    grammar = Grammar.build(DataConfig(**source.card["training"]["data"]))
    batch = grammar.sample(np.random.default_rng(args.seed), args.sequences)
    subsets = {"ordinary": list(np.isin(batch.kinds, (ORDINARY, TRIGRAM))),
               "repeated": list(np.isin(batch.kinds, (SECOND, LATER)))}
    table = importance(model, list(batch.tokens), subsets)

    def number(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 5)

    return {
        "model": source.name,
        "sequences": args.sequences,
        "seed": args.seed,
        "subsets": {name: {"description": SUBSETS[name], "positions": table.positions[name]} for name in table.subsets},
        "rows": [{"name": r.name, "order": r.order, "loss": {n: number(v) for n, v in r.loss.items()}} for r in table.rows],
        "full_model": {n: number(v) for n, v in table.full.items()},
        "max_sum_error": table.max_sum_error,
        "paths": {name: [{"path": t.label, "family": t.family, "delta_loss": number(t.delta[name])}
                         for t in table.ranked(name, args.top)] for name in table.subsets},
    }


def _text(data: dict) -> str:
    names = list(data["subsets"])
    header = "".join(f"{data['subsets'][n]['description'] + ' (' + str(data['subsets'][n]['positions']) + ')':>34}" for n in names)
    lines = [f"term importance of {data['model']}: loss in nats on {data['sequences']} generated sequences "
             f"(patterns frozen at the model's own; Σ terms = logits to {data['max_sum_error']:.1e})", "",
             f"{'':<20}{header}"]
    for row in data["rows"]:
        lines.append(f"{row['name']:<20}" + "".join(f"{_fmt(row['loss'][n]):>34}" for n in names))
    lines.append(f"{'full model':<20}" + "".join(f"{_fmt(data['full_model'][n]):>34}" for n in names))
    for n in names:
        lines += ["", f"most important paths on {data['subsets'][n]['description']} (ΔL when removed, nats):"]
        lines += [f"  {p['path']:<14} {p['family']:<12} {_fmt(p['delta_loss'], '+.4f')}" for p in data["paths"][n]]
    return "\n".join(lines)


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def run(args: argparse.Namespace) -> int:
    data = report(args)
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else _text(data))
    return 0
