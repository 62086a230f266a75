"""Verdicts on identities: PROVED, REFUTED (with a counterexample), HOLDS, UNDECIDED or ERROR.

:func:`verify_identity` decides an identity LHS = RHS of the tensor-product algebra:

* PROVED — the normal forms agree (after unfolding W_OV = W_O W_V, W_QK = W_Qᵀ W_K),
  so the identity holds in the free algebra: for all matrices of all sizes.
* REFUTED — the normal forms differ, and exact evaluation on a random instance
  finds an entry where the sides differ. Distinct normal forms always have a
  counterexample: if the difference has a term whose words have k letters, it is
  not an identity once every space has size n ≥ k + 1 (follow k + 1 distinct basis
  vectors along the word; the monomial of that path comes from that word alone;
  without transposes Amitsur–Levitzki already gives n > k/2). With inverses the
  bound comes from the Magnus expansion X = Id + N, X⁻¹ = Σ (−N)^j: a nonzero
  monomial of degree m gives sizes m + 1 (:mod:`tensoralg.algebra.size_bounds`).
  The search evaluates over GF(p) with all spaces of size n = 1, 2, … and stops at
  the first difference; then it shrinks the sizes space by space and reports an
  instance over ℚ with small integer entries: dims, seed, entry and both values.
  The prime is p = 2⁶¹ − 1 unless that divides a numerator or denominator of a
  coefficient the evaluation meets; then it is the largest smaller prime that divides
  none (:func:`tensoralg.algebra.exact.faithful_prime_field`). So every coefficient has
  its value mod p and no nonzero one vanishes: a difference mod p on an integer
  instance is a difference over ℚ, and the difference the path argument finds is a
  nonzero polynomial mod p.
* HOLDS — the normal forms differ as written but agree once the definitions are
  unfolded (``expand=False``): exact evaluation always unfolds them, so this is a
  proof too (error bound 0). Numeric checks (:func:`verify_numeric`) say HOLDS when
  every float64 draw agrees.
* UNDECIDED ("not decided") — the normal forms differ, yet no random instance shows
  it: the size where it must show is above the search's cap, no size bound is proven
  (inverses past the Magnus cap), or every trial missed (probability ≤ (D/p)^trials by
  Schwartz–Zippel, D the degree of the difference; the verdict carries that bound).
  A false identity is never reported as holding.
* ERROR — the input is ill-formed (shapes that differ, a parse error …).

:func:`verify_numeric` checks model-level claims with non-polynomial parts
(softmax, LayerNorm, an MLP) in float64 on random draws, and :func:`check_formula`
parses a formula typed by a person.

>>> from tensoralg.algebra.expr import atom, Tensor
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> A, B, W, V = (atom(s(n, 0, h)) for n, h in (("A", 0), ("A", 1), ("W_OV", 0), ("W_OV", 1)))
>>> verify_identity(Tensor((A, W)) @ Tensor((B, V)), Tensor((A @ B, W @ V))).status
'PROVED'
>>> v = verify_identity(Tensor((A, W)) @ Tensor((B, V)), Tensor((B @ A, W @ V)))
>>> v.status, v.counterexample.dims
('REFUTED', {'d_head': 1, 'd_model': 1, 'n_ctx': 2})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field as dataclass_field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..algebra.definitions import expand_definitions
from ..algebra.evaluate import evaluate_with
from ..errors import ShapeError, TensoralgError
from ..algebra.exact import (
    RATIONALS,
    Field,
    SingularValueError,
    first_difference,
    invertible_symbols,
    matrix_text,
    faithful_prime_field,
    random_instance,
)
from ..algebra.expr import Atom, Expr, Scaled, canonical_tree, children, format_shape, spaces_in, symbols_in
from ..algebra.expr import depth
from ..algebra.normal_form import NormalForm
from ..algebra.printing import to_unicode
from ..algebra.size_bounds import size_bound
from ..algebra.scalars import key_degree, letter_degree
from ..algebra.symbols import space_size
from ..formula.syntax import nesting_room

STATUSES = ("PROVED", "REFUTED", "HOLDS", "UNDECIDED", "ERROR")

#: Statements longer than this are printed on their own lines, not in the one-line summary.
SUMMARY_WIDTH = 100

#: Largest size tried for every space, by number of tensor factors: tensor terms
#: are evaluated as dense Kronecker products, whose size grows like n^(2·factors).
SIZE_CAP = {1: 12, 2: 8, 3: 5}
#: Random ℚ instances tried to turn a GF(p) difference into a readable one.
RATIONAL_ATTEMPTS = 200


@dataclass(frozen=True)
class Counterexample:
    """Where and how an identity fails, enough to reproduce it.

    ``entry`` is (i₁, j₁, i₂, j₂, …): row and column in each tensor factor (a plain
    matrix has (i, j)). The instance is ``tensoralg.algebra.exact.random_instance(symbols,
    dims, seed, field)`` for exact fields, or the draw ``sides(default_rng(seed))``
    of a numeric check; ``values`` lists it (symbol, rows) when it is small.
    """

    dims: Mapping[str, int]
    seed: int
    field: str
    entry: tuple[int, ...]
    lhs_value: str
    rhs_value: str
    note: str = ""
    values: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()

    def entry_text(self) -> str:
        pairs = [f"[{self.entry[k]},{self.entry[k + 1]}]" for k in range(0, len(self.entry) - 1, 2)]
        if len(self.entry) % 2:
            pairs.append(f"[{self.entry[-1]}]")
        return "⊗".join(pairs) if pairs else "[]"

    def describe(self) -> str:
        """One or two lines: the sizes, field and seed, the entry and both values."""
        sizes = ", ".join(f"{k}={v}" for k, v in sorted(self.dims.items())) or "scalars"
        text = (
            f"{sizes} over {self.field}, seed {self.seed}: entry {self.entry_text()} "
            f"has LHS = {self.lhs_value}, RHS = {self.rhs_value}"
        )
        return text + (f"\n{self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "dims": dict(sorted(self.dims.items())),
            "seed": self.seed,
            "field": self.field,
            "entry": list(self.entry),
            "lhs_value": self.lhs_value,
            "rhs_value": self.rhs_value,
            "note": self.note,
            "values": {name: [list(row) for row in rows] for name, rows in self.values},
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: status, method, statement, a human-readable detail."""

    status: str
    method: str
    statement: str
    detail: str
    counterexample: Counterexample | None = None
    error_bound: float | None = None
    seconds: float = 0.0
    kind: str = "identity"  # or "rank" (rank(E) <= k, see tensoralg.verify.statements)
    #: The two sides as expressions, when the verdict is on an identity (for typeset display).
    sides: tuple[Expr, Expr] | None = dataclass_field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def ok(self) -> bool:
        """True for PROVED and HOLDS."""
        return self.status in ("PROVED", "HOLDS")

    @property
    def exit_code(self) -> int:
        """The command line's exit code: 0 proved or holds, 1 refuted, 2 bad input, 3 not decided."""
        return 0 if self.ok else {"REFUTED": 1, "UNDECIDED": 3}.get(self.status, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "ok": self.ok,
            "method": self.method,
            "statement": self.statement,
            "detail": self.detail,
            "counterexample": None if self.counterexample is None else self.counterexample.to_json(),
            "error_bound": self.error_bound,
            "seconds": round(self.seconds, 6),
        }

    def describe(self) -> str:
        """The verdict as a few lines of text, as the command line prints it."""
        head = f"{self.status} ({self.method}, {self.seconds:.3f} s)"
        if len(self.statement) <= SUMMARY_WIDTH and "\n" not in self.statement:
            lines = [f"{head}: {self.statement}"]
        else:
            lines = [f"{head}:", *_wrap_statement(self.statement)]
        lines.append("  " + self.detail.replace("\n", "\n  "))
        if self.counterexample is not None:
            lines += ["  counterexample: " + self.counterexample.describe().replace("\n", "\n  ")]
            for name, rows in self.counterexample.values:
                lines.append(f"    {name} = [" + "; ".join(" ".join(r) for r in rows) + "]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A card for Jupyter: the statement typeset, the verdict, the detail and the counterexample."""
        from .cards import verdict_html

        return verdict_html(self)

    def _repr_markdown_(self) -> str:
        from .cards import verdict_markdown

        return verdict_markdown(self)


def _wrap_statement(statement: str) -> list[str]:
    """A long statement on its own lines: one line per side of = (and of ≤), indented."""
    sides = [part.strip() for part in statement.replace(" == ", " = ").split(" = ")]
    return ["    " + (sides[0] if k == 0 else "= " + side) for k, side in enumerate(sides)]


def _error(statement: str, exc: Exception, start: float, method: str = "symbolic") -> Verdict:
    return Verdict("ERROR", method, statement, str(exc), seconds=time.perf_counter() - start)


def _statement(lhs: Expr, rhs: Expr) -> str:
    return f"{to_unicode(lhs)} = {to_unicode(rhs)}"


#: Terms of a difference printed in a verdict unless ``full`` (the rest are counted, never dropped silently).
DIFF_TERMS = 12


def _term_text(nf: NormalForm, limit: int | None = DIFF_TERMS) -> str:
    """The terms of ``nf`` in canonical order; past ``limit`` (None: no limit), how many more there are."""
    from ..algebra.normal_form import collect_like_terms

    if limit is None or len(nf) <= limit:
        return to_unicode(canonical_tree(nf))
    head = collect_like_terms(nf.shape, nf.sorted_terms[:limit], nf.variables)
    more = len(nf) - limit
    return to_unicode(canonical_tree(head)) + f" + … and {more} more term(s) (--full prints every term)"


def _min_degree(nf: NormalForm) -> int:
    return min((key_degree(key) for key in nf.terms), default=0)


def _degree_bound(nf: NormalForm, dims: Mapping[str, int]) -> int:
    """The degree, in the random entries, of every entry of nf's value.

    X⁻¹ = adj(X)/det(X): clearing denominators by det(X)^m (m the most inverses of X
    in one term) adds at most m·n_X to the degree of each term.
    """
    plain, inverses = 0, {}
    for key in nf.terms:
        counts: dict[Any, int] = {}
        n_plain = 0
        for word in key:
            for letter in word:
                if letter.inverse:
                    counts[letter.symbol] = counts.get(letter.symbol, 0) + 1
                else:
                    n_plain += letter_degree(letter)
        plain = max(plain, n_plain)
        for symbol, m in counts.items():
            inverses[symbol] = max(inverses.get(symbol, 0), m)
    return plain + sum(m * dims[s.rows] for s, m in inverses.items())


def _coefficients(*exprs: Expr) -> list:
    """Every rational number the exact evaluation of ``exprs`` meets: the scalars of the trees
    and the coefficients of every sub-expression's normal form (inverses, bilinear forms and
    actions are evaluated through those)."""
    found: list = []
    seen: set[int] = set()
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Scaled):
            found.append(node.coefficient)
        found.extend(node.normal_form.terms.values())
        stack.extend(children(node))
    return found


