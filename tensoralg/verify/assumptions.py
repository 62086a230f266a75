"""Verdicts under assumptions: PROVED with a certificate, REFUTED by an instance that satisfies
every assumption, or UNDECIDED ("not decided").

:func:`verify_under` decides L = R given relations ℓᵢ = rᵢ and properties of symbols:

1. The free algebra first: equal normal forms are PROVED for all matrices (no assumption used).
2. Proof modulo the relations: the relations and their transposes (r = 0 ⇒ rᵀ = 0), with
   X X⁻¹ = Id for inverted symbols, are completed into a Gröbner basis of their two-sided
   ideal (:mod:`tensoralg.algebra.completion`, deg-lex, capped). If L − R reduces to 0 the
   reduction is a certificate L − R = Σ cᵢ uᵢ (ℓᵢ − rᵢ) vᵢ, re-verified by the independent
   checker (:mod:`tensoralg.algebra.certificate`); only then is the verdict PROVED.
   Completion stopped by a cap decides nothing: the verdict is then never PROVED.
3. Refutation: instances over ℚ drawn from families that satisfy the assumptions (patterns,
   projectors, rotations …; :mod:`tensoralg.verify.sampling`), at per-space sizes in
   order of total size; every assumption is checked exactly on each instance before it
   may serve, so a counterexample satisfies all of them. The verdict names the families.
4. Otherwise UNDECIDED: the number of agreeing instances is reported, with no error bound
   claimed (the families are not Zariski-dense in every case, e.g. nonnegativity).

Properties (causal, nonnegative, stochastic, pattern) are closed under products; a
statement ``pattern E`` is PROVED by the typed rules of :mod:`tensoralg.algebra.properties`
or refuted by an instance. Every standard A^{l,h} is an attention pattern by default:
it carries ``pattern``, hence A𝟙 = 𝟙, and the verdict lists it.

>>> v = check_assuming("A^{1,0} A^{0,0} 𝟙 == 𝟙")
>>> v.status, len(v.certificate), v.certificate_ok
('PROVED', 2, True)
>>> check_assuming("A^{1,0} A^{0,0} 𝟙 == 𝟙", defaults=False).status
'REFUTED'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

from ..algebra.certificate import SCALAR_LAW, Certificate, Relation, Term, check_certificate
from ..algebra.completion import Caps, Completion, complete, reduce
from ..algebra.definitions import expand_definitions
from ..algebra.evaluate import evaluate_with
from ..algebra.exact import RATIONALS, SingularValueError, first_difference, invertible_symbols
from ..algebra.expr import Expr, IndexedSum, Trace, atom, children, format_shape, spaces_in, symbols_in
from ..algebra.normal_form import NormalForm
from ..algebra.printing import to_unicode
from ..algebra.properties import PATTERN, PROPERTIES, STOCHASTIC, prove_property
from ..algebra.relations import Poly, from_normal_form, transpose_poly
from ..algebra.scalar_commutation import canonical_word, meets_unit
from ..algebra.symbols import ONES, UNIT, Letter, Symbol, ones_symbol
from ..errors import ShapeError, TensoralgError
from ..formula.assumptions import Assumptions, parse_assumptions, property_statement
from ..formula.parsing import Context, parse, parse_equation
from .sampling import Search, counterexample, definitions_of, kinds_of, not_refuted, property_defect
from .statements import is_rank_statement, shifted_hint
from .verification import Verdict, check_formula, verify_identity

UNDECIDED = "UNDECIDED"


@dataclass(frozen=True)
class AssumedVerdict(Verdict):
    """A verdict under assumptions: also the assumptions used, the certificate and the completion."""

    assumptions: tuple[str, ...] = ()
    certificate: Certificate | None = None
    certificate_ok: bool | None = None
    completion: Mapping[str, Any] | None = None
    sampled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status != UNDECIDED:
            super().__post_init__()

    @property
    def exit_code(self) -> int:
        """0 proved or holds, 1 refuted, 2 bad input, 3 not decided."""
        return 3 if self.status == UNDECIDED else super().exit_code

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.update({
            "assumptions": list(self.assumptions),
            "certificate": None if self.certificate is None else {
                **self.certificate.to_json(), "size": len(self.certificate), "checked": self.certificate_ok},
            "completion": None if self.completion is None else dict(self.completion),
            "sampled": list(self.sampled),
        })
        return data

    def describe(self) -> str:
        lines = [super().describe()]
        if self.assumptions:
            lines.append("  assuming: " + "; ".join(self.assumptions))
        if self.certificate is not None:
            verdict = "accepted" if self.certificate_ok else "REJECTED"
            lines.append(f"  certificate ({len(self.certificate)} term(s), checker: {verdict}): "
                         f"L − R = {self.certificate.describe()}")
        if self.sampled:
            lines.append("  sampled: " + "; ".join(self.sampled))
        return "\n".join(lines)


# -- assumptions: explicit, default, and what they say about each symbol


def _is_pattern_symbol(symbol: Symbol) -> bool:
    return symbol.name == "A" and len(symbol.indices) in (1, 2) and symbol.rows == symbol.cols == "n_ctx"


def with_defaults(assumptions: Assumptions, symbols: Iterable[Symbol]) -> tuple[Assumptions, frozenset[Symbol]]:
    """Every standard A^{l,h} among ``symbols`` is a pattern (unless something is assumed of it);
    also returns the symbols that got the default."""
    defaulted = frozenset(s for s in symbols if _is_pattern_symbol(s) and s not in assumptions.properties)
    properties = {**assumptions.properties, **{s: PATTERN for s in defaulted}}
    return replace(assumptions, properties=properties), defaulted


def _implied_relations(assumptions: Assumptions, spaces: set[str]) -> tuple[Relation, ...]:
    """A stochastic X (rows over a space where 𝟙 occurs) satisfies X𝟙 = 𝟙."""
    out = []
    for symbol, props in sorted(assumptions.properties.items()):
        if STOCHASTIC in props and symbol.cols in spaces:
            X, one_c, one_r = atom(symbol), atom(ones_symbol(symbol.cols)), atom(ones_symbol(symbol.rows))
            out.append(Relation(X @ one_c, one_r, f"{to_unicode(X)} 𝟙 = 𝟙 (from stochastic {to_unicode(X)})"))
    return tuple(out)


# -- proof modulo relations


@dataclass(frozen=True)
class _Inputs:
    """The completion's input polynomials and, for each, what it stands for in a certificate."""

    polys: tuple[Poly, ...]
    origins: tuple[tuple[int, bool, tuple[Letter, ...]], ...]  # (relation index or -1, transposed, cancel word)


