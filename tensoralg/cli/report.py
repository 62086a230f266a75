"""``tensoralg report MODEL -o report.html``: one self-contained HTML page about a model.

The page holds the model card (the weights' shape and, when a card ``MODEL.json`` sits beside
the weights, its fields and vocabulary), the path-expansion formula of the architecture in
MathML, the head table of ``analyze`` with the top composition pairs, the figures as inline
SVG (OV eigenvalues, copying vs same matching, composition heatmaps, attention on a repeated
sequence with token strings) and the term-importance table with its bar chart: measured on text
from the model's data generator when its card records one (the shipped models; as ``tensoralg
importance`` with 16 sequences), or read from ``--importance FILE``. No script, no network: it
opens in any browser, offline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..display.report import Importance, model_report
from ..errors import TensoralgError
from . import analyze, check_output, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="a self-contained HTML page of a model: card, heads, figures, formula",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("weights", metavar="MODEL", help="a shipped model's name, .npz or .safetensors weights (a card MODEL.json "
                        "beside them is read) or a checkpoint directory")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the page to FILE (default: standard output)")
    parser.add_argument("--importance", type=Path, metavar="FILE",
                        help="term-importance JSON: tensoralg importance --json, {term: value} or {\"terms\": [{\"label\", \"delta\": {…}}]}")
    parser.add_argument("--attention", metavar="L1H0,…", help="heads whose attention patterns to draw (default: induction heads)")
    parser.add_argument("--no-figures", action="store_true", help="leave out the figures (no matplotlib needed)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random tokens and the baseline (default 0)")
    parser.add_argument("--top", type=non_negative_int, default=10, metavar="K", help="composition pairs to list (default 10)")
    parser.set_defaults(handler=run)


def read_importance(path: Path) -> Importance:
    """The importance table of a JSON file (the schemas of :meth:`Importance.from_json`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TensoralgError(f"cannot read the importance table {path}: {exc}") from None
    return Importance.from_json(data, str(path))


def run(args: argparse.Namespace) -> int:
    if args.output is not None:
        check_output(args.output)
    if not args.no_figures:
        from ..plots import require_matplotlib

        require_matplotlib()  # before the analysis
    options = argparse.Namespace(weights=args.weights, heads=None, score_scale=None, layer_norm=None, no_process=False,
                                 seed=args.seed, top=args.top, seq_len=None, sequences=4, no_behaviour=False)
    found = analyze.source(options)
    card, vocabulary = found.card, found.vocabulary
    if args.importance is not None:
        importance = read_importance(args.importance)
    elif card is not None and "training" in card:  # a trained model's card has its data generator: measure it
        from . import importance as importance_cli

        measured = importance_cli.report(argparse.Namespace(model=args.weights, sequences=16, seed=args.seed, top=8))
        importance = Importance.from_json(measured, "tensoralg importance")
    else:
        importance = None
    model = analyze.load_model(options)
    analysis = analyze.analyze(options, model)
    heads = None if args.attention is None else [h.strip() for h in args.attention.split(",") if h.strip()]
    page = model_report(Path(args.weights).name, analysis, model, card=card, vocabulary=vocabulary, importance=importance,
                        figures=not args.no_figures, heads=heads, seed=args.seed)
    if args.output is None:
        sys.stdout.write(page)
        return 0
    try:
        args.output.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise TensoralgError(f"cannot write {args.output}: {exc}") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