@dataclass(frozen=True)
class _Search:
    """The sides of one identity, ready for exact evaluation over ``field`` (a faithful GF(p))."""

    lhs: Expr
    rhs: Expr
    symbols: frozenset
    invertible: frozenset
    spaces: tuple[str, ...]  # the spaces whose sizes the search chooses
    fixed: Mapping[str, int]  # spaces named by a size (1 for scalars, 3 in "P: 3 x 3")
    field: Field

    def differs(self, dims: Mapping[str, int], seed: int, field: Field) -> tuple | None:
        dims = {**dims, **self.fixed}
        try:
            values = random_instance(self.symbols, dims, seed, field, self.invertible)
            # The sides are unfolded already (verify_identity), so the walk runs on them directly.
            left = evaluate_with(self.lhs, values, dims, field)
            right = evaluate_with(self.rhs, values, dims, field)
        except SingularValueError:
            return None
        found = first_difference(left, right, self.lhs.shape, dims, field)
        return None if found is None else (found, values)

    def fails(self, dims: Mapping[str, int], seeds: Sequence[int]) -> tuple | None:
        for seed in seeds:
            found = self.differs(dims, seed, self.field)
            if found is not None:
                return seed, found
        return None


def _shrink(search: _Search, dims: dict[str, int], seeds: Sequence[int]) -> dict[str, int]:
    """Greedily make each space as small as possible while the sides still differ."""
    changed = True
    while changed:
        changed = False
        for space in search.spaces:
            for smaller in range(1, dims[space]):
                trial = {**dims, space: smaller}
                if search.fails(trial, seeds) is not None:
                    dims, changed = trial, True
                    break
    return dims