def _inputs(relations: Sequence[Relation], inverted: Iterable[Symbol]) -> _Inputs:
    """Each relation and its transpose, and X X⁻¹ = X⁻¹ X = Id (and transposed) for inverted X."""
    polys, origins = [], []
    for i, r in enumerate(relations):
        p = from_normal_form(expand_definitions(r.lhs - r.rhs).normal_form)
        if not p:
            continue
        polys += [p, transpose_poly(p)]
        origins += [(i, False, ()), (i, True, ())]
    for X in sorted(set(inverted)):
        for t in (False, True):
            x, xi = Letter(X, t, False), Letter(X, t, True)
            for word in ((x, xi), (xi, x)):
                polys.append(Poly(word[0].rows, word[-1].cols, {word: Fraction(1), (): Fraction(-1)}))
                origins.append((-1, False, word))
    return _Inputs(tuple(polys), tuple(origins))


def _inverted(exprs: Iterable[Expr]) -> set[Symbol]:
    """Symbols written under an inverse (R⁻¹R normalises to Id, so the trees are read, not the normal forms)."""
    return set().union(*(invertible_symbols(e) for e in exprs))


def _term(inputs: _Inputs, key: tuple, c: Fraction, slot: int = 0, context=()) -> Term:
    u, i, v = key
    relation, transposed, cancel = inputs.origins[i]
    return Term(c, u, relation, transposed, v, slot, context, cancel)


