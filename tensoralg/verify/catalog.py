"""The proofs catalog: claims and how they are checked.

A :class:`Claim` (one per module of :mod:`tensoralg.proofs`) states a result of
CLAIMS.md in Unicode and LaTeX and supplies three functions:

    derive()      the derivations: chains e₀ = e₁ = … = eₙ of expressions, each
                  link proved symbolically by the engine (verify_identity)
    check(ctx)    the checks: identities, exact random instances, numeric checks
                  on random models, hypothesis laws; each must HOLD or be PROVED
    refute(ctx)   the negative controls: nearby false statements that the engine
                  must REFUTE with a counterexample

:func:`run_claim` runs them and records every verdict; a claim passes exactly
when every derivation link is PROVED, every check is ok (PROVED or HOLDS: a check
that is not decided fails) and there is at least one negative control and every
one is refuted with a counterexample. The reports of a run (a text table,
JSON, Markdown and a LaTeX document) are in :mod:`tensoralg.verify.catalog_report`.

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import declared_symbol
>>> A, B = (atom(declared_symbol(n, "p", "p")) for n in "AB")
>>> claim = Claim(
...     "C0", "Transpose of a product", "(AB)ᵀ = BᵀAᵀ", r"(AB)^\\top = B^\\top A^\\top",
...     derive=lambda: [Derivation("transpose", [Step((A @ B).T), Step(B.T @ A.T, "(XY)ᵀ = YᵀXᵀ")])],
...     check=lambda ctx: [ctx.identity("(AB)ᵀ = BᵀAᵀ", (A @ B).T, B.T @ A.T)],
...     refute=lambda ctx: [ctx.identity("(AB)ᵀ = AᵀBᵀ", (A @ B).T, A.T @ B.T)],
... )
>>> result = run_claim(claim, Context(seed=0))
>>> result.passed, result.refuted, result.methods
(True, '1/1', ('symbolic', 'exact'))
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
import zlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..algebra.definitions import substitute
from ..errors import TensoralgError
from ..algebra.expr import Expr
from ..models.model import Model, random_model
from ..algebra.symbols import Symbol
from .verification import Counterexample, Verdict, check_formula, verify_identity, verify_numeric

#: The order in which methods are listed (weakest evidence last).
METHODS = ("symbolic", "exact", "numeric")

_MODULE_NAME = re.compile(r"^c(\d+)([a-z]?)_\w+$")
_CLAIM_ID = re.compile(r"^C(\d+)([a-z]?)$")


class UnknownClaimError(TensoralgError):
    """A claim id that is not in the catalog."""


class CatalogError(TensoralgError):
    """A proof module that does not follow the catalog's conventions."""


@dataclass(frozen=True)
class Step:
    """One link of a derivation: the expression, why it equals the previous one, and givens.

    ``given`` maps symbols to what they stand for (e.g. C := S_A V_A U_B S_B); the
    link is proved after substituting them on both sides, so it holds whenever the
    givens do.
    """

    expr: Expr
    reason: str = ""
    given: Mapping[Symbol, Expr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "given", MappingProxyType(dict(self.given)))

    def unfold(self, expr: Expr) -> Expr:
        """``expr`` with this step's givens substituted."""
        return substitute(expr, self.given.get) if self.given else expr


@dataclass(frozen=True)
class Derivation:
    """A chain e₀ = e₁ = … = eₙ; step k (k ≥ 1) says why e_k equals e_{k−1}."""

    title: str
    steps: Sequence[Step]

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if len(self.steps) < 2:
            raise CatalogError(f"derivation {self.title!r} needs at least two steps; got {len(self.steps)}")


@dataclass(frozen=True)
class Check:
    """One statement the engine checked, its verdict, and measured values worth reporting."""

    description: str
    verdict: Verdict
    report: str = ""


