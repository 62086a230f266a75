"""Statements beyond identities of fixed size: every head count (C27), rank bounds (C26),
and the hint for 1-based indices.

* **Every head count.** When a side sums over heads of unknown number and the normal
  forms differ, :func:`refute_for_head_counts` gives each layer 1, 2, … heads (at most as
  many as a term of the difference has variables over it, which is enough for the
  difference to stay nonzero), expands the sums, and lets exact evaluation find a
  counterexample; the verdict names the head counts.
* **Rank bounds.** ``rank(E) <= k`` (also ``≤``, ``\\le``, ``\\operatorname{rank}``) is
  PROVED when a bound read off E's factorisation (:mod:`tensoralg.algebra.rank_bounds`,
  with W_OV and W_QK unfolded) is at most k for all sizes; REFUTED when the exact rank of
  a random integer instance over ℚ exceeds k at some sizes (a real matrix of that rank);
  otherwise UNDECIDED — neither is claimed.
* **1-based indices.** A refuted identity (or a head that does not exist) whose indices,
  each lowered by one, give a proved identity gets a hint saying so.

>>> check_rank("rank(W_U W_OV^{0,0} W_E) <= d_head").status
'PROVED'
>>> v = check_rank("rank(W_OV^{0,0} + W_OV^{0,1}) <= d_head")
>>> v.status, v.counterexample.dims["d_head"] < v.counterexample.dims["d_model"]
('REFUTED', True)
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from itertools import product as cartesian

from ..algebra.definitions import expand_definitions
from ..algebra.exact import RATIONALS, SingularValueError, evaluate_exact, invertible_symbols, random_instance
from ..algebra.expr import Atom, Expr, canonical_tree, spaces_in, symbols_in
from ..algebra.index_sets import is_bound, layers_needed, variables
from ..algebra.normal_form import NormalForm, instantiate_heads
from ..algebra.printing import to_unicode
from ..algebra.rank_bounds import at_most, evaluate_size, parse_size, rank_bounds, size_text
from ..algebra.symbols import STANDARD_SPACES, space_size
from ..errors import TensoralgError
from ..formula.lexer import syntax_error, tokenize
from .verification import Counterexample, Verdict, verify_identity

#: The most head-count tuples tried when refuting a statement about every head count.
MAX_HEAD_COUNTS = 64


def _free_heads(keys) -> dict[int, int]:
    """A concrete head for each named (free) variable, beyond every index the keys use."""
    used, free = [0], []
    for key in keys:
        for v in variables(key):
            if not is_bound(v) and v not in free:
                free.append(v)
        for word in key:
            for letter in word:
                used += [i for i in getattr(letter.symbol, "indices", ()) if i >= 0]
    top = max(used) + 1
    return {v: top + k for k, v in enumerate(free)}


def head_counts(diff: NormalForm, sides: tuple[NormalForm, ...]) -> list[tuple[int, ...]]:
    """Heads per layer to try, smallest first: every layer has the heads the formula names, and
    up to as many more as a term of ``diff`` has variables over it — enough for every variable
    to take a head of its own, so that each term of the difference gives a monomial no other
    term gives and the difference stays nonzero."""
    spread, named = layers_needed(list(diff.terms) + [k for nf in sides for k in nf.terms])
    layers = max([*spread, *named], default=-1) + 1
    ranges = []
    for l in range(layers):
        low = max(named.get(l, 0), 1 if spread.get(l) else 0)
        ranges.append(range(low, named.get(l, 0) + spread.get(l, 0) + 1))
    combos = sorted(cartesian(*ranges), key=lambda hs: (sum(hs), hs))
    if len(combos) > MAX_HEAD_COUNTS:
        combos = [tuple(r[-1] for r in ranges)]
    return combos


def refute_for_head_counts(
    lhs: Expr, rhs: Expr, diff: NormalForm, difference: str, statement: str, seed: int, trials: int, start: float
) -> Verdict:
    """The verdict on an identity with sums over heads of unknown number whose normal forms differ."""
    nl, nr = expand_definitions(lhs).normal_form, expand_definitions(rhs).normal_form
    free = _free_heads(list(nl.terms) + list(nr.terms))
    for heads in head_counts(diff, (nl, nr)):
        if not instantiate_heads(diff, heads, free).terms:
            continue
        left = canonical_tree(instantiate_heads(nl, heads, free))
        right = canonical_tree(instantiate_heads(nr, heads, free))
        verdict = verify_identity(left, right, seed=seed, trials=trials)
        if verdict.status == "REFUTED" and verdict.counterexample is not None:
            named = [(l, n) for l, n in enumerate(heads) if n or l == len(heads) - 1]  # layers left empty are not listed
            counts = ", ".join(f"|H{l + 1}| = {n}" for l, n in named)
            rest = " (and none in any other layer)" if len(named) < len(heads) else ""
            cx = verdict.counterexample
            dims = {**{f"|H{l + 1}|": n for l, n in named}, **cx.dims}
            how = (
                f"with {counts} head(s){rest} the sums expand to sides that exact evaluation tells apart" if heads
                else "with each free head index a head of its own, exact evaluation tells the sides apart"
            )
            return Verdict(
                "REFUTED", "exact", statement, f"{difference}; {how}",
                counterexample=replace(cx, dims=dims), seconds=time.perf_counter() - start,
            )
    return Verdict(
        "UNDECIDED", "exact", statement,
        f"{difference}, but no head count tried tells the sides apart; the identity is neither proved nor refuted",
        seconds=time.perf_counter() - start,
    )


_RANK = re.compile(r"^\s*(?:\\operatorname\{rank\}|\\mathrm\{rank\}|\\text\{rank\}|rank|rk)\s*(?=[(\\{])")


def is_rank_statement(text: str) -> bool:
    """True when ``text`` compares with ≤ (a rank statement)."""
    try:
        return any(t.kind == "LE" for t in tokenize(text))
    except TensoralgError:
        return False


def check_rank(text: str, context=None, *, seed: int = 0) -> Verdict:
    """PROVED, REFUTED, UNDECIDED or ERROR for ``rank(E) <= k`` (see the module docstring)."""
    from ..formula.parsing import parse

    start = time.perf_counter()
    statement = text.strip()
    try:
        le = next(t for t in tokenize(text) if t.kind == "LE")
        left, right = text[: le.col], text[le.col + len(le.text):]
        m = _RANK.match(left)
        if m is None:
            raise syntax_error(text, 0, "a comparison reads rank(E) <= k, e.g. rank(W_OV^{0,0}) <= d_head")
        padded = " " * m.end() + left[m.end():]
        expr = parse(padded, context)
        k = parse_size(right)
        _check_sizes(k, expr, context, text, le.col + len(le.text))
    except TensoralgError as exc:
        return Verdict("ERROR", "symbolic", statement, str(exc), seconds=time.perf_counter() - start, kind="rank")
    return verify_rank(expr, k, statement=statement, seed=seed, start=start)


def _check_sizes(k: dict, expr: Expr, context, text: str, col: int) -> None:
    """Every size the bound names is a space the formula knows (a standard one, a declared one, or
    one of E's): a misspelt ``d_haed`` would otherwise be a free size, refuted at d_haed = 1."""
    known = set(STANDARD_SPACES) | set(spaces_in(expr))
    for rows, cols in (context.declarations.values() if context is not None else ()):
        known |= {rows, cols}
    for monomial in k:
        for space in monomial:
            if space not in known:
                near = next((s for s in sorted(known) if s.replace("_", "").lower() == space.replace("_", "").lower()), None)
                hint = f"; did you mean {near}?" if near else f" (known: {', '.join(sorted(s for s in known if space_size(s) is None))})"
                at = text.find(space, col)
                raise syntax_error(text, at if at >= 0 else col, f"unknown size {space} in the bound{hint}")


def verify_rank(expr: Expr, k: dict, *, statement: str | None = None, seed: int = 0, start: float | None = None) -> Verdict:
    """The verdict on rank(expr) ≤ k for a size polynomial k (:func:`tensoralg.algebra.rank_bounds.parse_size`)."""
    start = time.perf_counter() if start is None else start
    statement = statement or f"rank({to_unicode(expr)}) ≤ {size_text(k)}"
    unfolded = expand_definitions(expr)
    bounds = rank_bounds(unfolded)
    if at_most(bounds, k):
        best = next(p for p in bounds if at_most([p], k))
        return Verdict(
            "PROVED", "symbolic", statement,
            f"rank ≤ {size_text(best)} ≤ {size_text(k)} for all sizes, from the factorisation "
            "(a product is bounded by its smallest space, a sum by the sum, a tensor product by the product)",
            seconds=time.perf_counter() - start, kind="rank",
        )
    try:
        found = _exact_rank_above(unfolded, k, seed)
    except TensoralgError as exc:
        return Verdict("ERROR", "exact", statement, str(exc), seconds=time.perf_counter() - start, kind="rank")
    if found is not None:
        dims, rank, bound, used_seed, names = found
        cx = Counterexample(
            dims, used_seed, RATIONALS.name, (), str(rank), str(bound),
            f"exact rank over ℚ of tensoralg.algebra.exact.random_instance([{names}], dims, seed={used_seed}, "
            f"field=field_named('Q')): LHS = rank {rank}, RHS = the bound {size_text(k)} = {bound}",
        )
        return Verdict(
            "REFUTED", "exact", statement,
            f"an instance has rank {rank} > {size_text(k)} = {bound}", counterexample=cx,
            seconds=time.perf_counter() - start, kind="rank",
        )
    known = ", ".join(size_text(p) for p in bounds[:4]) or "none"
    return Verdict(
        "UNDECIDED", "exact", statement,
        f"not decided: the factorisation bounds the rank by {known}, not by {size_text(k)} for all sizes, "
        "and no instance tried has a larger rank",
        seconds=time.perf_counter() - start, kind="rank",
    )


def _exact_rank_above(expr: Expr, k: dict, seed: int):
    """Sizes, rank, bound, seed and symbol names of an instance whose exact rank exceeds k, or None.

    A sum over heads of unknown number is tried with 1, 2 and 3 heads in each layer it uses
    (the head counts are reported with the sizes)."""
    nf = expr.normal_form
    if not nf.variables:
        return _concrete_rank_above(expr, k, seed)
    spread, named = layers_needed(nf.terms)
    layers = max([*spread, *named], default=-1) + 1
    free = _free_heads(nf.terms)
    for n in (1, 2, 3):
        heads = tuple(max(n, named.get(l, 0)) for l in range(layers))
        found = _concrete_rank_above(canonical_tree(instantiate_heads(nf, heads, free)), k, seed)
        if found is not None:
            dims, rank, bound, used, names = found
            return {**{f"|H{l + 1}|": h for l, h in enumerate(heads)}, **dims}, rank, bound, used, names
    return None


def _concrete_rank_above(expr: Expr, k: dict, seed: int):
    spaces = sorted(s for s in spaces_in(expr) if space_size(s) is None)
    in_k = {space for m in k for space in m}
    symbols = symbols_in(expr)
    invertible = invertible_symbols(expr)
    for a, b in ((1, 2), (1, 3), (2, 4), (1, 5), (2, 5), (3, 6), (2, 2), (3, 3)):
        dims = {s: (a if s in in_k else b) for s in spaces}
        for extra in in_k - set(dims):
            dims[extra] = a
        rows = cols = 1
        for r, c in expr.shape:
            rows *= dims.get(r, space_size(r) or 1)
            cols *= dims.get(c, space_size(c) or 1)
        if rows * cols > 4096:
            continue
        bound = evaluate_size(k, dims)
        if min(rows, cols) <= bound:
            continue
        for s in range(seed, seed + 3):
            values = random_instance(symbols, dims, s, RATIONALS, invertible)
            try:
                rank = evaluate_exact(expr, values, dims, RATIONALS).rank()
            except SingularValueError:
                continue  # an inverse of a matrix singular on this draw: try the next seed
            if rank > bound:
                return dims, rank, bound, s, ", ".join(to_unicode(Atom(x)) for x in sorted(values))
    return None


def shifted_hint(text: str, verdict: Verdict, declarations, heads, seed: int, trials: int, expand: bool) -> Verdict:
    """``verdict`` with a hint when lowering every layer and head index by one proves the identity."""
    from ..formula.parsing import Context, parse_equation

    if verdict.status not in ("REFUTED", "ERROR") or not re.search(r"(\^\{?|\[)\s*[0-9]", text):
        return verdict
    try:
        context = Context.build(declarations, heads, index_shift=-1)
        lhs, rhs = parse_equation(text, context)
    except TensoralgError:
        return verdict
    shifted = verify_identity(lhs, rhs, seed=seed, trials=trials, expand=expand)
    if shifted.status != "PROVED":
        return verdict
    hint = (
        "\nhint: with every layer and head index lowered by one the identity is PROVED; indices are "
        "0-based (W_OV^{0,0} is the first head of the first layer, H1 is layer index 0)"
    )
    return replace(verdict, detail=verdict.detail + hint)
