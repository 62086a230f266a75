"""The project's exceptions.

Every error a user can cause is a :class:`TensoralgError` (a ``ValueError``) whose
message names the symbols, shapes, keys or formula column involved. The command
line prints it on one line and exits with code 2.
"""

from __future__ import annotations


class TensoralgError(ValueError):
    """Base class of all errors caused by bad input."""


class ShapeError(TensoralgError):
    """Two operands whose shapes do not fit, e.g. ``W_E W_E`` (d_model×n_vocab · d_model×n_vocab)."""


class SymbolError(TensoralgError):
    """An unknown symbol, or a symbol used with indices it does not take."""


class ArchitectureError(TensoralgError):
    """An architecture that cannot exist (negative heads, a head that is not there)."""


class WeightsError(TensoralgError):
    """A weight file with a missing key, a wrong shape or non-finite values."""


class FormulaSyntaxError(TensoralgError):
    """A formula that does not parse; the message shows the formula and a caret."""


class TermLimitError(TensoralgError):
    """A computation that would produce more terms than its documented limit (counted before it starts)."""
