"""Derivation chains: consecutive equalities e₀ = e₁ = e₂ … checked step by step.

A derivation is text in which every step eᵢ = eᵢ₊₁ gets its own verdict, so the
report names the first wrong step and its line and still checks the later ones:

    # comments start with #
    let M: d_model x d_model          declarations, as --let
    heads 2,2                         heads per layer, as --heads
    (Id ⊗ W_U)(Id ⊗ W_E)              one expression per line …
    = Id ⊗ W_U W_E                    … a leading = is optional (aligned style)
    A = B = C                         several expressions on one line
    <blank line>                      starts a new, independent chain

An expression that does not parse makes the steps on either side of it ERROR;
Id in one expression may take its space from the shape of its neighbour.

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

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..algebra.architecture import Architecture
from ..errors import ArchitectureError, TensoralgError
from ..algebra.expr import Expr
from ..formula.parsing import Context, parse, split_chain
from .verification import Verdict, verify_identity


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

    def to_json(self) -> dict[str, Any]:
        return {"step": self.index, "lines": list(self.lines), "left": self.left, "right": self.right,
                "verdict": self.verdict.to_json()}


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
        return max((s.verdict.exit_code for s in self.steps), default=0)

    def describe(self) -> str:
        counts = {st: sum(s.verdict.status == st for s in self.steps) for st in ("PROVED", "HOLDS", "REFUTED", "ERROR")}
        summary = ", ".join(f"{n} {st.lower()}" for st, n in counts.items() if n)
        wrong = self.first_wrong
        head = f"{self.source}: {len(self.steps)} step(s): {summary}"
        if wrong is not None:
            head += f"; first wrong step: {wrong.index} (line {wrong.lines[0]} → line {wrong.lines[1]})"
        lines = [head]
        for s in self.steps:
            v = s.verdict
            lines.append(f"step {s.index}, line {s.lines[0]} → {s.lines[1]}: {v.status} ({v.method}) {s.left} = {s.right}")
            if not v.ok or v.status == "HOLDS":
                lines.append("  " + v.detail.replace("\n", "\n  "))
            if v.counterexample is not None:
                lines.append("  counterexample: " + v.counterexample.describe().replace("\n", "\n  "))
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


def _chains(text: str) -> tuple[list[str], tuple[int, ...] | None, list[list[tuple[int, int, str]]]]:
    """Declarations, heads and the chains of (line, column, text) pieces."""
    declarations: list[str] = []
    heads = None
    chains: list[list[tuple[int, int, str]]] = [[]]
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.split("#", 1)[0]
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
        if stripped.startswith("heads"):
            heads = _heads(stripped[5:].lstrip(" :="), number)
            continue
        try:
            pieces = split_chain(body)
        except TensoralgError:
            pieces = [(0, body)]
        if not pieces[0][1].strip() and len(pieces) > 1:  # a leading "=" continues the chain
            pieces = pieces[1:]
        chains[-1].extend((number, col, piece) for col, piece in pieces)
    return declarations, heads, [c for c in chains if c]


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


def check_derivation(
    text: str,
    *,
    declarations: Sequence[str] = (),
    heads: Sequence[int] | None = None,
    seed: int = 0,
    trials: int = 3,
    expand: bool = True,
    source: str = "<derivation>",
) -> DerivationReport:
    """Check every step of a derivation (see the module docstring); raises TensoralgError if there is no step."""
    start = time.perf_counter()
    file_declarations, file_heads, chains = _chains(text)
    context = Context.build(list(declarations) + file_declarations, file_heads if file_heads is not None else heads)
    steps: list[Step] = []
    for chain in chains:
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
                verdict = verify_identity(left.expr, right.expr, seed=seed, trials=trials, expand=expand)
            steps.append(Step(index, (left.line, right.line), left.text, right.text, verdict))
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
