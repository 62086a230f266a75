"""``tensoralg analyze WEIGHTS``: circuit statistics of every head of a weights file.

Per head: the OV copying score and the QK same-matching score (Σλ/Σ|λ| of the full
n_vocab × n_vocab circuits, computed from d_head-sized pieces), the previous-token score of
the positional QK circuit, the induction evidence (K-composition with a previous-token head
against the random baseline, OV copying, same matching of the K-composition QK circuit) and the
behavioural prefix-matching and copying scores on repeated random tokens; then the top
Q/K/V composition pairs with their baselines. Induction heads are recognised by either route
(K-composition with a previous-token head, as in the paper, or Q-composition with a same-token
head), the route is named, and heads where the weights-only and the behavioural verdicts
differ are flagged. WEIGHTS may be a shipped model's name (``tensoralg models``); with a model
card (shipped, or OUT.json beside the weights) tokens are named by their strings, e.g. in the
pairs each head's OV circuit raises most. ``--json`` prints the same as one JSON object.
A LayerNorm model is analysed after the standard weight processing (C21–C24) unless --no-process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..models.checkpoints import ACTIVATION_NAMES
from ..models.circuits import FullCircuit, copying_scores, eigenvalue_scores, head_weights, label, ov_circuits, qk_circuits, qk_frame
from ..models.composition import composition_scores
from ..errors import TensoralgError
from ..models.induction import behavioural_scores, disagreements, previous_token_evidence, route_evidence
from ..models.model import Model
from ..models.processing import STANDARD, process_weights
from ..models.registry import WeightsSource, resolve
from ..models.skip_trigrams import MAX_VOCAB
from . import bounded_int, non_negative_int, positive_int

#: Upper bounds of the counts (each sequence is a forward pass over 2·seq_len tokens).
MAX_SEQUENCES = 1000
MAX_SEQ_LEN = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="copying, composition and induction statistics of a weights file",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("weights", metavar="WEIGHTS",
                        help=".npz or .safetensors file (tensoralg, TransformerLens or Hugging Face GPT-2 naming), a checkpoint "
                             "directory, or a shipped model's name")
    parser.add_argument("--heads", type=positive_int, default=None, metavar="N",
                        help="heads per layer of a Hugging Face checkpoint without config.json")
    parser.add_argument("--no-process", action="store_true",
                        help="analyse the weights as stored (default for LayerNorm models: fold LayerNorm, centre the writers "
                             "and the unembedding, fold value biases, drop key biases: C21–C24)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--top", type=non_negative_int, default=10, metavar="K", help="composition pairs to list (default 10)")
    parser.add_argument("--seq-len", type=bounded_int(2, MAX_SEQ_LEN), default=None, metavar="T",
                        help=f"random tokens per repeated half, 2…{MAX_SEQ_LEN} (default min(25, n_ctx/2))")
    parser.add_argument("--sequences", type=bounded_int(1, MAX_SEQUENCES), default=4, metavar="S",
                        help=f"random sequences for the behavioural scores, 1…{MAX_SEQUENCES} (default 4)")
    parser.add_argument("--no-behaviour", action="store_true", help="skip the behavioural scores (no forward passes)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random tokens and the composition baseline (default 0)")
    parser.add_argument("--score-scale", type=float, default=None, metavar="S", help="override s in softmax*(s·S) (default: the file's, else 1/√d_head)")
    parser.add_argument("--layer-norm", action="store_true", default=None, help="apply parameter-free LayerNorm in forward passes")
    parser.add_argument("--activation", choices=sorted(ACTIVATION_NAMES), default=None,
                        help="MLP nonlinearity of a tensoralg/TransformerLens file that does not record it (its act_fn; default gelu_new)")
    parser.add_argument("--plots", metavar="DIR", help="also draw the figures (PNG and SVG) into DIR (needs tensoralg[plot])")
    parser.add_argument("--token", metavar="T", help="also list, per head, the tokens the full OV circuit raises most when the head attends to T "
                        "(a token id, or a string of --vocab)")
    parser.add_argument("--vocab", metavar="FILE", help="token strings for --token: a Hugging Face vocab.json or one string per line "
                        "in id order (default: vocab.json beside the weights, if any)")
    parser.add_argument("-v", "--timings", action="store_true", help="print each phase's wall time on stderr")
    parser.set_defaults(handler=run)


def _number(x: float | None) -> float | None:
    """x rounded for the report; None only where a score does not apply (never for NaN or ±∞)."""
    if x is None:
        return None
    if not np.isfinite(x):
        raise TensoralgError(f"a score came out as {float(x)} (not a number): float64 overflowed; the weights or "
                             "the score scale are too large to analyse (see --score-scale)")
    return round(float(x), 6)


def check_analysable(model: Model) -> None:
    """Refuse models whose scores would be meaningless: no heads, fewer than two tokens (loading
    already refuses empty axes such as d_head 0)."""
    if not any(model.heads):
        raise TensoralgError(f"the model has no attention heads (heads per layer {tuple(model.heads)}): nothing to analyse")
    if model.n_vocab < 2:
        raise TensoralgError(f"n_vocab is {model.n_vocab}: copying and matching scores compare tokens, and need at least two")


def _finite(values, what: str, labels) -> None:
    """Raise naming the first head whose ``what`` is NaN or ±∞ (instead of printing it as "-")."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=np.float64)))
    if bad.size:
        raise TensoralgError(f"the {what} of head {label(labels[bad[0]])} is {float(np.asarray(values)[bad[0]])} "
                             "(not a number): float64 overflowed; the weights or the score scale are too large "
                             "to analyse (see --score-scale)")