def prove_modulo(diff: NormalForm, completion: Completion, inputs: _Inputs) -> tuple[NormalForm, list[Term]]:
    """(remainder, certificate terms): diff = remainder + Σ terms, each tensor factor reduced in turn."""
    current: dict[tuple, Fraction] = dict(diff.terms)
    terms: list[Term] = []
    index = completion.rules
    for slot, (rows, cols) in enumerate(diff.shape):
        reduced: dict[tuple, Fraction] = {}
        for key, c in current.items():
            rest, cert = reduce(Poly(rows, cols, {key[slot]: Fraction(1)}), index)
            for w, d in rest.terms.items():
                k2 = key[:slot] + (w,) + key[slot + 1 :]
                reduced[k2] = reduced.get(k2, Fraction(0)) + c * d
            context = tuple((w, r) for w, (r, _) in zip(key, diff.shape)) if len(diff.shape) > 1 else ()
            for ck, d in cert.items():
                terms.append(_term(inputs, ck, c * d, slot, context))
        current = {k: c for k, c in reduced.items() if c}
    return NormalForm(diff.shape, current), _merge(terms)


def _scalar_step(rest: NormalForm) -> tuple[NormalForm, list[Term]]:
    """rest = canonical + Σ c·(w − w'), each word replaced by its canonical word under the laws
    of 1 × 1 words (:mod:`tensoralg.algebra.scalars`), factor by factor."""
    current: dict[tuple, Fraction] = dict(rest.terms)
    terms: list[Term] = []
    for slot, (rows, _) in enumerate(rest.shape):
        moved: dict[tuple, Fraction] = {}
        for key, c in current.items():
            w = key[slot]
            w2 = canonical_word(w, rows)
            if w2 != w:
                context = tuple((x, r) for x, (r, _) in zip(key, rest.shape)) if len(rest.shape) > 1 else ()
                terms.append(Term(c, (), SCALAR_LAW, False, (), slot, context, equal=(w, w2, rows)))
            k2 = key[:slot] + (w2,) + key[slot + 1 :]
            moved[k2] = moved.get(k2, Fraction(0)) + c
        current = {k: c for k, c in moved.items() if c}
    return NormalForm(rest.shape, current), terms


def prove(diff: NormalForm, completion: Completion, inputs: _Inputs, rounds: int = 4) -> tuple[NormalForm, list[Term]]:
    """Reduce modulo the rules, then by the laws of scalars, alternately (a few rounds):
    (remainder, certificate terms) with diff = remainder + Σ terms."""
    rest, terms = prove_modulo(diff, completion, inputs)
    for _ in range(rounds):
        if not rest.terms or not meets_unit(rest):
            break
        canonical, moved = _scalar_step(rest)
        if not moved:
            break
        rest, more = prove_modulo(canonical, completion, inputs)
        terms = terms + moved + more
    return rest, _merge(terms)


def _merge(terms: list[Term]) -> list[Term]:
    acc: dict[tuple, Fraction] = {}
    for t in terms:
        key = replace(t, coefficient=0)
        acc[key] = acc.get(key, Fraction(0)) + Fraction(t.coefficient)
    return [replace(k, coefficient=c) for k, c in acc.items() if c]


# -- entry points


def _setup(exprs: Sequence[Expr], assumptions: Assumptions, defaults: bool):
    symbols = set().union(*(symbols_in(e) for e in exprs))
    rel_symbols = {s for r in assumptions.relations for s in symbols_in(r.lhs) | symbols_in(r.rhs)}
    defaulted: frozenset[Symbol] = frozenset()
    if defaults:
        assumptions, defaulted = with_defaults(assumptions, symbols | rel_symbols)
    spaces = {s for e in exprs for s in spaces_in(e)} | {s for r in assumptions.relations for s in spaces_in(r.lhs)}
    given = {(r.lhs - r.rhs).normal_form for r in assumptions.relations}
    implied = _implied_relations(assumptions, {s.rows for s in symbols | rel_symbols if s.name == ONES} & spaces)
    relations = assumptions.relations + tuple(r for r in implied if (r.lhs - r.rhs).normal_form not in given)
    shown = tuple(r.text for r in relations) + tuple(
        f"{' '.join(p for p in PROPERTIES if p in props)} {to_unicode(atom(s))}"
        for s, props in sorted(assumptions.properties.items()) if s not in defaulted) + tuple(
        f"pattern {to_unicode(atom(s))} (default: every A^{{l,h}} is an attention pattern)" for s in sorted(defaulted))
    unfolded = [expand_definitions(e) for e in exprs] + [expand_definitions(x) for r in relations for x in (r.lhs, r.rhs)]
    all_symbols = tuple(sorted(set().union(*(symbols_in(e) for e in unfolded))))
    search_spaces = sorted({s for e in unfolded for s in spaces_in(e)} - {UNIT})
    return assumptions, relations, shown, all_symbols, search_spaces


