r"""Derivation chains: consecutive equalities e₀ = e₁ = e₂ … checked step by step.

A derivation is text in which every step eᵢ = eᵢ₊₁ gets its own verdict, so the
report names the first wrong step and its line and still checks the later ones:

    # comments start with #
    let M: d_model x d_model          declarations, as --let
    heads 2,2                         heads per layer, as --heads
    assume P P = P                    an assumption for every step, as --assume
    (Id ⊗ W_U)(Id ⊗ W_E)              one expression per line …
    = Id ⊗ W_U W_E                    … a leading = is optional (aligned style)
    A = B = C                         several expressions on one line
    <blank line>                      starts a new, independent chain
    + …                               a line that starts with + or - continues the last expression
    T = …                             a first name that is no symbol names the quantity
    rank(W_U W_OV^{0,0} W_E) <= d_head  a rank statement is a step of its own
    \begin{align} T &= … \\ &= … \end{align}    LaTeX rows (& and \\ are layout; $$, \[ \] too)

An expression that does not parse makes the steps on either side of it ERROR;
Id in one expression may take its space from the shape of its neighbour. Every step
names the lines of its two sides, and text reports list a counterexample's values.

>>> report = check_derivation('''
... let M, N: d_model x d_model
... (M N)ᵀ
... = Nᵀ Mᵀ
... = Mᵀ Nᵀ
... = (N M)ᵀ''')
>>> [s.verdict.status for s in report.steps]
['PROVED', 'REFUTED', 'PROVED']
>>> report.first_wrong.lines, report.exit_code
((4, 5), 1)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..algebra.architecture import Architecture
from ..errors import ArchitectureError, TensoralgError
from ..algebra.expr import Expr, symbols_in
from ..formula.parsing import Context, parse, split_chain
from ..formula.assumptions import parse_assumptions
from .assumptions import verify_step
from .statements import check_rank, is_rank_statement
from .verification import SUMMARY_WIDTH, Verdict

#: The column marking a rank statement line (rank(E) <= k), checked as a step of its own.
RANK = -1


@dataclass(frozen=True)
class Piece:
    """One expression of a chain: its line (1-based), column, text, and parse result."""

    line: int
    col: int
    text: str
    expr: Expr | None
    error: str | None


@dataclass(frozen=True)
class Step:
    """The claim left = right between two consecutive expressions, and its verdict."""

    index: int
    lines: tuple[int, int]
    left: str
    right: str
    verdict: Verdict
    quantity: str | None = None  # the name of a first line "T = …"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.index, "lines": list(self.lines), "quantity": self.quantity, "left": self.left,
                "right": self.right, "verdict": self.verdict.to_json()}


@dataclass(frozen=True)
class DerivationReport:
    """All steps of a derivation; exit code 0 if all hold, 1 if one is refuted, 2 on bad input."""

    source: str
    steps: tuple[Step, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.verdict.ok for s in self.steps)

    @property
    def first_wrong(self) -> Step | None:
        """The first step that is not PROVED or HOLDS."""
        return next((s for s in self.steps if not s.verdict.ok), None)

    @property
    def exit_code(self) -> int:
        """2 if a step is bad input, else 1 if one is refuted, else 3 if one is not decided, else 0."""
        codes = {s.verdict.exit_code for s in self.steps}
        return next((c for c in (2, 1, 3) if c in codes), 0)

    def describe(self) -> str:
        statuses = ("PROVED", "HOLDS", "REFUTED", "UNDECIDED", "ERROR")
        counts = {st: sum(s.verdict.status == st for s in self.steps) for st in statuses}
        summary = ", ".join(f"{n} {st.lower()}" for st, n in counts.items() if n)
        wrong = self.first_wrong
        head = f"{self.source}: {len(self.steps)} step(s): {summary}"
        if wrong is not None:
            head += f"; first wrong step: {wrong.index} (line {wrong.lines[0]} → line {wrong.lines[1]})"
        lines = [head]
        for s in self.steps:
            v = s.verdict
            where = f"line {s.lines[0]} → {s.lines[1]}" if s.lines[0] != s.lines[1] else f"line {s.lines[0]}"
            of = f" [{s.quantity}]" if s.quantity else ""
            head = f"step {s.index}{of}, {where}: {v.status} ({v.method})"
            if not s.right:
                lines.append(f"{head} {s.left}")
            elif len(s.left) + len(s.right) <= SUMMARY_WIDTH:
                lines.append(f"{head} {s.left} = {s.right}")
            else:  # long sides go on their own lines, out of the summary
                lines += [head, f"    {s.left}", f"  = {s.right}"]
            if not v.ok or v.status == "HOLDS":
                lines.append("  " + v.detail.replace("\n", "\n  "))
            if v.counterexample is not None:
                lines.append("  counterexample: " + v.counterexample.describe().replace("\n", "\n  "))
                for name, rows in v.counterexample.values:
                    lines.append(f"    {name} = [" + "; ".join(" ".join(r) for r in rows) + "]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter: a table of the steps, each typeset with its verdict, the first wrong one marked."""
        from .cards import derivation_html

        return derivation_html(self)

    def to_json(self) -> dict[str, Any]:
        wrong = self.first_wrong
        return {
            "source": self.source,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "first_wrong": None if wrong is None else {"step": wrong.index, "lines": list(wrong.lines)},
            "steps": [s.to_json() for s in self.steps],
            "seconds": round(self.seconds, 6),
        }


