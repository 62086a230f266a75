"""``tensoralg train PRESET -o OUT.safetensors``: train a preset model with PyTorch (the ``train`` extra).

Presets: ``attn-only-1l`` and ``attn-only-2l`` (the shipped models; a few minutes each on
two CPU cores) and ``tiny`` (seconds, for tests). Seeded and reproducible: the same preset and
seed give the same weights. Writes OUT.safetensors (tensoralg naming) and the model card
OUT.json beside it (architecture, generator parameters and seed, steps, time, losses, the
loss curve, evaluation figures, the vocabulary); a progress bar goes to stderr.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from . import check_output, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a preset model (needs PyTorch: the train extra)",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("preset", metavar="PRESET", help="attn-only-1l, attn-only-2l or tiny")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.safetensors", help="weights file to write (card beside it)")
    parser.add_argument("--steps", type=non_negative_int, default=None, help="override the preset's number of steps")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="override the preset's seed (weights and data order)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the model card as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..training.train import preset, train, with_steps

    config = preset(args.preset)
    check_output(args.output)  # before training
    if args.steps is not None:
        config = with_steps(config, args.steps)
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    result = train(config, args.output, progress=None if args.quiet else sys.stderr)
    card = result.card
    if args.json:
        print(json.dumps(card, indent=2, ensure_ascii=False))
    else:
        evaluation = card["evaluation"]
        loss, planted = evaluation["loss"], evaluation.get("planted_trigram")
        extra = "" if loss["second copy"] is None else (
            f"; first copies {loss['first copy']:.4f}, second copies {loss['second copy']:.4f} nats")
        if planted:
            extra += (f"; P(c | a … b) {planted['model_probability_of_c']:.3f} (generator "
                      f"{planted['generator_probability_of_c']:.3f}, background {planted['background_probability_of_c']:.3f})")
        print(f"{config.name}: {config.steps} steps in {card['training']['seconds']:.1f} s; final loss "
              f"{card['final_loss']['train']:.4f} (train), {card['final_loss']['held_out']:.4f} (held out) nats{extra}")
        print(f"wrote {result.weights} and {result.card_path}")
    return 0