def _search(symbols, relations, assumptions: Assumptions, seed: int, trials: int) -> Search:
    kinds = kinds_of(relations, assumptions.properties)
    return Search(symbols, relations, assumptions.properties, kinds, seed, trials, definitions_of(relations, kinds))


def verify_under(
    lhs: Expr,
    rhs: Expr,
    assumptions: Assumptions = Assumptions(),
    *,
    defaults: bool = True,
    caps: Caps = Caps(),
    seed: int = 0,
    trials: int = 3,
    statement: str | None = None,
) -> AssumedVerdict:
    """PROVED (with a checked certificate), REFUTED (by an instance satisfying every assumption),
    UNDECIDED or ERROR for lhs = rhs under ``assumptions`` (see the module docstring)."""
    start = time.perf_counter()
    statement = statement or f"{to_unicode(lhs)} = {to_unicode(rhs)}"
    elapsed = lambda: time.perf_counter() - start  # noqa: E731
    try:
        if lhs.shape != rhs.shape:
            raise ShapeError(f"the sides have different shapes: {format_shape(lhs.shape)} and {format_shape(rhs.shape)}")
        assumptions, relations, shown, symbols, spaces = _setup((lhs, rhs), assumptions, defaults)
        left, right = expand_definitions(lhs), expand_definitions(rhs)
        diff = left.normal_form.difference(right.normal_form)
    except TensoralgError as exc:
        return AssumedVerdict("ERROR", "symbolic", statement, str(exc), seconds=elapsed())
    if not diff.terms:
        return AssumedVerdict("PROVED", "symbolic", statement,
                              f"normal forms agree in the free algebra ({len(left.normal_form)} term(s)): "
                              "no assumption is needed", assumptions=shown, seconds=elapsed())
    inputs = _inputs(relations, _inverted([left, right] + [x for r in relations for x in (r.lhs, r.rhs)]))
    completion = complete(inputs.polys, caps)
    stats = {**completion.to_json(), "inputs": len(inputs.polys)}
    if completion.complete:
        rest, terms = prove(diff, completion, inputs)
        if not rest.terms:
            certificate = Certificate(relations, tuple(terms))
            check = check_certificate(lhs, rhs, certificate)
            if check.ok:
                return AssumedVerdict(
                    "PROVED", "symbolic", statement,
                    f"proved modulo the assumptions: L − R is a combination of {len(terms)} term(s)"
                    + (f" ({scalar} by the laws of 1 × 1 words: they commute and equal their transposes)"
                       if (scalar := sum(t.relation == SCALAR_LAW for t in terms)) else "")
                    + f"; {check.detail}", assumptions=shown, certificate=certificate, certificate_ok=True,
                    completion=stats, seconds=elapsed())
            return AssumedVerdict(UNDECIDED, "symbolic", statement,
                                  f"not decided: the certificate found failed the independent check ({check.detail})",
                                  assumptions=shown, certificate=certificate, certificate_ok=False,
                                  completion=stats, seconds=elapsed())
        why = (f"L − R does not reduce to 0 modulo the {len(completion.rules)} completed rule(s) (remainder "
               f"{_text(rest)}): it does not follow from the relations alone" if relations else
               f"the normal forms differ by {_text(rest)} and no relation is assumed")
    else:
        why = (f"not decided: completion stopped at its cap ({completion.stopped}, {completion.steps} "
               f"S-polynomial(s), {len(completion.rules)} rule(s)), so no reduction is trusted")
        if not prove(diff, completion, inputs)[0].terms:
            why += " (the rules reached so far do reduce L − R to 0; raise --max-steps/--max-rules to let completion finish)"
    search = _search(symbols, relations, assumptions, seed, trials)
    for dims, used, values in search.instances(spaces):
        try:
            lv = evaluate_with(left, values, dims, RATIONALS)
            rv = evaluate_with(right, values, dims, RATIONALS)
        except SingularValueError:
            continue
        found = first_difference(lv, rv, lhs.shape, dims, RATIONALS)
        if found is not None:
            entry, a, b = found
            cx = counterexample(search, dims, used, values, entry, a, b)
            return AssumedVerdict("REFUTED", "exact", statement, why + "; an instance satisfying every assumption "
                                  "differs", counterexample=cx, error_bound=0.0, assumptions=shown,
                                  completion=stats, sampled=search.families(), seconds=elapsed())
    return AssumedVerdict(UNDECIDED, "exact", statement,
                          ("" if why.startswith("not decided") else "not decided: ") + why + "; " + not_refuted(search),
                          assumptions=shown, completion=stats, sampled=search.families(), seconds=elapsed())


