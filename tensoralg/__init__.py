"""tensoralg: a symbolic and exact-math verification engine for transformer circuits.

The algebra (:mod:`tensoralg.algebra.expr`, :mod:`tensoralg.algebra.normal_form`) builds terms such
as Id⊗W_U W_E and A^{1,0}⊗W_U W_OV^{1,0} W_E, multiplies them by the mixed-product
rule (A⊗B)(C⊗D) = AC⊗BD and compares them by a canonical normal form.
"""

from .errors import ShapeError, SymbolError, TensoralgError
from .algebra.expr import (
    Apply,
    Atom,
    Bilinear,
    Expr,
    Identity,
    Product,
    Scaled,
    Sum,
    Tensor,
    Transpose,
    Zero,
    add,
    atom,
    canonical,
    identity,
    kron,
    matmul,
    scale,
    transpose,
)
from .algebra.symbols import Symbol, declared_symbol, standard_symbol

__all__ = [
    "Apply", "Atom", "Bilinear", "Expr", "Identity", "Product", "Scaled", "Sum", "Tensor",
    "Transpose", "Zero", "add", "atom", "canonical", "identity", "kron", "matmul", "scale",
    "transpose", "Symbol", "declared_symbol", "standard_symbol", "ShapeError", "SymbolError",
    "TensoralgError",
]

__version__ = "0.1.0"
