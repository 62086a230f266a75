"""Numeric models and circuits: the reference forward pass, weight files (checked headers,
memory maps) and checkpoints (Hugging Face GPT-2, TransformerLens), weight processing (C21–C24),
factored matrices, OV/QK circuits, composition scores, induction evidence and toy models.

Everything here is numpy on concrete weights; ``model_symbols`` binds the algebra's
standard symbols to a model's arrays so that any expression evaluates on it.

May import: :mod:`tensoralg.errors` and :mod:`tensoralg.algebra`. Never the formula
language, the verifier or the command line.
"""
