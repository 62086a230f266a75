"""Path expansion: the logits of a whole model and the scores of each head written as
sums of path terms (direct, single-head, virtual; Q-, K-, Q&K-composition), their exact
counts, and each term's numeric value on a model.

May import: :mod:`tensoralg.errors`, :mod:`tensoralg.algebra` and :mod:`tensoralg.models`.
"""