def _heads(text: str, line: int) -> tuple[int, ...]:
    try:
        return Architecture.parse(text.replace(" ", "")).heads
    except ArchitectureError as exc:
        raise ArchitectureError(f"line {line}: heads must read like 'heads 2,2': {exc}") from exc


#: LaTeX that only lays a derivation out: environments, display delimiters, row ends, labels.
_LAYOUT = re.compile(
    r"\\(begin|end)\{(align|aligned|equation|eqnarray|gather|gathered|split|multline)\*?\}"
    r"|\$\$|\\\[|\\\]|\\\\|\\(nonumber|notag)|\\label\{[^}]*\}|&"
)


def _layout_free(line: str) -> str:
    """``line`` with LaTeX layout replaced by spaces (columns keep their place)."""
    return _LAYOUT.sub(lambda m: " " * len(m.group()), line)


def _chains(text: str) -> tuple[list[str], tuple[int, ...] | None, list[list[tuple[int, int, str]]], list[str]]:
    """Declarations, heads, the chains of (line, column, text) pieces, and the ``assume`` lines."""
    declarations: list[str] = []
    assumed: list[str] = []
    heads = None
    chains: list[list[tuple[int, int, str]]] = [[]]
    for number, raw in enumerate(text.splitlines(), start=1):
        body = _layout_free(raw.split("#", 1)[0].split("%", 1)[0])
        stripped = body.strip()
        if not raw.strip():
            if chains[-1]:
                chains.append([])
            continue
        if not stripped:  # a comment line explains a step; it does not end the chain
            continue
        if stripped.startswith("let "):
            declarations.append(stripped[4:])
            continue
        if stripped.startswith("assume "):
            assumed.append(stripped[7:])
            continue
        if stripped.startswith("heads"):
            heads = _heads(stripped[5:].lstrip(" :="), number)
            continue
        if is_rank_statement(body):  # rank(E) <= k stands alone: its own step, between chains
            chains += [[(number, RANK, body)], []]
            continue
        try:
            pieces = split_chain(body)
        except TensoralgError:
            pieces = [(0, body)]
        if not pieces[0][1].strip() and len(pieces) > 1:  # a leading "=" continues the chain
            pieces = pieces[1:]
        elif stripped[0] in "+-−" and chains[-1]:  # a leading + or - continues the last expression
            line, col, previous = chains[-1][-1]
            chains[-1][-1] = (line, col, f"{previous} {pieces[0][1].strip()}")
            pieces = pieces[1:]
        chains[-1].extend((number, col, piece) for col, piece in pieces)
    return declarations, heads, [c for c in chains if c], assumed