def _counterexample(search: _Search, dims: dict[str, int], seed: int, seeds: Sequence[int]) -> Counterexample:
    """A readable counterexample over ℚ at ``dims``, else the GF(p) one."""
    found = None
    for s in range(seed, seed + RATIONAL_ATTEMPTS):
        found = search.differs(dims, s, RATIONALS)
        if found is not None:
            field_, used = RATIONALS, s
            break
    if found is None:
        used, found = search.fails(dims, seeds)
        field_ = search.field
    (entry, lhs_value, rhs_value), values = found
    small = sum(v.nrows() * v.ncols() for v in values.values()) <= 64
    listed = tuple((to_unicode(Atom(s)), matrix_text(v, field_)) for s, v in sorted(values.items())) if small else ()
    names = ", ".join(to_unicode(Atom(s)) for s in sorted(values))
    inverted = ", ".join(to_unicode(Atom(s)) for s in sorted(search.invertible))
    note = (
        f"instance: tensoralg.algebra.exact.random_instance([{names}], dims, seed={used}, "
        f"field=field_named({field_.name!r})" + (f", invertible=[{inverted}])" if inverted else ")")
    )
    return Counterexample(dict(sorted(dims.items())), used, field_.name, entry, lhs_value, rhs_value, note, listed)


def verify_identity(
    lhs: Expr, rhs: Expr, *, seed: int = 0, trials: int = 3, expand: bool = True, full: bool = False
) -> Verdict:
    """PROVED, REFUTED, HOLDS, UNDECIDED or ERROR for lhs = rhs (see the module docstring).

    ``expand`` unfolds the definitions W_OV = W_O W_V and W_QK = W_Qᵀ W_K before
    comparing normal forms; exact evaluation always uses them. ``seed`` fixes the
    random instances, ``trials`` is the number of instances per size; ``full`` prints every
    term of the difference left − right (else the first :data:`DIFF_TERMS` and a count).

    Sums over heads of unknown number (CLAIMS C27): agreeing normal forms prove the identity
    for every number of heads; differing ones are refuted at the smallest head counts where
    the concrete sides differ (:func:`tensoralg.verify.statements.refute_for_head_counts`).

    >>> from tensoralg.algebra.expr import atom
    >>> from tensoralg.algebra.symbols import standard_symbol as s
    >>> verify_identity(atom(s("W_OV", 0)), atom(s("W_O", 0)) @ atom(s("W_V", 0))).status
    'PROVED'
    >>> verify_identity(atom(s("W_OV", 0)), atom(s("W_O", 0)) @ atom(s("W_V", 0)), expand=False).status
    'HOLDS'
    """
    with nesting_room(max(depth(lhs), depth(rhs))):
        return replace(_verify_identity(lhs, rhs, seed, trials, expand, full), sides=(lhs, rhs))


