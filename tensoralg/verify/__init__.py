"""Verification: verdicts on identities (PROVED, REFUTED with a counterexample, HOLDS, or
UNDECIDED with a bound), derivation files, the proofs catalog and its reports, and the hypothesis
strategies that tests and proofs share; verdicts under assumptions (``assumptions``: proofs
modulo relations with certificates, ``sampling``: instances that satisfy the assumptions).

May import: every layer below it (:mod:`tensoralg.algebra`, :mod:`tensoralg.formula`,
:mod:`tensoralg.models`, :mod:`tensoralg.paths`). Only the command line imports it.
"""