def verify_property(
    keyword: str, expr: Expr, assumptions: Assumptions = Assumptions(), *, defaults: bool = True,
    seed: int = 0, trials: int = 3, statement: str | None = None,
) -> AssumedVerdict:
    """``keyword expr`` (causal, nonnegative, stochastic, pattern): PROVED by the product-closed
    property rules, REFUTED by an instance satisfying the assumptions, else UNDECIDED."""
    start = time.perf_counter()
    statement = statement or f"{keyword} {to_unicode(expr)}"
    try:
        assumptions, relations, shown, symbols, spaces = _setup((expr,), assumptions, defaults)
        why = prove_property(keyword, expand_definitions(expr), assumptions.properties)
    except TensoralgError as exc:
        return AssumedVerdict("ERROR", "symbolic", statement, str(exc), seconds=time.perf_counter() - start)
    if why is not None:
        return AssumedVerdict("PROVED", "symbolic", statement, f"closed under products: {why}",
                              assumptions=shown, seconds=time.perf_counter() - start)
    from ..algebra.properties import property_names

    search = _search(symbols, relations, assumptions, seed, trials)
    body = expand_definitions(expr)
    for dims, used, values in search.instances(spaces):
        try:
            value = evaluate_with(body, values, dims, RATIONALS)
        except SingularValueError:
            continue  # an inverse of a matrix singular on this draw: the statement says nothing there
        for prop in PROPERTIES:
            if prop in property_names(keyword):
                defect = property_defect(value, prop)
                if defect is not None:
                    cx = counterexample(search, dims, used, values, *defect)
                    return AssumedVerdict("REFUTED", "exact", statement,
                                          f"the expression is not {prop} on an instance satisfying every assumption",
                                          counterexample=cx, error_bound=0.0, assumptions=shown,
                                          sampled=search.families(), seconds=time.perf_counter() - start)
    return AssumedVerdict(UNDECIDED, "exact", statement,
                          "not decided: the product-closed rules do not apply; " + not_refuted(search),
                          assumptions=shown, sampled=search.families(), seconds=time.perf_counter() - start)


def _text(nf: NormalForm, limit: int = 3) -> str:
    from ..algebra.expr import canonical_tree
    from ..algebra.normal_form import collect_like_terms

    head = collect_like_terms(nf.shape, nf.sorted_terms[:limit])
    more = len(nf) - limit
    return to_unicode(canonical_tree(head)) + (f" + … ({more} more)" if more > 0 else "")


def needs_assumptions(exprs: Iterable[Expr], assumptions: Assumptions, defaults: bool = True) -> bool:
    """Whether a statement must be checked here rather than in the free algebra: assumptions,
    vectors (the space 1 has size 1), 𝟙, or a standard A^{l,h} (a pattern by default)."""
    if assumptions.relations or assumptions.properties:
        return True
    for e in exprs:
        if UNIT in spaces_in(e):
            return True
        if defaults and any(_is_pattern_symbol(s) for s in symbols_in(e)):
            return True
    return False


