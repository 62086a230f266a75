"""``tensoralg qk-dictionary MODEL --layer L -o DICT.safetensors``: train query and key
transcoders of one layer and their feature-pair masks (needs torch, the ``train`` extra).

Step 1 trains the transcoders on the pattern KL with auxiliary query/key reconstruction losses
and an L1 penalty; step 2 trains masks over the feature map M[i,j,h] = ⟨D_Q[:,i]_h, D_K[:,j]_h⟩
with an L0.5 penalty (with and without the b_Qᵀ D_K a_K term, and a shuffled-positions control).
The figures measured on held-out sequences are printed and stored in the file's metadata.
MODEL is a weights file, a shipped model's name or a built-in model name; sequences come from the
model's own training distribution when its card describes one, else random tokens with a repeat.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ..errors import WeightsError
from ..models.qk_dictionary import BUILTIN, load_model, save_dictionary
from . import check_output, non_negative_int

def register(subparsers: argparse._SubParsersAction) -> None:
    from ..training.qk_dictionary import PRESETS

    parser = subparsers.add_parser("qk-dictionary", help="train query/key transcoders and feature-pair masks of a layer (torch)",
                                   description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("model", metavar="MODEL", help=f"weights file (.npz/.safetensors), a shipped model (tensoralg models) "
                        f"or a built-in one: {', '.join(BUILTIN)}")
    parser.add_argument("--layer", type=non_negative_int, required=True, metavar="L", help="the attention layer to decompose")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="sizes and steps (default: default)")
    parser.add_argument("--d-hidden", type=non_negative_int, metavar="N", help="features per transcoder")
    parser.add_argument("--steps", type=non_negative_int, metavar="S", help="step-1 (transcoder) steps")
    parser.add_argument("--mask-steps", type=non_negative_int, metavar="S", help="step-2 steps per mask")
    parser.add_argument("--mask-sparsity", type=float, metavar="MU", help="weight μ of the L0.5 penalty on the mask (default 0.1)")
    parser.add_argument("--seed", type=non_negative_int, metavar="N", help="seed of the corpus, initialisation and batches (default 0)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DICT", help="the .safetensors file to write")
    parser.add_argument("--json", action="store_true", help="print the measured figures as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.qk_dictionary import PRESETS, corpus_for, require_torch, train_qk_dictionary

    require_torch()
    if args.output.suffix != ".safetensors":
        raise WeightsError(f"the dictionary is written as .safetensors; got {args.output.name!r}")
    check_output(args.output)  # before training
    config = PRESETS[args.preset]
    changes = {"d_hidden": args.d_hidden, "steps": args.steps, "mask_steps": args.mask_steps, "seed": args.seed,
               "mask_sparsity": args.mask_sparsity}
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    model, _, ref = load_model(args.model)
    if args.layer >= len(model.layers):
        raise WeightsError(f"layer {args.layer} does not exist: the model has {len(model.layers)} layers")
    dictionary, _ = train_qk_dictionary(model, args.layer, config, model_ref=ref, corpus=corpus_for(ref))
    save_dictionary(dictionary, args.output)
    figures = dictionary.info["figures"]
    if args.json:
        print(json.dumps(dictionary.info, indent=2))
    else:
        print(summary(figures, dictionary.info["seconds"]))
        print(f"wrote {args.output}")
    return 0


def summary(figures: dict, seconds: dict | None = None) -> str:
    """The figures as a few lines of text."""
    kl, pairs = figures["kl"], figures.get("pairs", {})
    lines = [
        f"layer {figures['layer']}: d_hidden Q/K {figures['d_hidden'][0]}/{figures['d_hidden'][1]}, "
        f"L0 Q {figures['l0']['Q']:.2f} K {figures['l0']['K']:.2f}, live Q {figures['live']['Q']} K {figures['live']['K']} "
        f"(on {figures['sequences']} held-out sequences)",
        "pattern KL (nats per head and position): " + ", ".join(f"{k} {v:.4g}" for k, v in kl.items()),
        f"share of the row-centred scores carried by b_Qᵀ D_K a_K: {figures['key_bias_share']:.3f}",
    ]
    if pairs:
        lines.append("surviving pairs: " + ", ".join(f"{k} {v['surviving']}/{v['entries']}" for k, v in pairs.items()))
    if "loss" in figures:
        lines.append("model loss with the pattern patched in: " + ", ".join(f"{k} {v:.4f}" for k, v in figures["loss"].items()))
    if seconds:
        lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    return "\n".join(lines)