def _verify_identity(lhs: Expr, rhs: Expr, seed: int, trials: int, expand: bool, full: bool) -> Verdict:
    start = time.perf_counter()
    statement = _statement(lhs, rhs)
    try:
        if lhs.shape != rhs.shape:
            raise ShapeError(f"the sides have different shapes: {format_shape(lhs.shape)} and {format_shape(rhs.shape)}")
        if trials < 1:
            raise TensoralgError(f"trials must be at least 1; got {trials}")
        if seed < 0:
            raise TensoralgError(f"the seed must be a non-negative integer; got {seed}")
        # Exact evaluation always unfolds the definitions; the symbolic comparison only with ``expand``.
        exp_l, exp_r = expand_definitions(lhs), expand_definitions(rhs)
        left, right = (exp_l, exp_r) if expand else (lhs, rhs)
        nl, nr = left.normal_form, right.normal_form
    except TensoralgError as exc:
        return _error(statement, exc, start)
    # expand_definitions rebuilds every tree; the symbols tell whether a definition was unfolded.
    changed = expand and symbols_in(left) | symbols_in(right) != symbols_in(lhs) | symbols_in(rhs)
    unfolded = " (W_OV, W_QK unfolded)" if changed else ""
    every = " for every number of heads" if nl.variables or nr.variables else ""
    if nl == nr:
        return Verdict(
            "PROVED", "symbolic", statement,
            f"normal forms agree{unfolded}{every}: {len(nl)} term(s) of degree ≤ {nl.degree}",
            seconds=time.perf_counter() - start,
        )
    try:
        # The difference as the user wrote it (definitions folded), unfolded only if that is what differs.
        folded = lhs.normal_form.difference(rhs.normal_form)
        shown = folded if folded.terms else nl.difference(nr)
        difference = f"left − right = {_term_text(shown, None if full else DIFF_TERMS)}"
        if every and exp_l.normal_form == exp_r.normal_form:  # differ only as written (--no-expand)
            return Verdict(
                "HOLDS", "exact", statement,
                f"{difference} as written, but they agree{every} once W_OV = W_O W_V and W_QK = W_Qᵀ W_K "
                "are unfolded (exact evaluation always unfolds them)",
                error_bound=0.0, seconds=time.perf_counter() - start,
            )
        if every:
            from .statements import refute_for_head_counts

            return refute_for_head_counts(lhs, rhs, nl.difference(nr), difference, statement, seed, trials, start)
        return _evaluate(exp_l, exp_r, nl.difference(nr), statement, seed, trials, start, difference)
    except TensoralgError as exc:
        return _error(statement, exc, start, "exact")


