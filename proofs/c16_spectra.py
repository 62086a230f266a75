"""C16 — Spectra of circuits and the copying score.

* Σλ = tr M = Σ diag M for every square M: the coefficient of x^{n−1} in the
  characteristic polynomial det(x·Id − M) is −Σλ (Vieta) and −tr M (expand the
  determinant), so the three notions of "copying" agree in sum.
* For A (m × n) and B (n × m), xⁿ·p_AB(x) = xᵐ·p_BA(x): AB and BA have the same nonzero
  eigenvalues. The OV circuit W_U W_OV W_E = (W_U W_O)(W_V W_E) is n_vocab × n_vocab,
  and its spectrum is that of the d_head × d_head matrix (W_V W_E)(W_U W_O) plus zeros.
* The copying score Σλ/Σ|λ| lies in [−1, 1] (|Σλ| ≤ Σ|λ|, and Σλ is real for a real
  matrix); it is 1 for a nonzero positive semidefinite matrix, −1 for a negative one.

The characteristic polynomials are compared exactly (python-flint) on random
integer matrices; the library's factored eigenvalues and copying score are checked
numerically, the score also on spectra with complex eigenvalues against its definition
(|a ± ib| = √(a² + b²), not |a|). NEGATIVE (the seeds' caveat): "all eigenvalues positive ⇒ every token
raises its own logit most" is refuted by the explicit matrix

    M = [[−1, −2], [4, 5]]     (column j = the logit effect of attending to token j)

with p_M(x) = x² − 4x + 3 = (x − 1)(x − 3), copying score 1, yet token 0 lowers its own
logit (M[0,0] = −1) and raises token 1's (M[1,0] = 4).

>>> CLAIM.id
'C16'
"""

from __future__ import annotations

import flint
import numpy as np
from hypothesis import strategies as st

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model
from tensoralg.models.circuits import copying_scores, eigenvalue_scores, head_weights, ov_circuits
from tensoralg.algebra.expr import atom
from tensoralg.models.factored import FactoredMatrix
from tensoralg.proofs._shared import invertible
from tensoralg.verify.strategies import real_matrices
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

W_E, W_U = atom(standard_symbol("W_E")), atom(standard_symbol("W_U"))
W_O, W_V, W_OV = (atom(standard_symbol(n, 0, 0)) for n in ("W_O", "W_V", "W_OV"))
F, G = atom(declared_symbol("F", "n_vocab", "d_head")), atom(declared_symbol("G", "d_head", "n_vocab"))

#: The caveat's matrix: eigenvalues 1 and 3, yet column 0 is largest off the diagonal.
CAVEAT = ((-1, -2), (4, 5))


def derive() -> list[Derivation]:
    return [
        Derivation("the OV circuit is a product FG with a d_head-sized GF", [
            Step(W_U @ W_OV @ W_E),
            Step(W_U @ W_O @ W_V @ W_E, "W_OV := W_O W_V"),
            Step(F @ G, "F is n_vocab × d_head, G is d_head × n_vocab; G F is d_head × d_head",
                 given={F.symbol: W_U @ W_O, G.symbol: W_V @ W_E}),
        ]),
    ]


def _integers(rng: np.random.Generator, rows: int, cols: int) -> flint.fmpz_mat:
    return flint.fmpz_mat(rows, cols, [int(x) for x in rng.integers(-4, 5, size=rows * cols)])


def _coefficients(poly) -> list[int]:
    return [int(c) for c in poly.coeffs()]


def _trace_is_eigenvalue_sum(rng: np.random.Generator) -> Mismatch | None:
    n = int(rng.integers(1, 7))
    M = _integers(rng, n, n)
    eigen_sum = -_coefficients(M.charpoly())[n - 1]  # Vieta: x^{n−1} coefficient is −Σλ
    diagonal = sum(int(M[i, i]) for i in range(n))
    return None if eigen_sum == diagonal else Mismatch(f"Σλ = {eigen_sum}", f"Σ diag = {diagonal}", dims={"n": n}, field="Z")


