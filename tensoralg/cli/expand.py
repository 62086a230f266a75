r"""``tensoralg expand``: list or count the terms of a path expansion.

    tensoralg expand --heads 4,4 [--positional] [--mlp] [--qk LAYER.HEAD]
                     [--max-order K] [--limit N | --count] [--format text|latex|json] [--equation]
    tensoralg expand --symbolic --layers 2 [--positional] [--mlp] [--qk LAYER.HEAD] [--format …]

``--symbolic`` prints the paper's Σ-form, valid for every number of heads: one term per set
of layers (Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1} ⊗ …), grouped by order (:mod:`tensoralg.paths.symbolic`).
``--equation`` with ``--format latex`` prints the whole expansion as one aligned equation,
``\begin{aligned} T &= … \\ &+ … \end{aligned}``, ready for slides (S for scores).

``--layers L --heads H`` spells H heads in each of L layers. Layers and heads are
0-based, as in the symbols: ``--qk 1.0`` is head 0 of the second layer (CLAIMS C14's
"layer 2"). For scores, ``--max-order K`` bounds the order of each side.

Terms are written as they are generated, from strings rendered once per symbol,
so memory stays flat however many terms stream out. Listing more than
:data:`MAX_TERMS` terms needs an explicit ``--limit``; counting is always exact.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import islice
from typing import Any, Callable, Iterator, TextIO

from ..algebra.architecture import Architecture
from ..errors import ArchitectureError
from ..paths.expansion import (
    MLP,
    TOKEN,
    PathTerm,
    ScoreTerm,
    iter_logit_terms,
    iter_score_terms,
    logit_family,
    score_family,
    source_symbol,
)
from ..algebra.expr import Atom, Identity, Transpose
from ..algebra.printing import letter_json, to_latex, to_unicode
from ..algebra.symbols import N_CTX, Letter, standard_symbol
from ..paths.term_counts import logit_counts, score_counts
from . import non_negative_int

#: The most terms listed without an explicit --limit (a million terms of JSON fill over half a gigabyte).
MAX_TERMS = 10**6

FORMATS = ("text", "latex", "json")

#: Terms are written in chunks of this many, so memory is flat and writes are few.
_CHUNK = 2048


class _Keyed(dict):
    """A dict that renders a missing entry on first use, so each piece of text is built once."""

    def __init__(self, make: Callable[[Any], str]):
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def _unicode(letter: Letter) -> str:
    node = Atom(letter.symbol)
    return to_unicode(Transpose(node) if letter.transposed else node)


def _latex(letter: Letter) -> str:
    node = Atom(letter.symbol)
    return to_latex(Transpose(node) if letter.transposed else node)


def _json(letter: Letter) -> str:
    return json.dumps(letter_json(letter))


class Renderer:
    """Renders terms in one format by joining pre-rendered pieces (no expression tree per term).

    Each symbol is rendered once (by to_unicode, to_latex or as JSON factors), and so is
    the frame of each kind of term (its order, family and sources); a term is then a
    few string joins. The output equals to_unicode / to_latex of the term's expression
    and, for JSON, the factors of its normal form (the tests check both).
    """

    def __init__(self, fmt: str):
        if fmt not in FORMATS:
            raise ArchitectureError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.fmt = fmt
        render = {"text": _unicode, "latex": _latex, "json": _json}[fmt]

        def head_piece(name: str, transposed: bool) -> Callable[[tuple[int, int]], str]:
            return lambda lh: render(Letter(standard_symbol(name, *lh), transposed))

        def source_piece(key: tuple[str, int | None, bool]) -> str:
            source, layer, transposed = key
            return render(Letter(source_symbol(source, layer), transposed))

        self._A = _Keyed(head_piece("A", False))
        self._OV = _Keyed(head_piece("W_OV", False))
        self._OVT = _Keyed(head_piece("W_OV", True))
        self._QK = _Keyed(head_piece("W_QK", False))
        self._source = _Keyed(source_piece)
        self._U = render(Letter(standard_symbol("W_U"), False))
        self._identity = {"text": "Id", "latex": to_latex(Identity(N_CTX)), "json": ""}[fmt]
        self._join = ", " if fmt == "json" else " "
        self._logit_frame = _Keyed(self._make_logit_frame)
        self._score_frame = _Keyed(self._make_score_frame)

    def _make_logit_frame(self, key: tuple[int, str, int | None]) -> tuple[str, str, str]:
        order, source, layer = key
        family, label = logit_family(order), _label(source, layer)
        J, chain_end = self._join, self._join + self._source[source, layer, False]
        if self.fmt == "json":
            extra = f', "source_layer": {layer}' if source == MLP else ""
            head = f'{{"order": {order}, "family": "{family}", "source": "{source}"{extra}, "positional": ['
            return head, f'], "residual": [{self._U}{J}', f'{chain_end}], "coefficient": "1"}}'
        if self.fmt == "latex":
            return "", f" \\otimes {self._U}{J}", f"{chain_end}  % order {order}, {family}, {label}"
        return f"{order}  {family:<11}  {label:<8}  ", f" ⊗ {self._U}{J}", chain_end

    def logit(self, term: PathTerm) -> str:
        """One term of the logits: A^{l_k,h_k}⋯A^{l₁,h₁} ⊗ W_U W_OV^{l_k,h_k}⋯W_OV^{l₁,h₁} S."""
        heads = term.heads
        head, middle, tail = self._logit_frame[len(heads), term.source, term.source_layer]
        if not heads:
            return head + self._identity + middle[: -len(self._join)] + tail
        J, A, OV, reverse = self._join, self._A, self._OV, heads[::-1]
        return head + J.join([A[x] for x in reverse]) + middle + J.join([OV[x] for x in reverse]) + tail

    def _make_score_frame(self, key: tuple[int, int, str, int | None, str, int | None]) -> tuple[str, str]:
        a, b, q_source, q_layer, k_source, k_layer = key
        family = score_family(a, b)
        sides = f"{_label(q_source, q_layer)}/{_label(k_source, k_layer)}"
        if self.fmt == "json":
            extra = "".join(
                f', "{side}_source_layer": {layer}'
                for side, source, layer in (("query", q_source, q_layer), ("key", k_source, k_layer))
                if source == MLP
            )
            head = (
                f'{{"order": {a + b}, "query_order": {a}, "key_order": {b}, "family": "{family}", '
                f'"query_source": "{q_source}", "key_source": "{k_source}"{extra}, "query_positional": ['
            )
            return head, "}"
        if self.fmt == "latex":
            return "", f"  % order {a},{b}, {family}, {sides}"
        return f"{a},{b}  {family:<15}  {sides:<17}  ", ""

    def score(self, term: ScoreTerm) -> str:
        """One score term: A_q ⊗ A_k ⊗ S_qᵀ W_OV^{q₁}ᵀ⋯W_QK^{l,h}⋯W_OV^{k₁} S_k."""
        q, k = term.query, term.key
        head, tail = self._score_frame[len(q.heads), len(k.heads), q.source, q.source_layer, k.source, k.source_layer]
        J, OV, OVT = self._join, self._OV, self._OVT
        chain = J.join(
            [
                self._source[q.source, q.source_layer, True],
                *[OVT[x] for x in q.heads],
                self._QK[term.layer, term.head],
                *[OV[x] for x in reversed(k.heads)],
                self._source[k.source, k.source_layer, False],
            ]
        )
        query, key = self._patterns(q.heads), self._patterns(k.heads)
        if self.fmt == "json":
            return f'{head}{query}], "key_positional": [{key}], "residual": [{chain}], "coefficient": "1"{tail}'
        times = " ⊗ " if self.fmt == "text" else " \\otimes "
        return head + query + times + key + times + chain + tail

    def _patterns(self, heads: tuple[tuple[int, int], ...]) -> str:
        if not heads:
            return self._identity
        return self._join.join([self._A[x] for x in reversed(heads)])


def _label(source: str, layer: int | None) -> str:
    return source if source != MLP else f"mlp:{layer}"


def check_enumerable(count: int, limit: int | None, what: str) -> None:
    """Refuse to list more than MAX_TERMS terms unless --limit says how many."""
    if limit is None and count > MAX_TERMS:
        raise ArchitectureError(
            f"{what} expand into {count:,} terms, more than the {MAX_TERMS:,} that expand lists without --limit; "
            "use --count, --max-order K or --limit N"
        )


def _stream(out: TextIO, lines: Iterator[str], separator: str, limit: int | None) -> int:
    """Write ``lines`` joined by ``separator`` in chunks; return how many were written."""
    lines = lines if limit is None else islice(lines, limit)
    written = 0
    while chunk := list(islice(lines, _CHUNK)):
        if written:
            out.write(separator)
        out.write(separator.join(chunk))
        written += len(chunk)
    return written


def _count_rows(architecture: Architecture, qk: tuple[int, int] | None, max_order: int | None) -> list[dict[str, Any]]:
    if qk is None:
        return [
            {"order": k, "family": logit_family(k), "count": sum(c.values()), "by_source": c}
            for k, c in logit_counts(architecture, max_order)
        ]
    return [
        {"query_order": a, "key_order": b, "family": score_family(a, b), "count": n}
        for a, b, n in score_counts(architecture, qk[0], max_order)
    ]


def _write_counts(out: TextIO, fmt: str, header: dict[str, Any], rows: list[dict[str, Any]], title: str) -> None:
    n = sum(row["count"] for row in rows)
    if fmt == "json":
        json.dump({**header, "counts": rows, "total": n}, out)
        out.write("\n")
        return
    def order(row: dict[str, Any]) -> str:
        return str(row["order"]) if "order" in row else f"{row['query_order']},{row['key_order']}"

    def detail(row: dict[str, Any]) -> str:
        by = row.get("by_source", {})
        return "" if list(by) in ([], [TOKEN]) else " (" + ", ".join(f"{s} {c}" for s, c in by.items()) + ")"

    if fmt == "latex":
        out.write(f"% {title}\n\\begin{{tabular}}{{llr}}\norder & family & terms \\\\\n")
        for row in rows:
            family = row["family"].replace("&", "\\&")
            out.write(f"{order(row)} & {family} & {row['count']} \\\\\n")
        out.write(f"\\multicolumn{{2}}{{l}}{{total}} & {n} \\\\\n\\end{{tabular}}\n")
        return
    out.write(f"# {title}\n")
    for row in rows:
        out.write(f"order {order(row):<4}  {row['family']:<15}  {row['count']}{detail(row)}\n")
    out.write(f"total {'':<4}  {'':<15}  {n}\n")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "expand",
        help="list or count the terms of the path expansion of the logits or of a head's scores",
        description=(
            "Expand T = (Id⊗W_U) Π_l (Id + Σ_h A^{l,h}⊗W_OV^{l,h}) (Id⊗W_E) into paths (CLAIMS C12), "
            "or a head's scores into query/key path pairs (C14). Layers and heads are 0-based."
        ),
    )
    parser.add_argument("--heads", help="heads per layer, e.g. 4,4 (or one number with --layers); not with --symbolic")
    parser.add_argument("--symbolic", action="store_true",
                        help="the Σ-form for every number of heads (needs --layers, not --heads)")
    parser.add_argument("--layers", type=non_negative_int, help="number of layers, each with --heads heads")
    parser.add_argument("--positional", action="store_true", help="add a positional embedding W_pos (a twin of every path)")
    parser.add_argument("--mlp", action="store_true", help="an MLP after every layer, an opaque source MLP^{l}")
    parser.add_argument("--qk", metavar="LAYER.HEAD", help="expand this head's scores instead of the logits (0-based)")
    parser.add_argument("--max-order", type=non_negative_int, metavar="K", help="only terms of order ≤ K (each side for --qk)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--limit", type=non_negative_int, metavar="N", help="stop after N terms")
    group.add_argument("--count", action="store_true", help="print exact counts per order, not the terms")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--equation", action="store_true",
                        help="with --format latex: one aligned equation T &= … \\\\ &+ … (for slides)")
    parser.set_defaults(handler=run)


def _equation(out: TextIO, name: str, lines: Iterator[str], limit: int | None) -> int:
    """One aligned LaTeX equation: ``T &= t₁ \\ &+ t₂ …`` (a leading - stays a -)."""
    out.write("\\begin{aligned}\n")
    written = 0
    for line in lines if limit is None else islice(lines, limit):
        term = line.split("  %", 1)[0]
        if written == 0:
            out.write(f"{name} &= {term}")
        else:
            out.write(" \\\\\n  &" + (f"- {term[1:]}" if term.startswith("-") else f"+ {term}"))
        written += 1
    out.write(("" if written else f"{name} &= 0") + "\n\\end{aligned}\n")
    return written


def _run_symbolic(args: argparse.Namespace, out: TextIO) -> int:
    from ..algebra.printing import to_json as expr_json
    from ..paths.symbolic import logit_terms, score_terms

    if args.heads is not None:
        raise ArchitectureError("--symbolic takes --layers L (every number of heads), not --heads")
    if args.layers is None:
        raise ArchitectureError("--symbolic needs --layers L, the number of layers")
    if args.count or args.max_order is not None:
        raise ArchitectureError("--symbolic lists every Σ-term; --count and --max-order apply to enumerated heads")
    if args.qk is None:
        terms, name = logit_terms(args.layers, args.positional, args.mlp), "T"
        what = f"the logits of {args.layers} layer(s), every number of heads"
    else:
        layer, _, head = args.qk.partition(".")
        try:
            qk = int(layer), int(head or 0)
        except ValueError:
            raise ArchitectureError(f"--qk takes LAYER.HEAD such as 1.0; got {args.qk!r}") from None
        terms, name = score_terms(args.layers, *qk, args.positional, args.mlp), f"S^{{{qk[0]},{qk[1]}}}"
        what = f"the scores of head {qk[0]}.{qk[1]}, every number of heads in the layers before it"
    shown = terms if args.limit is None else terms[: args.limit]
    if args.format == "json":
        rows = []
        for t in shown:
            data = expr_json(t.expr)
            row = {"order": t.order, "family": t.family, "source": t.source, "unicode": to_unicode(t.expr),
                   "latex": to_latex(t.expr), **data["terms"][0], "shape": data["shape"]}
            if t.query_order is not None:
                row |= {"query_order": t.query_order, "key_order": t.key_order}
            rows.append(row)
        json.dump({"kind": "logits" if args.qk is None else "scores", "layers": args.layers, "heads": "symbolic",
                   "positional": args.positional, "mlp": args.mlp, "terms": rows}, out, ensure_ascii=False)
        out.write("\n")
        return 0
    if args.format == "latex":
        if args.equation:
            _equation(out, name, (to_latex(t.expr) for t in shown), None)
            return 0
        out.write(f"% {what}: {len(terms)} Σ-terms\n")
        for t in shown:
            out.write(f"{to_latex(t.expr)}  % order {t.order}, {t.family}, {t.source}\n")
        return 0
    out.write(f"# {what}: {len(terms)} Σ-terms\n")
    for t in shown:
        order = str(t.order) if t.query_order is None else f"{t.query_order},{t.key_order}"
        out.write(f"{order:<4}  {t.family:<15}  {t.source:<11}  {to_unicode(t.expr)}\n")
    return 0


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    if args.equation and args.format != "latex":
        raise ArchitectureError("--equation writes LaTeX: use it with --format latex")
    if args.symbolic:
        return _run_symbolic(args, out)
    if args.heads is None:
        raise ArchitectureError("give --heads (heads per layer, e.g. 4,4), or --symbolic --layers L for every number of heads")
    architecture = Architecture.parse(args.heads, layers=args.layers, positional=args.positional, mlp=args.mlp)
    qk = None if args.qk is None else architecture.parse_head(args.qk)
    header: dict[str, Any] = {"architecture": architecture.to_json(), "kind": "logits" if qk is None else "scores"}
    if qk is not None:
        header["head"] = {"layer": qk[0], "head": qk[1]}
    header["max_order"] = args.max_order
    bound = "" if args.max_order is None else f" of order ≤ {args.max_order}" + (" per side" if qk else "")
    what = (
        f"the logits of {architecture.describe()}"
        if qk is None
        else f"the scores of head {qk[0]}.{qk[1]} of {architecture.describe()}"
    )
    rows = _count_rows(architecture, qk, args.max_order)
    if args.count:
        _write_counts(out, args.format, header, rows, what + bound)
        return 0
    n = sum(row["count"] for row in rows)
    check_enumerable(n, args.limit, what + bound)
    renderer = Renderer(args.format)
    if qk is None:
        lines = map(renderer.logit, iter_logit_terms(architecture, args.max_order))
    else:
        lines = map(renderer.score, iter_score_terms(architecture, qk[0], qk[1], args.max_order))
    shown = n if args.limit is None else min(n, args.limit)
    if args.equation:
        _equation(out, "T" if qk is None else f"S^{{{qk[0]},{qk[1]}}}", lines, args.limit)
        return 0
    if args.format == "json":
        head = json.dumps(header)[:-1]
        out.write(f'{head}, "terms": [\n')
        written = _stream(out, lines, ",\n", args.limit)
        out.write("\n]}\n" if written else "]}\n")
    else:
        mark = "%" if args.format == "latex" else "#"
        noun = "term" if n == 1 else "terms"
        out.write(f"{mark} {what}{bound}: {n} {noun}" + ("" if shown == n else f", the first {shown} shown") + "\n")
        if _stream(out, lines, "\n", args.limit):
            out.write("\n")
    return 0