def _parse_pieces(chain: list[tuple[int, int, str]], context: Context) -> list[Piece]:
    # Pad each piece to its column, so that error columns and carets are those of the line.
    padded = [" " * col + text for _, col, text in chain]
    parsed: list[Piece] = []
    for (line, col, text), source in zip(chain, padded):
        try:
            parsed.append(Piece(line, col, text.strip(), parse(source, context), None))
        except TensoralgError as exc:
            parsed.append(Piece(line, col, text.strip(), None, f"line {line}: {exc}"))
    # Id and 0 may take their shape from a neighbour that parsed.
    for k, piece in enumerate(parsed):
        if piece.expr is not None:
            continue
        for neighbour in (parsed[k - 1] if k else None, parsed[k + 1] if k + 1 < len(parsed) else None):
            if neighbour is not None and neighbour.expr is not None:
                try:
                    expr = parse(padded[k], context, shape=neighbour.expr.shape)
                except TensoralgError:
                    continue
                parsed[k] = Piece(piece.line, piece.col, piece.text, expr, None)
                break
    return parsed


def _verify_step(left: Expr, right: Expr, assumed: Sequence[str], context: Context, defaults: bool,
                 seed: int, trials: int, expand: bool, full: bool = False) -> Verdict:
    """One step, under the file's assumptions (schemas instantiated for the step's symbols)."""
    try:
        parsed = parse_assumptions(assumed, context, symbols_in(left) | symbols_in(right))
    except TensoralgError as exc:
        return Verdict("ERROR", "symbolic", f"{left} = {right}", str(exc))
    return verify_step(left, right, parsed, defaults=defaults, seed=seed, trials=trials, expand=expand, full=full)


def _quantity(chain: list[tuple[int, int, str]], context: Context) -> str | None:
    """The name T of a chain that starts "T = …" when T is not a symbol the formula knows."""
    if len(chain) < 3 or not re.fullmatch(r"\s*[A-Za-z][A-Za-z0-9_{}^,\\]*\s*", chain[0][2]):
        return None
    try:
        parse(chain[0][2], context)
    except TensoralgError:
        return chain[0][2].strip()
    return None


def check_derivation(
    text: str,
    *,
    declarations: Sequence[str] = (),
    heads: Sequence[int] | None = None,
    seed: int = 0,
    trials: int = 3,
    expand: bool = True,
    full: bool = False,
    source: str = "<derivation>",
    assume: Sequence[str] = (),
    defaults: bool = True,
) -> DerivationReport:
    """Check every step of a derivation (see the module docstring); raises TensoralgError if there is no step.

    ``full`` prints every term of a refuted step's difference (as ``check --full``).
    """
    start = time.perf_counter()
    file_declarations, file_heads, chains, file_assumed = _chains(text)
    assumed = tuple(assume) + tuple(file_assumed)
    context = Context.build(list(declarations) + file_declarations, file_heads if file_heads is not None else heads)
    steps: list[Step] = []
    for chain in chains:
        if chain[0][1] == RANK:
            (line, _, body), = chain
            steps.append(Step(len(steps) + 1, (line, line), body.strip(), "", check_rank(body, context, seed=seed)))
            continue
        quantity = _quantity(chain, context)
        if quantity is not None:
            chain = chain[1:]
        pieces = _parse_pieces(chain, context)
        if len(pieces) == 1:
            (lone,) = pieces
            message = (f"line {lone.line}: {lone.text} is compared with nothing: continue it with '= …' "
                       "on the next line (a blank line starts a new chain)")
            steps.append(Step(len(steps) + 1, (lone.line, lone.line), lone.text, "",
                              Verdict("ERROR", "symbolic", lone.text, message)))
        for left, right in zip(pieces, pieces[1:]):
            index = len(steps) + 1
            if left.expr is None or right.expr is None:
                message = "; ".join(p.error for p in (left, right) if p.error)
                verdict = Verdict("ERROR", "symbolic", f"{left.text} = {right.text}", message)
            else:
                verdict = _verify_step(left.expr, right.expr, assumed, context, defaults, seed, trials, expand, full)
            steps.append(Step(index, (left.line, right.line), left.text, right.text, verdict, quantity))
    if not steps:
        raise TensoralgError(f"{source}: no expression to check (write e0 = e1, or one expression per line)")
    return DerivationReport(source, tuple(steps), time.perf_counter() - start)


def check_file(path: str | Path, **options: Any) -> DerivationReport:
    """:func:`check_derivation` on a UTF-8 text file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TensoralgError(f"cannot read the derivation file {path}: {exc}") from exc
    return check_derivation(text, source=str(path), **options)