@dataclass(frozen=True)
class Context:
    """Seed and budget of a run; builds checks whose verdicts come from the engine.

    Every random stream is derived from (seed, a name), so a run is reproducible
    and adding a check does not change the instances of the others.
    """

    seed: int = 0
    trials: int = 3  # random exact instances per identity
    numeric_trials: int = 5  # random models per numeric check
    examples: int = 20  # hypothesis examples per law

    def seed_for(self, name: str) -> int:
        """A 32-bit seed for the stream ``name``."""
        return int(np.random.SeedSequence([self.seed, zlib.crc32(name.encode())]).generate_state(1)[0])

    def rng(self, name: str) -> np.random.Generator:
        """A generator for the stream ``name``."""
        return np.random.default_rng(self.seed_for(name))

    def identity(self, description: str, lhs: Expr, rhs: Expr, *, expand: bool = True, report: str = "") -> Check:
        """lhs = rhs in the algebra: normal forms, then exact random instances."""
        verdict = verify_identity(lhs, rhs, seed=self.seed_for(description), trials=self.trials, expand=expand)
        return Check(description, verdict, report)

    def numeric(
        self,
        description: str,
        sides: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
        *,
        rtol: float = 1e-9,
        trials: int | None = None,
        report: str = "",
        explain: Callable[[np.random.Generator], str] | None = None,
    ) -> Check:
        """lhs ≈ rhs on random instances drawn by ``sides(rng)`` (models, tokens, matrices).

        ``explain(rng)``, given the failing trial's generator afresh, describes its draw
        (e.g. the tokens) for the counterexample.
        """
        verdict = verify_numeric(
            description, sides, seed=self.seed_for(description), trials=trials or self.numeric_trials, rtol=rtol
        )
        example = verdict.counterexample
        if explain is not None and example is not None:
            drawn = explain(np.random.default_rng(example.seed))
            verdict = replace(verdict, counterexample=replace(example, note=f"{drawn}\n{example.note}"))
        return Check(description, verdict, report)

    def formula(self, description: str, text: str, declarations: Sequence[str] = ()) -> Check:
        """A typed formula ``LHS == RHS``, as ``tensoralg check`` reads it."""
        return Check(description, check_formula(text, declarations=tuple(declarations), seed=self.seed_for(description)))

    def instances(
        self,
        description: str,
        trial: Callable[[np.random.Generator], "Mismatch | None"],
        *,
        method: str = "exact",
        trials: int | None = None,
        report: str = "",
    ) -> Check:
        """A property of random instances: ``trial(rng)`` returns None when it holds, else a Mismatch.

        Use it for facts that are not an equation of matrices (ranks over ℚ and
        GF(p), characteristic polynomials, inequalities); the first failing trial
        becomes the counterexample, with the seed that reproduces it.
        """
        start = time.perf_counter()
        n = trials or self.trials
        for k in range(n):
            seed = self.seed_for(f"{description}#{k}")
            found = trial(np.random.default_rng(seed))
            if found is not None:
                example = found.counterexample(seed)
                verdict = Verdict("REFUTED", method, description, f"fails on trial {k + 1} of {n}", example,
                                  seconds=time.perf_counter() - start)
                return Check(description, verdict, report)
        verdict = Verdict("HOLDS", method, description, f"holds on {n} random instance(s)",
                          seconds=time.perf_counter() - start)
        return Check(description, verdict, report)

    def fact(
        self, description: str, check: Callable[[], "Mismatch | None"], *, method: str = "symbolic", report: str = ""
    ) -> Check:
        """A deterministic fact checked once and completely, e.g. two finite lists of terms
        agreeing term by term: PROVED when ``check()`` returns None, else REFUTED with its Mismatch."""
        start = time.perf_counter()
        found = check()
        seconds = time.perf_counter() - start
        if found is not None:
            verdict = Verdict("REFUTED", method, description, "checked completely: fails",
                              found.counterexample(self.seed), seconds=seconds)
        else:
            verdict = Verdict("PROVED", method, description, "checked completely (no random draw)", seconds=seconds)
        return Check(description, verdict, report)

    def law(
        self, description: str, strategy: Any, holds: Callable[[Any], bool], *, method: str = "numeric", report: str = ""
    ) -> Check:
        """A law for all examples of a hypothesis ``strategy``; a failure is shrunk to the smallest example.

        ``method`` is "exact" when ``holds`` computes with integers or fractions.
        """
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hypothesis_seed

        start = time.perf_counter()
        failures: list[Any] = []

        class _Fails(Exception):
            pass

        @hypothesis_seed(self.seed_for(description))
        @settings(
            max_examples=self.examples, derandomize=False, database=None, deadline=None,
            verbosity=Verbosity.quiet, phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def run(example: Any) -> None:
            if not holds(example):
                failures.append(example)
                raise _Fails

        try:
            run()
        except _Fails:
            # Hypothesis replays the shrunk example last.
            example = Mismatch(lhs="false", rhs="true", note=f"smallest example: {failures[-1]!r}")
            verdict = Verdict("REFUTED", method, description, "fails on a drawn example",
                              example.counterexample(self.seed_for(description)), seconds=time.perf_counter() - start)
            return Check(description, verdict, report)
        verdict = Verdict("HOLDS", method, description, f"holds on {self.examples} hypothesis examples",
                          seconds=time.perf_counter() - start)
        return Check(description, verdict, report)


def default_model(rng: np.random.Generator, heads: Sequence[int] = (2, 2), **options: Any) -> Model:
    """The catalog's embedded model: small random weights (d_model 8, d_head 3, n_vocab 12, n_ctx 6).

    ``options`` go to :func:`tensoralg.models.model.random_model` (positional, mlp, layer_norm, sizes).
    """
    sizes = {"d_model": 8, "d_head": 3, "n_vocab": 12, "n_ctx": 6} | options
    return random_model(rng, heads, **sizes)


def random_tokens(rng: np.random.Generator, model: Model, n: int | None = None) -> np.ndarray:
    """``n`` tokens (default: a full context of 6) drawn uniformly from the model's vocabulary."""
    return rng.integers(0, model.n_vocab, size=n or model.n_ctx or 6)


@dataclass(frozen=True)
class Mismatch:
    """What a failing trial found: the two values that differ (and where, and in which sizes)."""

    lhs: Any
    rhs: Any
    note: str = ""
    entry: tuple[int, ...] = ()
    dims: Mapping[str, int] = field(default_factory=dict)
    field: str = "Q"  # the number field of the instance: "Q", "GF(p)", "Z" or "float64"

    def counterexample(self, seed: int) -> Counterexample:
        return Counterexample(dict(self.dims), seed, self.field, self.entry, str(self.lhs), str(self.rhs), self.note)


@dataclass(frozen=True)
class Claim:
    """A claim of CLAIMS.md with its derivations, checks and negative controls (see the module doc)."""

    id: str
    title: str
    statement: str
    latex: str
    derive: Callable[[], Iterable[Derivation]]
    check: Callable[[Context], Iterable[Check]]
    refute: Callable[[Context], Iterable[Check]]

    def __post_init__(self) -> None:
        if not _CLAIM_ID.match(self.id):
            raise CatalogError(f"claim id {self.id!r} must look like C7 or C17b")


@dataclass(frozen=True)
class StepResult:
    step: Step
    verdict: Verdict


@dataclass(frozen=True)
class DerivationResult:
    derivation: Derivation
    links: tuple[StepResult, ...]  # one per step after the first

    @property
    def proved(self) -> bool:
        return all(link.verdict.status == "PROVED" for link in self.links)


def is_refuted(check: Check) -> bool:
    """A negative control is refuted when the engine says REFUTED and shows a counterexample."""
    return check.verdict.status == "REFUTED" and check.verdict.counterexample is not None


@dataclass(frozen=True)
class ClaimResult:
    """Everything one run of a claim produced."""

    claim: Claim
    derivations: tuple[DerivationResult, ...]
    checks: tuple[Check, ...]
    negatives: tuple[Check, ...]
    seconds: float
    errors: tuple[str, ...] = ()  # a part of the claim that raised instead of answering

    @property
    def passed(self) -> bool:
        return (
            not self.errors
            and all(d.proved for d in self.derivations)
            and all(c.verdict.ok for c in self.checks)
            and bool(self.negatives)
            and all(map(is_refuted, self.negatives))
        )

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def refuted(self) -> str:
        """Negative controls refuted, e.g. '2/2'."""
        return f"{sum(map(is_refuted, self.negatives))}/{len(self.negatives)}"

    @property
    def methods(self) -> tuple[str, ...]:
        used = {link.verdict.method for d in self.derivations for link in d.links}
        used |= {c.verdict.method for c in self.checks + self.negatives}
        return tuple(m for m in METHODS if m in used)

    def _repr_html_(self) -> str:
        """Jupyter: the claim with its derivations typeset, its checks and negative controls as cards."""
        from .cards import claim_html

        return claim_html(self)

    @property
    def failures(self) -> tuple[str, ...]:
        """One line per thing that went wrong."""
        lines = [f"error: {e}" for e in self.errors]
        if not self.negatives and not self.errors:
            lines.append("no negative controls: a claim must show that the engine refutes a nearby false statement")
        for d in self.derivations:
            for k, link in enumerate(d.links, 1):
                if link.verdict.status != "PROVED":
                    lines.append(f"derivation {d.derivation.title!r}, step {k}: {link.verdict.status}: {link.verdict.detail}")
        lines += [f"check {c.description!r}: {c.verdict.status}: {c.verdict.detail}" for c in self.checks if not c.verdict.ok]
        lines += [
            f"negative control {c.description!r} was not refuted: {c.verdict.status}: {c.verdict.detail}"
            for c in self.negatives if not is_refuted(c)
        ]
        return tuple(lines)


# --- discovery ------------------------------------------------------------------------------


def claim_key(claim_id: str) -> tuple[int, str]:
    """Catalog order: C2 < C11 < C17 < C17b < C18."""
    match = _CLAIM_ID.match(claim_id)
    if not match:
        raise UnknownClaimError(f"{claim_id!r} is not a claim id (they look like C7 or C17b)")
    return int(match.group(1)), match.group(2)


def discover(package: str = "tensoralg.proofs") -> tuple[Claim, ...]:
    """The ``CLAIM`` of every module ``c<N>[letter]_<name>`` of ``package``, in catalog order."""
    pkg = importlib.import_module(package)
    claims: dict[str, tuple[Claim, str]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        match = _MODULE_NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        claim = getattr(module, "CLAIM", None)
        if not isinstance(claim, Claim):
            raise CatalogError(f"proof module {info.name} defines no CLAIM = Claim(...)")
        expected = f"C{int(match.group(1))}{match.group(2)}"
        if claim.id != expected:
            raise CatalogError(f"proof module {info.name} must define claim {expected}; it defines {claim.id}")
        if claim.id in claims:
            raise CatalogError(f"claim {claim.id} is defined by both {claims[claim.id][1]} and {info.name}")
        claims[claim.id] = (claim, info.name)
    return tuple(c for c, _ in sorted(claims.values(), key=lambda cm: claim_key(cm[0].id)))


def select(claims: Sequence[Claim], ids: Sequence[str]) -> tuple[Claim, ...]:
    """The claims named by ``ids`` (case-insensitive, in the order given); all of them when empty."""
    if not ids:
        return tuple(claims)
    by_id = {c.id.lower(): c for c in claims}
    chosen: list[Claim] = []
    for name in ids:
        claim = by_id.get(name.lower())
        if claim is None:
            known = ", ".join(c.id for c in claims)
            raise UnknownClaimError(f"unknown claim {name!r}; the catalog has {known}")
        if claim not in chosen:
            chosen.append(claim)
    return tuple(chosen)


# --- running --------------------------------------------------------------------------------


def prove_derivation(derivation: Derivation, ctx: Context) -> DerivationResult:
    """Each link e_{k−1} = e_k, proved by the engine after substituting the step's givens."""
    links = []
    for k, (before, after) in enumerate(zip(derivation.steps, derivation.steps[1:]), 1):
        verdict = verify_identity(
            after.unfold(before.expr), after.unfold(after.expr), seed=ctx.seed_for(f"{derivation.title}#{k}"),
            trials=ctx.trials,
        )
        links.append(StepResult(after, verdict))
    return DerivationResult(derivation, tuple(links))


def run_claim(claim: Claim, ctx: Context) -> ClaimResult:
    """Run a claim's derivations, checks and negative controls; an exception becomes an error line."""
    start = time.perf_counter()
    parts: dict[str, list] = {"derive": [], "check": [], "refute": []}
    errors: list[str] = []
    for name, produce in (
        ("derive", lambda: [prove_derivation(d, ctx) for d in claim.derive()]),
        ("check", lambda: claim.check(ctx)),
        ("refute", lambda: claim.refute(ctx)),
    ):
        try:
            for item in produce():
                parts[name].append(item)
        except Exception as exc:  # a broken proof module must not hide the rest of the catalog
            errors.append(f"{claim.id} {name}: {type(exc).__name__}: {exc}")
    return ClaimResult(
        claim, tuple(parts["derive"]), tuple(parts["check"]), tuple(parts["refute"]),
        time.perf_counter() - start, tuple(errors),
    )


def run_catalog(claims: Sequence[Claim], ctx: Context) -> tuple[ClaimResult, ...]:
    return tuple(run_claim(c, ctx) for c in claims)