def _free_algebra_only(exprs: Iterable[Expr]) -> bool:
    """Whether a statement holds nodes the engine under assumptions does not read (traces, sums
    over heads of unknown number): those are decided in the free algebra alone."""
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if isinstance(node, (Trace, IndexedSum)):
            return True
        stack.extend(children(node))
    return False


def _constrained(exprs: Iterable[Expr], assumptions: Assumptions, defaults: bool) -> bool:
    """Whether an instance must satisfy more than the free algebra's random ones do: an explicit
    assumption, 𝟙 (the column of ones), or a standard A^{l,h} that is a pattern by default."""
    if assumptions.relations or assumptions.properties:
        return True
    symbols = set().union(*(symbols_in(e) for e in exprs))
    return any(s.name == ONES or (defaults and _is_pattern_symbol(s)) for s in symbols)


def _refute_heads_under(lhs: Expr, rhs: Expr, plain: Verdict, assumptions: Assumptions, *, defaults: bool,
                        caps: Caps, seed: int, trials: int) -> Verdict | None:
    """A refutation under the assumptions of an identity with sums over heads of unknown number (no
    traces): both sides expanded at the head counts of the free algebra's counterexample and decided
    by :func:`verify_under`; None when that does not refute them."""
    from ..algebra.expr import canonical_tree
    from ..algebra.normal_form import instantiate_heads
    from .statements import _free_heads

    cx = plain.counterexample
    stack: list[Expr] = [lhs, rhs]
    while stack:
        node = stack.pop()
        if isinstance(node, Trace):
            return None
        stack.extend(children(node))
    if cx is None:
        return None
    heads = tuple(n for key, n in cx.dims.items() if key.startswith("|H"))
    if not heads:
        return None
    nl, nr = expand_definitions(lhs).normal_form, expand_definitions(rhs).normal_form
    free = _free_heads(list(nl.terms) + list(nr.terms))
    left = canonical_tree(instantiate_heads(nl, heads, free))
    right = canonical_tree(instantiate_heads(nr, heads, free))
    under = verify_under(left, right, assumptions, defaults=defaults, caps=caps, seed=seed, trials=trials)
    if under.status != "REFUTED" or under.counterexample is None:
        return None
    counts = ", ".join(f"|H{l + 1}| = {n}" for l, n in enumerate(heads))
    dims = {**{f"|H{l + 1}|": n for l, n in enumerate(heads)}, **under.counterexample.dims}
    return replace(under, detail=f"{plain.detail.split('; ')[0]}; with {counts} head(s): {under.detail}",
                   counterexample=replace(under.counterexample, dims=dims))


def verify_step(lhs: Expr, rhs: Expr, assumptions: Assumptions = Assumptions(), *, defaults: bool = True,
                seed: int = 0, trials: int = 3, expand: bool = True, caps: Caps = Caps(),
                full: bool = False) -> Verdict:
    """The free-algebra :func:`tensoralg.verify.verification.verify_identity` first: what holds for
    all matrices holds under any assumption, so its PROVED (and an ERROR) stands. Otherwise, when
    the statement needs them (:func:`needs_assumptions`), :func:`verify_under` decides it modulo
    the assumptions, with counterexamples that satisfy them.

    Statements with traces or sums over heads of unknown number are decided in the free algebra
    only; when assumptions were given explicitly, a free-algebra refutation of such a statement
    does not respect them, so the verdict is UNDECIDED."""
    verdict = _verify_step(lhs, rhs, assumptions, defaults=defaults, seed=seed, trials=trials, expand=expand,
                           caps=caps, full=full)
    if (assumptions.texts and verdict.status == "REFUTED"
            and any(i < 0 for e in (lhs, rhs) for s in symbols_in(e) for i in s.indices)):
        # an assumption is instantiated at the heads the statement names; a head written as a
        # variable is none of them, so the instance need not satisfy what is assumed of it
        verdict = replace(verdict, status=UNDECIDED, counterexample=None, detail=(
            verdict.detail.split("; ")[0] + "; not decided: the assumptions are instantiated at the heads "
            "the statement names, not at a head written as a variable, so no instance found respects them"))
    return verdict


