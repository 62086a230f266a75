"""``tensoralg qk-pairs DICT``: the surviving query-feature × key-feature pairs of a QK
dictionary, per head, ranked by how much score they add where the head attends.

Each feature is described by what it reads (current token, previous token or position, with the
model's token strings) and its top-activating examples, on the model's training distribution
when its card describes one, else on random tokens with a repeated segment;
a pair matching a known mechanism is labelled (induction: "current token is X" × "previous
token was X"; previous-token: "position is p" × "position is p − 1"; same-token: "current token
is X" × "current token is X"). After the pairs, rows with
query "b_Q" list the key-feature × query-bias term b_Qᵀ D_K a_K. numpy only (no torch).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import WeightsError
from ..models.circuits import label
from ..models.qk_dictionary import find_dictionary, load_model, read_dictionary
from ..models.qk_features import FeatureReading, context, describe, feature_pairs, mechanism, read_features
from ..models.qk_metrics import layer_data, surviving_pairs
from ..training.qk_dictionary import corpus_for
from . import non_negative_int, positive_int
from .qk_dictionary import summary

MASKS = {"main": "mask", "without-bias-term": "mask_without_bias_term", "shuffled": "mask_shuffled"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("qk-pairs", help="surviving query × key feature pairs of a QK dictionary, described",
                                   description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("dictionary", metavar="DICT", help="a .safetensors file written by qk-dictionary, or a shipped dictionary's name")
    parser.add_argument("--head", metavar="L.H", help="only this head, e.g. 1.0 (L must be the dictionary's layer)")
    parser.add_argument("--top", type=non_negative_int, default=10, metavar="K", help="pairs per head (default 10)")
    parser.add_argument("--mask", choices=sorted(MASKS), default="main",
                        help="main (trained with b_Qᵀ D_K a_K), without-bias-term, or shuffled (the control)")
    parser.add_argument("--model", metavar="MODEL", help="the model (default: the one the dictionary names)")
    parser.add_argument("--sequences", type=positive_int, default=64, metavar="N", help="corpus size for the readings (default 64)")
    parser.add_argument("--seed", type=non_negative_int, default=1, help="seed of that corpus (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def _head(text: str, layer: int, n_heads: int) -> int:
    try:
        l, h = (int(part) for part in text.split("."))
    except ValueError:
        raise WeightsError(f"--head expects L.H such as {layer}.0; got {text!r}") from None
    if l != layer or not 0 <= h < n_heads:
        raise WeightsError(f"--head {text}: the dictionary covers heads {layer}.0 … {layer}.{n_heads - 1}")
    return h


def _feature(reading: FeatureReading, side: str, vocab: list[str], tokens: np.ndarray) -> dict:
    return {
        "feature": f"{side}{reading.index}", "reads": describe(reading, vocab), "kind": reading.kind,
        "values": list(reading.values),
        "tokens": [vocab[v] for v in reading.values if v < len(vocab)] if reading.kind != "position" else [],
        "eta2": round(reading.eta2, 4), "frequency": round(reading.frequency, 4),
        "top": [{"context": context(tokens, ex, vocab), "activation": round(ex[2], 4)} for ex in reading.top],
    }


def pairs_report(args: argparse.Namespace) -> dict:
    """The report as a JSON-ready dictionary."""
    dictionary = read_dictionary(find_dictionary(args.dictionary))
    mask = getattr(dictionary, MASKS[args.mask])
    if mask is None:
        raise WeightsError(f"{args.dictionary} has no {MASKS[args.mask]} (a step-1-only dictionary); train it with qk-dictionary")
    ref = args.model or dictionary.model
    if not ref:
        raise WeightsError(f"{args.dictionary} names no model; pass --model")
    model, vocab, _ = load_model(ref)
    if dictionary.layer >= len(model.layers) or model.layers[dictionary.layer].W_Q.shape[:2] != (dictionary.n_heads, dictionary.d_head) \
            or model.d_model != dictionary.d_model:
        raise WeightsError(f"the dictionary (layer {dictionary.layer}, {dictionary.n_heads} heads of d_head {dictionary.d_head}, "
                           f"d_model {dictionary.d_model}) does not fit the model {ref}")
    heads = range(dictionary.n_heads) if args.head is None else [_head(args.head, dictionary.layer, dictionary.n_heads)]
    tokens = corpus_for(ref)(np.random.default_rng(args.seed), model.n_vocab, model.n_ctx, args.sequences)
    data = layer_data(model, tokens, dictionary.layer)
    a_q, a_k = dictionary.encode(data.residuals)
    readings = {"Q": read_features(a_q, tokens), "K": read_features(a_k, tokens)}
    pairs = feature_pairs(dictionary, data.residuals, data.patterns, mask, bias_term=args.mask != "without-bias-term")
    def entry(pair) -> dict:
        query = None if pair.q is None else readings["Q"][pair.q]
        key = readings["K"][pair.k]
        return {"query": None if query is None else _feature(query, "Q", vocab, tokens), "key": _feature(key, "K", vocab, tokens),
                "weight": round(pair.weight, 6), "contribution": round(pair.contribution, 6), "mechanism": mechanism(query, key)}

    rows = []
    for h in heads:
        own = [p for p in pairs if p.head == h]
        rows.append({"head": label((dictionary.layer, h)), "surviving": int((mask[:, :, h] != 0).sum()),
                     "pairs": [entry(p) for p in own if p.q is not None][:args.top],
                     "bias_terms": [entry(p) for p in own if p.q is None][:args.top]})
    return {"dictionary": str(args.dictionary), "model": ref, "layer": dictionary.layer, "mask": MASKS[args.mask],
            "d_hidden": list(dictionary.d_hidden), "pairs": surviving_pairs(mask), "corpus": {"sequences": int(tokens.shape[0]), "seed": args.seed},
            "heads": rows, "figures": dictionary.info.get("figures")}


def _text(report: dict) -> str:
    lines = [f"QK dictionary {report['dictionary']}: layer {report['layer']} of {report['model']}, "
             f"d_hidden Q/K {report['d_hidden'][0]}/{report['d_hidden'][1]}, {report['mask']}: "
             f"{report['pairs']['surviving']} of {report['pairs']['entries']} pairs survive"]
    if report["figures"]:
        lines.append(summary(report["figures"]))
    for row in report["heads"]:
        lines += ["", f"{row['head']}: {row['surviving']} surviving pairs; top {len(row['pairs'])} by contribution "
                  "(score added where the head attends, above the row mean), then the b_Qᵀ D_K a_K terms",
                  f"{'query':<6} {'key':<6} {'weight':>8} {'contrib':>8}  {'query feature reads':<34} {'key feature reads':<34} mechanism"]
        for pair in row["pairs"] + row["bias_terms"]:
            q = pair["query"]
            lines.append(f"{q['feature'] if q else 'b_Q':<6} {pair['key']['feature']:<6} {pair['weight']:>8.3f} "
                         f"{pair['contribution']:>8.3f}  {q['reads'] if q else 'the query bias':<34} "
                         f"{pair['key']['reads']:<34} {pair['mechanism'] or '-'}")
            for side in (q, pair["key"]):
                if side:
                    lines.append(f"       {side['feature']} fires on: " + ", ".join(f"{t['context']} {t['activation']:.2f}" for t in side["top"][:3]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = pairs_report(args)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    return 0