def _evaluate(
    exp_l: Expr, exp_r: Expr, diff: NormalForm, statement: str, seed: int, trials: int, start: float,
    differing: str,
) -> Verdict:
    """Exact search on the sides with definitions unfolded; ``diff`` is the difference as compared,
    ``differing`` its text for the verdict."""
    exp_diff = exp_l.normal_form.difference(exp_r.normal_form)
    if not exp_diff.terms:
        return Verdict(
            "HOLDS", "exact", statement,
            f"{differing} as written, but they agree once W_OV = W_O W_V and W_QK = W_Qᵀ W_K are "
            "unfolded (exact evaluation always unfolds them)",
            error_bound=0.0, seconds=time.perf_counter() - start,
        )
    # A prime that divides none of the numbers the evaluation meets: every coefficient has a
    # value mod p, and the difference's nonzero coefficients stay nonzero (see the module doc).
    field = faithful_prime_field([*_coefficients(exp_l, exp_r), *exp_diff.terms.values()])
    search = _Search(
        exp_l,
        exp_r,
        symbols_in(exp_l) | symbols_in(exp_r),
        invertible_symbols(exp_l) | invertible_symbols(exp_r),
        tuple(sorted(s for s in spaces_in(exp_l) | spaces_in(exp_r) if space_size(s) is None)),
        {s: space_size(s) for s in spaces_in(exp_l) | spaces_in(exp_r) if space_size(s) is not None},
        field,
    )
    seeds = range(seed, seed + trials)
    # The size bound is about the polynomial the search evaluates: the unfolded difference.
    sizes = size_bound(exp_diff)
    need = sizes.size if sizes.proven else _min_degree(exp_diff) + 1
    top = max(1, min(SIZE_CAP.get(len(exp_l.shape), 4), need))
    for n in range(1, top + 1):
        dims = {space: n for space in search.spaces}
        hit = search.fails(dims, seeds)
        if hit is not None:
            dims = _shrink(search, dims, seeds)
            cx = _counterexample(search, dims, hit[0], seeds)
            return Verdict(
                "REFUTED", "exact", statement, differing + "; exact evaluation finds a counterexample",
                counterexample=cx, seconds=time.perf_counter() - start,
            )
    dims = {space: top for space in search.spaces}
    degree = _degree_bound(exp_diff, dims)
    guard = sum(dims[s.rows] for s in search.invertible)
    p = float(field.modulus)
    per_trial = min(1.0, (degree / p) / (1 - guard / p))
    bound = per_trial**trials
    agree = f"{trials} random instance(s) over {field.name} agree at every size 1…{top}"
    if not sizes.proven or need > top:
        why = (
            f"with inverses no size bound is proven for this difference ({sizes.method}), so agreement at "
            f"sizes 1…{top} does not rule out a larger counterexample"
            if not sizes.proven
            else f"the sides differ once the spaces have size {need}, above the search's cap {top} "
            f"(dense values of {len(exp_l.shape)} tensor factor(s))"
        )
        return Verdict(
            "UNDECIDED", "exact", statement, f"not decided: {differing}; {agree}; {why}",
            seconds=time.perf_counter() - start,
        )
    return Verdict(
        "UNDECIDED", "exact", statement,
        f"not decided: {differing}, so the sides differ at size {top}, yet {agree}. The modulus divides "
        f"no coefficient, so the difference is a nonzero polynomial of degree ≤ {degree} there, and a "
        f"trial misses it with probability ≤ {degree}/p (Schwartz–Zippel), all {trials} with ≤ "
        f"{bound:.3g}: rerun with another --seed",
        error_bound=bound, seconds=time.perf_counter() - start,
    )