def _eigenvalues(values: np.ndarray) -> list[list[float]]:
    """[[re, im], …] of one head's OV eigenvalues, largest |λ| first."""
    ordered = values[np.argsort(-np.abs(values), kind="stable")]
    return [[round(float(v.real), 6), round(float(v.imag), 6)] for v in ordered]


def source(args: argparse.Namespace) -> WeightsSource:
    """The shipped model, weights file or checkpoint directory named by WEIGHTS, with its card."""
    return resolve(args.weights)


def load_model(args: argparse.Namespace) -> Model:
    """The model the report is about: the checkpoint, processed (STANDARD steps) when it has LayerNorm."""
    model = source(args).load(heads=args.heads, score_scale=args.score_scale, layer_norm=args.layer_norm,
                              activation=getattr(args, "activation", None))
    return process_weights(model) if model.layer_norm and not args.no_process else model


class Phases:
    """Wall time per phase; each phase is announced on stderr when stderr is a terminal (progress)."""

    def __init__(self, progress: bool) -> None:
        self.times: dict[str, float] = {}
        self.progress = progress
        self.current = ""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.current = name
        if self.progress:
            print(f"analyze: {name} …", end="", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        self.times[name] = time.perf_counter() - start
        if self.progress:
            print(f" {self.times[name]:.2f} s", file=sys.stderr, flush=True)

    def step(self, done: int, total: int) -> None:
        """Progress inside a phase (layers done of total), on the announcing line."""
        if self.progress:
            print(f"\ranalyze: {self.current} … {done}/{total}", end="", file=sys.stderr, flush=True)

    def table(self) -> str:
        total = sum(self.times.values())
        return "\n".join([f"{name:<16} {t:8.2f} s" for name, t in self.times.items()] + [f"{'total':<16} {total:8.2f} s"])


def _vocabulary(path: str | None, weights: str) -> list[str] | None:
    """Token strings by id: from ``path`` (a Hugging Face ``vocab.json``, {string: id}, or a text file with
    one string per line), else from a ``vocab.json`` beside the weights (a checkpoint directory), else None."""
    if path is None:
        beside = Path(weights) / "vocab.json" if Path(weights).is_dir() else Path(weights).with_name("vocab.json")
        if not beside.is_file():
            return None
        path = str(beside)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TensoralgError(f"cannot read the vocabulary {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not path.endswith(".json"):
        return text.split("\n")
    try:
        ids = json.loads(text)
        if not (isinstance(ids, dict) and all(isinstance(i, int) and i >= 0 for i in ids.values())):
            raise ValueError("expected an object mapping token strings to ids ≥ 0")
    except ValueError as exc:
        raise TensoralgError(f"cannot read the vocabulary {path}: {exc}") from None
    strings: list[str] = [""] * (max(ids.values(), default=-1) + 1)
    for string, i in ids.items():
        strings[i] = string
    return strings


def _token_id(text: str, vocab: list[str] | None, n_vocab: int) -> int:
    if vocab is not None and text in vocab:
        return vocab.index(text)
    try:
        token = int(text)
    except ValueError:
        where = "the --vocab file" if vocab is not None else "a vocabulary (give --vocab FILE or a token id)"
        raise TensoralgError(f"--token {text!r} is not a token id and not in {where}") from None
    if not 0 <= token < n_vocab:
        raise TensoralgError(f"--token {token} is out of range: token ids lie in [0, {n_vocab})")
    return token


def token_effects(circuit: FullCircuit, token: int, vocab: list[str] | None, top: int = 5) -> dict:
    """Per head, the ``top`` tokens whose logits column ``token`` of the full OV circuit raises most, and the
    rank of ``token`` itself (0 = raised most): one column per head, never the n_vocab × n_vocab matrix."""
    column = circuit.column(token)  # H × n_vocab
    order = np.argsort(-column, axis=1, kind="stable")[:, :top]
    rank = (column > column[:, token:token + 1]).sum(axis=1)
    name = (lambda t: vocab[t] if vocab is not None and t < len(vocab) else None)
    return {
        "token": token, "string": name(token),
        "heads": [{"head": label(h), "own_rank": int(rank[i]),
                   "top": [{"token": int(t), "string": name(int(t)), "logit": _number(column[i, t])} for t in order[i]]}
                  for i, h in enumerate(circuit.labels)],
    }


def analyze(args: argparse.Namespace, model: Model | None = None, phases: Phases | None = None) -> dict:
    """The report as a JSON-ready dictionary (of ``model``, else of :func:`load_model`); ``phases``
    collects the wall time of each phase."""
    phase = phases or Phases(progress=False)
    if model is None:
        with phase("load"):
            model = load_model(args)
    check_analysable(model)
    found = source(args)
    token = None
    if getattr(args, "token", None) is not None:
        vocab = _vocabulary(args.vocab, args.weights) if args.vocab else (
            list(found.vocabulary) if found.vocabulary is not None else _vocabulary(None, args.weights))
        token = _token_id(args.token, vocab, model.n_vocab)
    processing = [step.__name__ for step in STANDARD] if model.layer_norm and not args.no_process else []
    with phase("stack heads"):
        heads = head_weights(model)
        frame = qk_frame(heads)
    with phase("spectra"):
        ov = ov_circuits(heads)
        ov_eigenvalues = ov.eigenvalues()
        copying = eigenvalue_scores(ov_eigenvalues)
        matching = copying_scores(qk_circuits(heads, frame))
    with phase("composition"):
        composition = composition_scores(heads, np.random.default_rng(args.seed), progress=phase.step)
    with phase("previous-token"):
        previous = previous_token_evidence(heads) if model.W_pos is not None else None
    with phase("induction"):
        routes = route_evidence(heads, composition, previous, copying=copying, frame=frame, same=matching)
        induction = {e.head: e for e in routes if e.route == "K-composition"}
    # A repeated sequence needs 2·seq_len ≤ n_ctx with seq_len ≥ 2; shorter contexts have no behavioural score.
    too_short = args.seq_len is None and model.n_ctx is not None and model.n_ctx < 4
    with phase("behaviour"):
        behaviour = (
            None if args.no_behaviour or too_short
            else behavioural_scores(model, np.random.default_rng(args.seed), args.seq_len, args.sequences, progress=phase.step)
        )
    effects = None
    if token is not None:
        with phase("token"):
            effects = token_effects(ov, token, vocab)
    for what, values in (("copying score", copying), ("same-matching score", matching)) + (
        () if behaviour is None else (("prefix-matching score", behaviour.prefix_matching),
                                      ("behavioural copying score", behaviour.copying))
    ):
        _finite(values, what, heads.labels)
    vocabulary = found.vocabulary
    ov_top = _ov_top(heads, vocabulary) if model.n_vocab <= MAX_VOCAB else None
    rows = []
    for i, head in enumerate(heads.labels):
        e = induction.get(head)
        rows.append({
            "head": label(head), "layer": head[0], "index": head[1],
            "copying": _number(copying[i]), "same_matching": _number(matching[i]),
            "previous_token": None if previous is None else _number(previous[i].score),
            "previous_token_candidate": bool(previous and previous[i].is_candidate),
            "induction": None if e is None else {
                "previous_token_head": label(e.partner), "k_composition": _number(e.composition),
                "k_composition_z": _number(e.composition_z), "ov_copying": _number(e.ov_copying),
                "same_matching": _number(e.matching), "is_candidate": e.is_candidate,
            },
            "routes": [{"route": r.route, "partner": label(r.partner), "composition": _number(r.composition),
                        "composition_z": _number(r.composition_z), "ov_copying": _number(r.ov_copying),
                        "matching": _number(r.matching), "is_candidate": r.is_candidate}
                       for r in routes if r.head == head],
            "ov_top": None if ov_top is None else ov_top[i],
            "prefix_matching": None if behaviour is None else _number(behaviour.prefix_matching[i]),
            "behavioural_copying": None if behaviour is None else _number(behaviour.copying[i]),
            "eigenvalues": _eigenvalues(ov_eigenvalues[i]),
        })
    return {
        "model": {"layers": len(model.layers), "heads": list(model.heads), "d_model": model.d_model,
                  "d_head": int(heads.W_Q.shape[1]), "n_vocab": model.n_vocab, "n_ctx": model.n_ctx,
                  "score_scale": model.score_scale, "layer_norm": model.layer_norm,
                  "mlp": any(m is not None for m in model.mlps), "processing": processing},
        "heads": rows,
        "previous_token_heads": [r["head"] for r in rows if r["previous_token_candidate"]],
        "induction_heads": sorted({label(r.head) for r in routes if r.is_candidate}),
        "induction_routes": [{"head": label(r.head), "route": r.route, "partner": label(r.partner)} for r in routes if r.is_candidate],
        "disagreements": None if behaviour is None else [
            {"head": label(d.head), "weights_say_induction": d.weights_say, "behaviour_says_induction": d.behaviour_says,
             "prefix_matching": _number(d.prefix_matching), "behavioural_copying": _number(d.copying)}
            for d in disagreements(routes, behaviour)],
        "vocabulary": vocabulary is not None,
        "composition": {
            "baseline": {m: {"mean": _number(b.mean), "std": _number(b.std), "rms": _number(b.rms), "samples": b.samples}
                         for m, b in composition.baseline.items()},
            "top": [{k: _number(v) if isinstance(v, float) else v for k, v in row.items()} for row in composition.top(args.top)],
            "matrices": {"heads": [label(h) for h in heads.labels], "pairs": composition.pairs.tolist(),
                         **{m: np.round(composition.mode(m), 6).tolist() for m in ("Q", "K", "V")}},
        },
        "behaviour": None if behaviour is None else {"seq_len": behaviour.seq_len, "sequences": behaviour.sequences, "seed": args.seed},
        **({} if effects is None else {"token": effects}),
    }


def _ov_top(heads, vocabulary, count: int = 3) -> list[list[str]]:
    """Per head, the ``count`` (source → output) pairs its centred OV circuit raises most, as token strings
    (one n_vocab × n_vocab circuit at a time)."""
    circuits = ov_circuits(heads)
    name = (lambda t: str(t)) if vocabulary is None else (lambda t: vocabulary[t])
    out = []
    for h in range(len(heads.labels)):
        dense = circuits[h].dense()
        n = dense.shape[1]
        circuit = (dense - dense.mean(axis=0, keepdims=True)).ravel()
        top = np.argpartition(-circuit, min(count, circuit.size) - 1)[:count]
        top = sorted((k for k in top if circuit[k] > 0), key=lambda k: (-circuit[k], k))
        out.append([f"{name(int(k % n))} → {name(int(k // n))}" for k in top])
    return out


def _cell(x: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if x is None else f"{x:>{width}.3f}"


def _route_text(e: dict) -> str:
    matching = "K-path same-matching" if e["route"] == "K-composition" else "next-position matching"
    return (f"{'INDUCTION' if e['is_candidate'] else 'no'}: {e['route'][0]}-comp with {e['partner']} {e['composition']:.3f} "
            f"(z {e['composition_z']:.1f}), OV copying {e['ov_copying']:.3f}, {matching} {e['matching']:.3f}")


def _text(report: dict) -> str:
    m = report["model"]
    lines = [
        f"model: {m['layers']} layers, heads {tuple(m['heads'])}, d_model {m['d_model']}, d_head {m['d_head']}, "
        f"n_vocab {m['n_vocab']}, n_ctx {m['n_ctx']}, score scale {m['score_scale']:.4g}"
        + (", MLPs (circuits ignore them)" if m["mlp"] else "") + (", LayerNorm" if m["layer_norm"] else ""),
        ("weights processed (C21–C24; --no-process skips): " + ", ".join(m["processing"]) if m["processing"]
         else "weights as stored" + (" (--no-process)" if m["layer_norm"] else " (no LayerNorm: nothing to fold)")),
        "",
        f"{'head':<6} {'copying':>8} {'same-mat':>8} {'prev-tok':>8} {'prefix':>8} {'beh-copy':>8}  induction evidence",
    ]
    for r in report["heads"]:
        evidence = "; ".join(_route_text(e) for e in sorted(r["routes"], key=lambda e: not e["is_candidate"])) or "-"
        prev = _cell(r["previous_token"]) + ("*" if r["previous_token_candidate"] else " ")
        lines.append(f"{r['head']:<6} {_cell(r['copying'])} {_cell(r['same_matching'])} {prev}{_cell(r['prefix_matching'])} "
                     f"{_cell(r['behavioural_copying'])}  {evidence}")
    lines += [
        "",
        f"previous-token heads (*): {', '.join(report['previous_token_heads']) or 'none'}"
        + ("" if m["n_ctx"] else " (no positional embeddings)"),
        "induction heads (weights only): " + (", ".join(f"{e['head']} ({e['route']} with {e['partner']})"
                                                          for e in report["induction_routes"]) or "none"),
    ]
    if report["disagreements"] is not None:
        lines.append("weights and behaviour disagree on: " + (", ".join(
            f"{d['head']} (weights: {'induction' if d['weights_say_induction'] else 'not induction'}, behaviour: "
            f"{'induction' if d['behaviour_says_induction'] else 'not induction'})" for d in report["disagreements"])
            or "no head"))
    if report["heads"] and report["heads"][0]["ov_top"] is not None:
        lines += ["", "pairs each head's OV circuit raises most (attended token → raised output):"]
        lines += [f"{r['head']:<6} " + (", ".join(r["ov_top"]) or "-") for r in report["heads"]]
    lines += [
        "",
        "top composition pairs (baseline: random heads of the same shapes, mean ± std):",
        f"{'mode':<5} {'writer':<7} {'reader':<7} {'score':>7} {'baseline':>15} {'ratio':>6}",
    ]
    for row in report["composition"]["top"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(f"{row['mode']:<5} {row['writer']:<7} {row['reader']:<7} {row['score']:>7.3f} "
                     f"{row['baseline_mean']:>7.3f} ± {row['baseline_std']:<5.3f} {ratio:>6}")
    if not report["composition"]["top"]:
        lines.append("(no pairs: composition needs heads in two layers)")
    if "token" in report:
        t = report["token"]
        shown = lambda entry: f"{entry['token']}" + (f" {entry['string']!r}" if entry["string"] is not None else "")  # noqa: E731
        lines += ["", f"tokens raised most when a head attends to token {shown(t)} (full OV circuit column; own rank, 0 = top):"]
        for h in t["heads"]:
            lines.append(f"{h['head']:<6} own rank {h['own_rank']:>6}  " + ", ".join(f"{shown(e)} {e['logit']:.3f}" for e in h["top"]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # Overflow shows as a non-finite score, which analyze refuses in one line; numpy's warnings would add more.
    phases = Phases(progress=sys.stderr.isatty())
    if args.plots:
        from ..plots import plot_folder, require_matplotlib

        require_matplotlib()  # both before the analysis prints anything
        plot_folder(args.plots)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        with phases("load"):
            model = load_model(args)
        report = analyze(args, model, phases)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    if args.timings:
        print(phases.table(), file=sys.stderr)
    if args.plots:
        from .. import plots

        found = source(args)
        figures = plots.figures(report, model, vocabulary=found.vocabulary, seed=args.seed)
        for path in plots.save(figures, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return 0
