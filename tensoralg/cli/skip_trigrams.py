"""``tensoralg skip-trigrams MODEL``: the skip-trigrams "a … b → c" read off the QK and OV circuits.

For each head (or the one given with ``--head L.H``): how much destination token b attends to
source token a, α[b, a] = softmax_a(s·W_Eᵀ W_QK W_E)[b, a], times how much attending to a raises
output c, o[c, a] = (W_U W_OV W_E)[c, a] centred over c; triples ranked by the combined effect
E(a, b, c) = Σ_h α^h[b, a]·o^h[c, a] (CLAIMS C9, C10). MODEL is a shipped model's name or a
weights file; token strings come from its model card. For a model whose card lists planted
triples, the recall of the planted ones among the top K (K defaults to their number) is reported.
"""

from __future__ import annotations

import argparse
import json

from ..models.processing import STANDARD, process_weights
from ..models.registry import resolve
from ..models.skip_trigrams import parse_head, recall, skip_trigrams
from . import non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("skip-trigrams", help='skip-trigrams "a … b → c" read off the QK and OV circuits',
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("model", metavar="MODEL", help="shipped model name (tensoralg models) or weights file")
    parser.add_argument("--head", type=str, default=None, metavar="L.H", help="read one head only, e.g. 0.3")
    parser.add_argument("--top", type=non_negative_int, default=None, metavar="K",
                        help="triples to list (default: the number planted, else 20)")
    parser.add_argument("--no-process", action="store_true",
                        help="read a LayerNorm model's weights as stored (default: after the standard processing)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def report(args: argparse.Namespace) -> dict:
    source = resolve(args.model)
    model = source.load()
    process = model.layer_norm and not args.no_process
    if process:
        model = process_weights(model)
    planted = (source.card or {}).get("triples") or []
    top = args.top if args.top is not None else (len(planted) or 20)
    head = None if args.head is None else parse_head(args.head)
    found = skip_trigrams(model, head, max(top, 1))[:top]
    vocabulary = source.vocabulary
    planted_set = {tuple(t) for t in planted}
    name = (lambda t: t) if vocabulary is None else (lambda t: vocabulary[t])
    return {
        "model": source.name,
        "head": None if head is None else f"{head[0]}.{head[1]}",
        "top": top,
        "processing": [step.__name__ for step in STANDARD] if process else [],
        "triples": [
            {"a": name(t.source), "b": name(t.destination), "c": name(t.output),
             "ids": [t.source, t.destination, t.output], "text": t.words(vocabulary), "effect": round(t.effect, 6),
             "head": f"{t.head[0]}.{t.head[1]}", "attention": round(t.attention, 6), "logit": round(t.logit, 6),
             "planted": (t.source, t.destination, t.output) in planted_set if planted else None}
            for t in found
        ],
        "planted": len(planted),
        "recall": round(recall(found, planted), 6) if planted and top else None,
    }


def _text(data: dict) -> str:
    lines = [f"skip-trigrams of {data['model']}" + (f", head {data['head']}" if data["head"] else ", all heads")
             + f" (top {data['top']}, by combined effect α·o)"
             + (f"; weights processed (C21–C24): {', '.join(data['processing'])}" if data["processing"] else ""), "",
             f"{'rank':>4} {'effect':>8} {'head':>5} {'α[b,a]':>7} {'o[c,a]':>7}  a … b → c"]
    for i, t in enumerate(data["triples"], 1):
        mark = "" if t["planted"] is None else ("  (planted)" if t["planted"] else "")
        lines.append(f"{i:>4} {t['effect']:>8.3f} {t['head']:>5} {t['attention']:>7.3f} {t['logit']:>7.3f}  {t['text']}{mark}")
    if data["recall"] is not None:
        lines += ["", f"recall of the {data['planted']} planted triples among the top {data['top']}: {data['recall']:.3f}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data = report(args)
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else _text(data))
    return 0