def verify_numeric(
    statement: str,
    sides: Callable[[np.random.Generator], tuple],
    *,
    seed: int = 0,
    trials: int = 5,
    rtol: float = 1e-9,
) -> Verdict:
    """HOLDS when ``sides(rng)`` returns equal arrays for every trial, else REFUTED.

    Trial k draws with ``numpy.random.default_rng(seed + k)``. Two arrays L, R agree
    when max|L − R| ≤ rtol · scale, where scale is the largest magnitude of L and R,
    or a third value returned by ``sides`` (the magnitude of the terms that were
    summed, for sides that are small differences of large terms): float64 rounding
    is ~1e-16 of that scale, far below rtol, so it never yields a false REFUTED.

    >>> verify_numeric("exp(a+b) = exp(a)exp(b)", lambda r: (lambda a, b: (np.exp(a + b), np.exp(a) * np.exp(b)))(*r.normal(size=(2, 3)))).status
    'HOLDS'
    >>> v = verify_numeric("sin = cos", lambda r: (lambda a: (np.sin(a), np.cos(a)))(r.normal(size=4)), seed=3)
    >>> v.status, v.counterexample.seed, v.counterexample.entry
    ('REFUTED', 3, (3,))
    """
    start = time.perf_counter()
    worst = 0.0
    for k in range(trials):
        trial_seed = seed + k
        try:
            out = sides(np.random.default_rng(trial_seed))
            left, right = np.asarray(out[0], dtype=np.float64), np.asarray(out[1], dtype=np.float64)
            if left.shape != right.shape:
                raise ShapeError(f"the sides have shapes {left.shape} and {right.shape} (seed {trial_seed})")
            if not (np.all(np.isfinite(left)) and np.all(np.isfinite(right))):
                raise TensoralgError(f"non-finite values in the sides (seed {trial_seed})")
        except TensoralgError as exc:
            return _error(statement, exc, start, "numeric")
        magnitude = max(float(np.max(np.abs(left), initial=0.0)), float(np.max(np.abs(right), initial=0.0)))
        scale = max(magnitude, float(out[2]) if len(out) > 2 else 0.0)
        gap = np.abs(left - right)
        largest = float(np.max(gap, initial=0.0))
        if largest > rtol * scale:
            where = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
            cx = Counterexample(
                {f"axis{i}": n for i, n in enumerate(left.shape)}, trial_seed, "float64", where,
                repr(float(left[where])), repr(float(right[where])),
                f"rerun: sides(numpy.random.default_rng({trial_seed})); |LHS − RHS| = {largest:.3g} "
                f"> {rtol:g} × scale {scale:.3g}",
            )
            return Verdict(
                "REFUTED", "numeric", statement, f"trial {k + 1} of {trials} disagrees",
                counterexample=cx, seconds=time.perf_counter() - start,
            )
        worst = max(worst, largest / scale if scale else 0.0)
    return Verdict(
        "HOLDS", "numeric", statement,
        f"{trials} random draw(s) agree in float64 (seeds {seed}…{seed + trials - 1}); largest "
        f"relative deviation {worst:.2g} ≤ {rtol:g}",
        seconds=time.perf_counter() - start,
    )


def check_formula(
    text: str,
    *,
    declarations: Sequence[str] = (),
    heads: Sequence[int] | None = None,
    seed: int = 0,
    trials: int = 3,
    expand: bool = True,
    full: bool = False,
) -> Verdict:
    """The verdict on a typed identity "LHS == RHS" (see :mod:`tensoralg.formula.parsing`), or on a
    rank statement "rank(E) <= k" (:mod:`tensoralg.verify.statements`).

    Parse and shape errors become an ERROR verdict carrying the message. A refuted identity
    that holds with every index lowered by one carries a hint about 0-based indices.

    >>> check_formula("(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ").status
    'PROVED'
    >>> check_formula("M N == N M", declarations=["M, N: d_model x d_model"]).status
    'REFUTED'
    >>> print(check_formula("W_U W_E +").detail)
    expected a symbol, a number, '(' or Σ, found the end of the formula (column 10)
      W_U W_E +
               ^
    """
    from ..formula.parsing import Context, parse_equation
    from .statements import check_rank, is_rank_statement, shifted_hint

    start = time.perf_counter()
    try:
        context = Context.build(declarations, heads)
        if is_rank_statement(text):
            return check_rank(text, context, seed=seed)
        lhs, rhs = parse_equation(text, context)
    except TensoralgError as exc:
        return shifted_hint(text, _error(text, exc, start), declarations, heads, seed, trials, expand)
    verdict = verify_identity(lhs, rhs, seed=seed, trials=trials, expand=expand, full=full)
    verdict = shifted_hint(text, verdict, declarations, heads, seed, trials, expand)
    return replace(verdict, statement=text.strip(), seconds=time.perf_counter() - start)
