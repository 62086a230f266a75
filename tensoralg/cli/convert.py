"""``tensoralg convert IN OUT``: rewrite a checkpoint in tensoralg or TransformerLens naming.

IN is any weights file ``analyze`` reads (tensoralg, TransformerLens or Hugging Face GPT-2, a
file or a checkpoint directory); OUT is a ``.safetensors`` or ``.npz`` file. ``--process``
applies the standard weight processing first (fold LayerNorm, centre the writers and the
unembedding, fold value biases, drop key biases: C21–C24), so other tools get weights whose
circuits read off the matrices. The dtype is kept (float16 and bfloat16 are written as float32).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WeightsError
from ..models.checkpoints import ACTIVATION_NAMES, load_checkpoint, resolve
from ..models.tensor_files import source_files
from ..models.processing import process_weights
from ..models.registry import resolve as find_weights
from ..models.weights import save_weights
from . import check_output, positive_int

TARGETS = {"tensoralg": "tensoralg", "transformer-lens": "transformer_lens"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="rewrite a checkpoint in tensoralg or TransformerLens naming",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("source", metavar="IN", help="weights file, checkpoint directory or shipped model name")
    parser.add_argument("target", metavar="OUT", help="the .safetensors or .npz file to write")
    parser.add_argument("--to", choices=tuple(TARGETS), default="tensoralg", help="naming of OUT (default tensoralg)")
    parser.add_argument("--process", action="store_true", help="apply the standard weight processing (C21–C24) first")
    parser.add_argument("--heads", type=positive_int, default=None, metavar="N",
                        help="heads per layer of a Hugging Face checkpoint without config.json")
    parser.add_argument("--layer-norm", action="store_true", default=None,
                        help="the input is a folded LayerNorm model without LayerNorm parameters (TransformerLens's LNPre)")
    parser.add_argument("--activation", choices=sorted(ACTIVATION_NAMES), default=None,
                        help="MLP nonlinearity of an input that does not record it (a TransformerLens act_fn; default gelu_new)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.suffix not in (".safetensors", ".npz"):
        raise WeightsError(f"OUT must end in .safetensors or .npz; got {target}")
    check_output(target)
    if target.exists() and not args.force:
        raise WeightsError(f"{target} exists; pass --force to overwrite it")
    source = find_weights(args.source).weights
    if target.resolve() in {path.resolve() for path in source_files(resolve(source))}:
        raise WeightsError(f"OUT is the input file {target}; write to another file")
    model = load_checkpoint(source, heads=args.heads, layer_norm=args.layer_norm, activation=args.activation)
    if args.process:
        model = process_weights(model)
    save_weights(model, target, TARGETS[args.to])
    print(f"wrote {target} ({args.to} naming, {len(model.layers)} layers, heads {list(model.heads)}"
          + (", processed" if args.process else "") + ")")
    return 0
