"""C1 — Tensor-product laws.

    (A⊗B)(C⊗D) = (AC)⊗(BD)          mixed product
    (A + A')⊗B = A⊗B + A'⊗B, …      bilinearity in each factor
    (A⊗B)ᵀ = Aᵀ⊗Bᵀ,  Id⊗Id = Id   (the unit: (Id⊗Id)·X = X, value Id_{pq})
    (A⊗W)·X = A X Wᵀ = np.kron(A, W) @ vec(X)

Here A, C act on positions (p × p) and B, D, W on residual vectors (q × q); the
laws are proved for symbols, so they hold for any expressions put in their place.
The numeric checks compare the algebra with numpy's own Kronecker product, and a
hypothesis law compares every drawn two-factor expression with its normal form.
NEGATIVE: (A⊗B)(C⊗D) = (CA)⊗(BD), = (AC)⊗(DB) and (A⊗W)·X = A X W are refuted.

>>> CLAIM.id, len(derive())
('C1', 3)
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensoralg.algebra.exact import PRIME_FIELD, RATIONALS, evaluate_exact
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step
from tensoralg.algebra.evaluate import evaluate
from tensoralg.algebra.expr import Apply, Identity, Tensor, atom, canonical, symbols_in
from tensoralg.verify.strategies import dimensions, expressions, random_values, seeds
from tensoralg.algebra.symbols import declared_symbol

A, C = (atom(declared_symbol(n, "p", "p")) for n in ("A", "C"))
B, D = (atom(declared_symbol(n, "q", "q")) for n in ("B", "D"))
X = atom(declared_symbol("X", "p", "q"))


def _kron(*factors):
    return Tensor(tuple(factors))


def derive() -> list[Derivation]:
    return [
        Derivation("transposing a mixed product", [
            Step((_kron(A, B) @ _kron(C, D)).T),
            Step(_kron(C, D).T @ _kron(A, B).T, "(XY)ᵀ = YᵀXᵀ"),
            Step(_kron(C.T, D.T) @ _kron(A.T, B.T), "(A⊗B)ᵀ = Aᵀ⊗Bᵀ"),
            Step(_kron(C.T @ A.T, D.T @ B.T), "mixed product"),
            Step(_kron((A @ C).T, (B @ D).T), "(XY)ᵀ = YᵀXᵀ in each factor"),
        ]),
        Derivation("bilinearity", [
            Step(_kron(A + 2 * C, B) @ _kron(Identity("p"), D)),
            Step((_kron(A, B) + 2 * _kron(C, B)) @ _kron(Identity("p"), D), "linear in the first factor"),
            Step(_kron(A, B @ D) + 2 * _kron(C, B @ D), "distribute; mixed product; Id C = C"),
        ]),
        Derivation("acting twice is acting with the product", [
            Step(Apply(_kron(A, B), Apply(_kron(C, D), X))),
            Step(Apply(_kron(A, B), C @ X @ D.T), "(C⊗D)·X = C X Dᵀ"),
            Step(A @ C @ X @ D.T @ B.T, "(A⊗B)·Y = A Y Bᵀ"),
            Step(Apply(_kron(A, B) @ _kron(C, D), X), "(BD)ᵀ = DᵀBᵀ; mixed product"),
        ]),
    ]


def _kron_action(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p, q = rng.integers(1, 5, size=2)
    a, w, x = rng.normal(size=(p, p)), rng.normal(size=(q, q)), rng.normal(size=(p, q))
    return np.kron(a, w) @ x.reshape(-1), (a @ x @ w.T).reshape(-1)


def _kron_mixed(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    m, n, k, r, s, t = rng.integers(1, 4, size=6)
    a, c = rng.normal(size=(m, n)), rng.normal(size=(n, k))
    b, d = rng.normal(size=(r, s)), rng.normal(size=(s, t))
    return np.kron(a, b) @ np.kron(c, d), np.kron(a @ c, b @ d)


def _score_action(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, d = rng.integers(1, 5, size=2)
    aq, ak, m, x = rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=(d, d)), rng.normal(size=(n, d))
    by_entries = np.einsum("ia,jb,ac,cd,bd->ij", aq, ak, x, m, x)
    return by_entries, aq @ x @ m @ x.T @ ak.T


def _normal_form_is_sound(example) -> bool:
    expr, dims, seed = example
    values = random_values(symbols_in(expr), dims, np.random.default_rng(seed))
    tree, normal = evaluate(expr, values, dims), evaluate(canonical(expr), values, dims)
    return bool(np.allclose(tree, normal, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(tree).max(initial=0))))


def _identity_is_the_unit() -> Mismatch | None:
    """Id_p⊗Id_q = Id_{pq}: the normal form is the unit (one term, empty words, coefficient 1), and its
    value is the pq × pq identity in float64 (tensoralg.algebra.evaluate) and over ℚ and GF(p)
    (tensoralg.algebra.exact), for p, q = 1…4."""
    unit = Tensor((Identity("p"), Identity("q")))
    if dict(unit.normal_form.terms) != {((), ()): 1}:
        return Mismatch(str(dict(unit.normal_form.terms)), "{((), ()): 1}", field="Z", note="normal form of Id⊗Id")
    for p in range(1, 5):
        for q in range(1, 5):
            dims = {"p": p, "q": q}
            if not np.array_equal(evaluate(unit, {}, dims), np.eye(p * q)):
                return Mismatch(str(evaluate(unit, {}, dims).tolist()), f"Id_{p * q}", dims=dims, field="float64")
            for field in (RATIONALS, PRIME_FIELD):
                value = evaluate_exact(unit, {}, dims, field)
                if value != field.identity(p * q):
                    return Mismatch(str(value), f"Id_{p * q}", dims=dims, field=field.name)
    return None


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(A⊗B)(C⊗D) = (AC)⊗(BD)", _kron(A, B) @ _kron(C, D), _kron(A @ C, B @ D)),
        ctx.identity("(A + C)⊗B = A⊗B + C⊗B", _kron(A + C, B), _kron(A, B) + _kron(C, B)),
        ctx.identity("A⊗(B + D) = A⊗B + A⊗D", _kron(A, B + D), _kron(A, B) + _kron(A, D)),
        ctx.identity("(3A)⊗B = 3(A⊗B) = A⊗(3B)", _kron(3 * A, B), _kron(A, 3 * B)),
        ctx.identity("(A⊗B)ᵀ = Aᵀ⊗Bᵀ", _kron(A, B).T, _kron(A.T, B.T)),
        ctx.identity("(Id⊗Id)(A⊗B) = A⊗B = (A⊗B)(Id⊗Id)",
                     _kron(Identity("p"), Identity("q")) @ _kron(A, B), _kron(A, B) @ _kron(Identity("p"), Identity("q"))),
        ctx.identity("(A⊗B)·X = A X Bᵀ", Apply(_kron(A, B), X), A @ X @ B.T),
        ctx.identity("(Id⊗Id)·X = X", Apply(_kron(Identity("p"), Identity("q")), X), X),
        ctx.fact("Id⊗Id = Id: the unit's normal form, and its value is Id_{pq} (float64, ℚ, GF(p); p, q ≤ 4)",
                 _identity_is_the_unit, method="exact"),
        ctx.formula("typed as a user would: (A ⊗ B)(C ⊗ D) == A C ⊗ B D", "(A ⊗ B)(C ⊗ D) == A C ⊗ B D",
                    ["A, C: n_ctx x n_ctx", "B, D: d_model x d_model"]),
        ctx.numeric("np.kron(A, W) vec(X) = vec(A X Wᵀ)", _kron_action),
        ctx.numeric("np.kron(A, B) np.kron(C, D) = np.kron(AC, BD), rectangular", _kron_mixed),
        ctx.numeric("(A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ, entry by entry", _score_action),
        ctx.law(
            "every drawn two-factor expression equals its normal form (np.kron)",
            st.tuples(expressions(("p", "p"), ("q", "r"), depth=2), dimensions(), seeds()),
            _normal_form_is_sound,
        ),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(A⊗B)(C⊗D) = (CA)⊗(BD)", _kron(A, B) @ _kron(C, D), _kron(C @ A, B @ D)),
        ctx.identity("(A⊗B)(C⊗D) = (AC)⊗(DB)", _kron(A, B) @ _kron(C, D), _kron(A @ C, D @ B)),
        ctx.identity("(A⊗B)·X = A X B", Apply(_kron(A, B), X), A @ X @ B),
    ]


CLAIM = Claim(
    "C1",
    "Tensor-product laws",
    "(A⊗B)(C⊗D) = (AC)⊗(BD); ⊗ is bilinear; (A⊗B)ᵀ = Aᵀ⊗Bᵀ; Id⊗Id = Id; (A⊗W)·X = A X Wᵀ",
    r"(A\otimes B)(C\otimes D) = AC\otimes BD,\quad (A\otimes B)^\top = A^\top\otimes B^\top,"
    r"\quad \mathrm{Id}\otimes\mathrm{Id} = \mathrm{Id},\quad (A\otimes W)\cdot X = A X W^\top",
    derive=derive,
    check=check,
    refute=refute,
)