def _verify_step(lhs: Expr, rhs: Expr, assumptions: Assumptions, *, defaults: bool, seed: int, trials: int,
                 expand: bool, caps: Caps, full: bool) -> Verdict:
    plain = verify_identity(lhs, rhs, seed=seed, trials=trials, expand=expand, full=full)
    if plain.status in ("PROVED", "ERROR") or not needs_assumptions((lhs, rhs), assumptions, defaults):
        return plain
    if _free_algebra_only((lhs, rhs)):
        if plain.status == "REFUTED" and _constrained((lhs, rhs), assumptions, defaults):
            # the free algebra's instance is arbitrary: 𝟙 need not be ones, A^{l,h} no pattern
            under = _refute_heads_under(lhs, rhs, plain, assumptions, defaults=defaults, caps=caps,
                                        seed=seed, trials=trials)
            if under is not None:
                return under
            return replace(plain, status=UNDECIDED, counterexample=None, detail=(
                plain.detail + "; the counterexample does not satisfy the assumptions (traces and sums over "
                "heads of unknown number are decided in the free algebra only)"))
        return plain
    under = verify_under(lhs, rhs, assumptions, defaults=defaults, caps=caps, seed=seed, trials=trials)
    if under.status in ("REFUTED", UNDECIDED) and plain.status == "REFUTED":
        # the free algebra's difference (left − right, as written) says what differs; the
        # verdict and its counterexample are the ones under the assumptions
        under = replace(under, detail=f"{plain.detail.split('; ')[0]}; {under.detail}")
    return under


def check_assuming(
    text: str,
    assume: Sequence[str] = (),
    *,
    declarations: Sequence[str] = (),
    heads: Sequence[int] | None = None,
    defaults: bool = True,
    caps: Caps = Caps(),
    seed: int = 0,
    trials: int = 3,
    expand: bool = True,
    full: bool = False,
) -> Verdict:
    """The verdict on a typed statement "L == R" or "pattern E" under the typed assumptions ``assume``;
    a rank statement "rank(E) <= k" is decided by :func:`tensoralg.verify.statements.check_rank`."""
    start = time.perf_counter()
    if is_rank_statement(text):
        return check_formula(text, declarations=declarations, heads=heads, seed=seed, trials=trials,
                             expand=expand, full=full)
    try:
        context = Context.build(declarations, heads)
        prop = property_statement(text)
        exprs = (parse(prop[1], context),) if prop else parse_equation(text, context)
        symbols = set().union(*(symbols_in(e) for e in exprs))
        parsed = parse_assumptions(assume, context, symbols)
    except TensoralgError as exc:
        error = AssumedVerdict("ERROR", "symbolic", text.strip(), str(exc), seconds=time.perf_counter() - start)
        return error if assume else shifted_hint(text, error, declarations, heads, seed, trials, expand)
    if prop:
        verdict = verify_property(prop[0], exprs[0], parsed, defaults=defaults, seed=seed, trials=trials)
    else:
        verdict = verify_step(exprs[0], exprs[1], parsed, defaults=defaults, seed=seed, trials=trials,
                              expand=expand, caps=caps, full=full)
        if not assume:
            verdict = shifted_hint(text, verdict, declarations, heads, seed, trials, expand)
    return replace(verdict, statement=text.strip(), seconds=time.perf_counter() - start)


def write_lean(text: str, verdict: Verdict, path: str, *, declarations: Sequence[str] = (),
               heads: Sequence[int] | None = None) -> str:
    """Write the PROVED identity ``text`` with its certificate (empty for a free-algebra proof)
    as a Lean 4 / mathlib theorem to ``path``; returns the text."""
    from pathlib import Path

    from ..algebra.lean import lean_theorem

    lhs, rhs = parse_equation(text, Context.build(declarations, heads))
    certificate = getattr(verdict, "certificate", None) or Certificate((), ())
    lean = lean_theorem(lhs, rhs, certificate)
    try:
        Path(path).write_text(lean, encoding="utf-8")
    except OSError as exc:
        raise TensoralgError(f"cannot write the Lean file {path}: {exc}") from exc
    return lean
