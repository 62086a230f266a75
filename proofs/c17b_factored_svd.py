"""C17b — The SVD of a product from the SVDs of its factors.

For A = U_A S_A V_A and B = U_B S_B V_B (thin SVDs: U with orthonormal columns, V with
orthonormal rows, S diagonal and positive) let C = S_A V_A U_B S_B = U_C S_C V_C, a
small r_A × r_B matrix. Then

    AB = U_A S_A V_A U_B S_B V_B = U_A C V_B = (U_A U_C) S_C (V_C V_B)

and this is an SVD of AB: U_A U_C has orthonormal columns (U_Cᵀ U_Aᵀ U_A U_C = U_Cᵀ U_C = Id),
V_C V_B orthonormal rows, S_C diagonal. So the SVD of an n_vocab × n_vocab circuit
such as W_U W_OV W_E comes from d_head-sized pieces. The derivation proves the
product formula given the three SVDs; numerics check the library's construction
(tensoralg.models.factored.FactoredMatrix.svd computes exactly these products) on OV
circuits of random models: it reconstructs AB, U and V are orthonormal, and S_C are
AB's singular values from numpy's dense SVD. NEGATIVE (a twin): the singular values of AB are not the
products of those of A and B.

>>> CLAIM.id
'C17b'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model
from tensoralg.algebra.expr import atom
from tensoralg.models.factored import FactoredMatrix
from tensoralg.algebra.symbols import declared_symbol


def _m(name: str, rows: str, cols: str):
    return atom(declared_symbol(name, rows, cols))


A, B, C = _m("A", "m", "k"), _m("B", "k", "n"), _m("C", "r_A", "r_B")
U_A, S_A, V_A = _m("U_A", "m", "r_A"), _m("S_A", "r_A", "r_A"), _m("V_A", "r_A", "k")
U_B, S_B, V_B = _m("U_B", "k", "r_B"), _m("S_B", "r_B", "r_B"), _m("V_B", "r_B", "n")
U_C, S_C, V_C = _m("U_C", "r_A", "r"), _m("S_C", "r", "r"), _m("V_C", "r", "r_B")


def derive() -> list[Derivation]:
    return [
        Derivation("the product formula", [
            Step(A @ B),
            Step(U_A @ S_A @ V_A @ U_B @ S_B @ V_B, "thin SVDs of A and B",
                 given={A.symbol: U_A @ S_A @ V_A, B.symbol: U_B @ S_B @ V_B}),
            Step(U_A @ C @ V_B, "define C", given={C.symbol: S_A @ V_A @ U_B @ S_B}),
            Step((U_A @ U_C) @ S_C @ (V_C @ V_B), "thin SVD of C", given={C.symbol: U_C @ S_C @ V_C}),
        ]),
    ]


def _ov_factors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(1,), n_vocab=int(rng.integers(8, 16)))
    layer = model.layers[0]
    return model.W_U @ layer.W_O[0], layer.W_V[0] @ model.W_E  # A: n_vocab × d_head, B: d_head × n_vocab


def _reconstructs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    A_, B_ = _ov_factors(rng)
    U, s, V = FactoredMatrix(A_, B_).svd()
    return (U * s) @ V, A_ @ B_


def _orthonormal(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    U, _, V = FactoredMatrix(*_ov_factors(rng)).svd()
    return np.concatenate([(U.T @ U).ravel(), (V @ V.T).ravel()]), np.concatenate([np.eye(U.shape[1]).ravel(), np.eye(V.shape[0]).ravel()])


def _singular_values(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    A_, B_ = _ov_factors(rng)
    _, s, _ = FactoredMatrix(A_, B_).svd()
    dense = np.linalg.svd(A_ @ B_, compute_uv=False)
    return s, dense[: len(s)]


def _products_of_singular_values(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    A_, B_ = _ov_factors(rng)
    s_ab = np.linalg.svd(A_ @ B_, compute_uv=False)[: A_.shape[1]]
    products = np.sort(np.linalg.svd(A_, compute_uv=False) * np.linalg.svd(B_, compute_uv=False))[::-1]
    return s_ab, products


def check(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("FactoredMatrix.svd: (U_A U_C) S_C (V_C V_B) = AB for OV circuits A = W_U W_O, B = W_V W_E",
                    _reconstructs, rtol=1e-8),
        ctx.numeric("U = U_A U_C has orthonormal columns and V = V_C V_B orthonormal rows", _orthonormal, rtol=1e-8),
        ctx.numeric("S_C are the largest singular values of AB", _singular_values, rtol=1e-8),
    ]


def refute(ctx: Context) -> list[Check]:
    return [ctx.numeric("the singular values of AB are the products of those of A and B", _products_of_singular_values)]


CLAIM = Claim(
    "C17b",
    "Factored SVD",
    "A = U_A S_A V_A, B = U_B S_B V_B, S_A V_A U_B S_B = U_C S_C V_C ⇒ AB = (U_A U_C) S_C (V_C V_B), an SVD",
    r"C = S_A V_A U_B S_B = U_C S_C V_C \implies AB = (U_A U_C)\,S_C\,(V_C V_B)",
    derive=derive,
    check=check,
    refute=refute,
)