def _same_nonzero_spectrum(A: flint.fmpz_mat, B: flint.fmpz_mat) -> Mismatch | None:
    m, n = A.nrows(), A.ncols()
    x = flint.fmpz_poly([0, 1])
    ab, ba = (A * B).charpoly() * x**n, (B * A).charpoly() * x**m
    return None if ab == ba else Mismatch(f"xⁿ p_AB = {ab}", f"xᵐ p_BA = {ba}", dims={"m": m, "n": n}, field="Z")


def _ab_ba(rng: np.random.Generator) -> Mismatch | None:
    m, n = (int(k) for k in rng.integers(1, 6, size=2))
    return _same_nonzero_spectrum(_integers(rng, m, n), _integers(rng, n, m))


def _ov_circuit(rng: np.random.Generator) -> Mismatch | None:
    d_head, d_model, n_vocab = 2, 4, 7
    w_u, w_o, w_v, w_e = (_integers(rng, *s) for s in ((n_vocab, d_model), (d_model, d_head), (d_head, d_model), (d_model, n_vocab)))
    return _same_nonzero_spectrum(w_u * w_o, w_v * w_e)


def _factored_eigenvalues(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Compare spectra through their characteristic polynomials (order-free); the dense
    # n_vocab-sized one has n_vocab − d_head trailing zero coefficients.
    model = default_model(rng, heads=(2,))
    layer = model.layers[0]
    lhs, rhs = [], []
    for h in range(layer.n_heads):
        circuit = FactoredMatrix(model.W_U @ layer.W_O[h], layer.W_V[h] @ model.W_E)
        small = np.real(np.poly(circuit.eigenvalues()))
        dense = np.real(np.poly(np.linalg.eigvals(circuit.dense())))
        lhs.append(dense)
        rhs.append(np.concatenate([small, np.zeros(len(dense) - len(small))]))
    return np.concatenate(lhs), np.concatenate(rhs)


def _eigen_sum_is_trace(M: np.ndarray) -> bool:
    total = np.linalg.eigvals(M).sum()
    return bool(abs(total - np.trace(M)) <= 1e-9 * max(1.0, np.abs(M).sum()))


def _score_in_range(M: np.ndarray) -> bool:
    return bool(-1 - 1e-12 <= eigenvalue_scores(np.linalg.eigvals(M)) <= 1 + 1e-12)


def _semidefinite(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, k = int(rng.integers(2, 8)), int(rng.integers(1, 4))
    B = rng.normal(size=(n, k))
    scores = [eigenvalue_scores(np.linalg.eigvals(sign * B @ B.T)) for sign in (1, -1)]
    return np.array(scores), np.array([1.0, -1.0])


def _complex_spectrum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """M = P·diag(R₁, …, R_c, r₁, …, r_s)·P⁻¹ with rotation-scalings R = [[a, −b], [b, a]]
    (eigenvalues a ± ib, |λ| = √(a² + b²)): its score by definition is
    Σλ/Σ|λ| = (Σ 2a + Σ r)/(Σ 2√(a² + b²) + Σ |r|), against eigenvalue_scores of numpy's spectrum."""
    c, s = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    a, b, r = rng.normal(size=c), rng.normal(size=c) + np.sign(rng.normal(size=c)), rng.normal(size=s)
    D = np.zeros((2 * c + s, 2 * c + s))
    for i in range(c):
        D[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = [[a[i], -b[i]], [b[i], a[i]]]
    D[2 * c:, 2 * c:] = np.diag(r)
    P = invertible(rng, 2 * c + s)
    M = P @ D @ np.linalg.inv(P)
    defined = (2 * a.sum() + r.sum()) / (2 * np.hypot(a, b).sum() + np.abs(r).sum())
    return np.array([eigenvalue_scores(np.linalg.eigvals(M))]), np.array([defined])


def _model_copying(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """copying_scores of a random model's OV circuits (factored, d_head-sized) against
    Re Σλ/Σ|λ| over the eigenvalues of each dense n_vocab × n_vocab circuit; the draws have
    complex eigenvalues (the check fails if none does, so it always tests them)."""
    model = default_model(rng, heads=(4,), d_head=4)
    dense = ov_circuits(head_weights(model)).dense()
    spectra = np.linalg.eigvals(dense)
    if not np.any(np.abs(spectra.imag) > 1e-6):
        return np.array([0.0]), np.array([1.0])  # no complex eigenvalue drawn: a failure, not a pass
    defined = spectra.sum(axis=-1).real / np.abs(spectra).sum(axis=-1)
    return copying_scores(ov_circuits(head_weights(model))), defined


def _real_part_denominator(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Σλ/Σ|Re λ| (a plausible slip) against the score by definition on the same complex spectrum."""
    model = default_model(rng, heads=(4,), d_head=4)
    spectra = ov_circuits(head_weights(model)).eigenvalues()
    return spectra.sum(axis=-1).real / np.abs(spectra.real).sum(axis=-1), copying_scores(ov_circuits(head_weights(model)))


def _caveat(rng: np.random.Generator) -> Mismatch | None:
    M = flint.fmpz_mat(2, 2, [x for row in CAVEAT for x in row])
    roots = sorted(int(r) for r, _ in M.charpoly().roots())
    if len(roots) == 2 and all(r > 0 for r in roots):  # the premise holds: all eigenvalues positive
        for j in range(2):
            column = [int(M[i, j]) for i in range(2)]
            best = max(range(2), key=column.__getitem__)
            if best != j:
                return Mismatch(
                    f"M[{best},{j}] = {column[best]}", f"M[{j},{j}] = {column[j]} largest in column {j}", entry=(best, j),
                    dims={"n_vocab": 2}, field="Z",
                    note=f"M = {[list(r) for r in CAVEAT]}, p_M(x) = {M.charpoly()}, eigenvalues {roots}, "
                    f"copying score {sum(roots)}/{sum(map(abs, roots))}",
                )
    return None


def check(ctx: Context) -> list[Check]:
    square = st.integers(1, 5).flatmap(lambda n: real_matrices(rows=n, cols=n))
    return [
        ctx.instances("Σλ = tr = Σ diag: the x^{n−1} coefficient of p_M, exactly", _trace_is_eigenvalue_sum),
        ctx.law("Σλ = tr in float64 (numpy eigenvalues)", square, _eigen_sum_is_trace),
        ctx.instances("xⁿ p_AB(x) = xᵐ p_BA(x) for A m×n, B n×m: same nonzero eigenvalues", _ab_ba),
        ctx.instances("p of W_U W_O W_V W_E (7 × 7) = x⁵ · p of W_V W_E W_U W_O (2 × 2)", _ov_circuit),
        ctx.numeric("FactoredMatrix eigenvalues from d_head × d_head = the dense OV circuit's spectrum",
                    _factored_eigenvalues, rtol=1e-8),
        ctx.law("copying score Σλ/Σ|λ| ∈ [−1, 1]", square, _score_in_range),
        ctx.numeric("copying score = 1 for B Bᵀ ≠ 0 and −1 for −B Bᵀ", _semidefinite),
        ctx.numeric("complex eigenvalues: the score of P·diag(rotation-scalings, reals)·P⁻¹ = (Σ 2a + Σ r)/(Σ 2√(a²+b²) + Σ |r|)",
                    _complex_spectrum, rtol=1e-8),
        ctx.numeric("copying_scores of random models' OV circuits = Re Σλ/Σ|λ| of the dense circuits' spectra (complex λ)",
                    _model_copying, rtol=1e-8),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.instances("all eigenvalues positive ⇒ every token raises its own logit most", _caveat, trials=1),
        ctx.numeric("the copying score is Σλ/Σ|Re λ| (random OV circuits, complex spectra)", _real_part_denominator),
    ]


CLAIM = Claim(
    "C16",
    "Spectra and the copying score",
    "Σλ = tr = Σ diag; AB and BA share nonzero eigenvalues; Σλ/Σ|λ| ∈ [−1, 1], ±1 for ±semidefinite",
    r"\sum_i \lambda_i = \operatorname{tr} M = \sum_i M_{ii},\quad x^n p_{AB}(x) = x^m p_{BA}(x),\quad"
    r" -1 \le \frac{\sum \lambda}{\sum |\lambda|} \le 1",
    derive=derive,
    check=check,
    refute=refute,
)
