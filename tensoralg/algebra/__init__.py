"""The algebra: symbols, expression trees, the canonical normal form, definitions,
printing, and numeric and exact evaluation.

The bottom layer. It reads bottom-up: ``symbols`` ← ``normal_form`` (words and rational
coefficients, the named rules) ← ``printing`` ← ``expr`` (trees; ``==`` is equality of
normal forms) ← ``definitions``, ``evaluate`` ← ``exact``; ``architecture`` (heads per
layer, the index sets H_l) stands alone. Reasoning under assumptions: ``relations`` (typed
polynomials, the deg-lex order) ← ``completion`` (Buchberger–Mora with cofactors);
``certificate`` (the checker, independent of completion) ← ``lean`` (export); ``properties``
(closed under products), ``scalars`` (1 × 1 words commute and equal their transposes),
``constrained`` (exact samplers), ``size_bounds`` (sizes at which different normal forms differ).

May import: :mod:`tensoralg.errors` only.
"""
