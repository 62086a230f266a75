"""``tensoralg models``: the trained models shipped with the package.

Lists each shipped model's name (usable wherever a command takes weights, e.g.
``tensoralg analyze attn-only-2l``), its weights file and the headline of its model card:
architecture, training steps and time, final loss and the evaluation figures. ``--json``
prints every card in full, each with its name and path.
"""

from __future__ import annotations

import argparse
import json

from ..models.registry import shipped_models


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the trained models shipped with tensoralg",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("--json", action="store_true", help="print the full model cards as one JSON object")
    parser.set_defaults(handler=run)


def report() -> dict:
    return {"models": [{"name": m.name, "path": str(m.weights), "card": m.card} for m in shipped_models()]}


def _text(entry: dict) -> str:
    card = entry["card"]
    a, t, e = card["architecture"], card["training"], card["evaluation"]
    loss = e["loss"]
    lines = [
        f"{entry['name']}: {card['description']}",
        f"  weights: {entry['path']}",
        f"  {a['layers']} layer(s), heads {a['heads']}, d_model {a['d_model']}, d_head {a['d_head']}, "
        f"n_vocab {a['n_vocab']}, n_ctx {a['n_ctx']}, positional embeddings {'yes' if a['positional'] else 'no'}",
        f"  trained {t['steps']} steps in {t['seconds']:.0f} s (seed {t['seed']}); final loss {card['final_loss']['held_out']:.3f} "
        f"nats (held out)",
    ]
    if e.get("induction_gap") is not None:
        lines.append(f"  loss on first copies {loss['first copy']:.3f}, on second copies {loss['second copy']:.3f} nats")
    if e.get("planted_trigram"):
        p = e["planted_trigram"]
        lines.append(f"  planted a … b → c: model P(c) {p['model_probability_of_c']:.3f}, background P(c | b) "
                     f"{p['background_probability_of_c']:.3f}, generator {p['generator_probability_of_c']:.3f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data = report()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else "\n\n".join(_text(m) for m in data["models"]))
    return 0
