"""The formula language: text such as ``(Id⊗W_U)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)``
read into expressions of the algebra.

``lexer`` (tokens, the caret under an error) ← ``syntax`` (a recursive-descent parser to a
syntax tree) ← ``elaboration`` (names to symbols, shapes, the spaces of ``Id``) ←
``parsing`` (the public ``parse``, ``parse_equation``, ``Context``).

May import: :mod:`tensoralg.errors` and :mod:`tensoralg.algebra`.
"""
