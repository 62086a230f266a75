"""The proofs catalog: one module per claim of CLAIMS.md (imported as ``tensoralg.proofs``).

``tensoralg prove`` finds every module named ``c<N>[letter]_<topic>.py`` here
(``c11_two_layer_expansion.py``, ``c17b_factored_svd.py``), reads its ``CLAIM`` and
runs it; tests/test_proofs.py runs every module found, so a new module is covered
by the tests as soon as it exists. Modules whose name starts with ``_`` are skipped;
``_shared.py`` holds the helpers several proofs use (``sym``, ``invertible``,
``rank_bounded``, ``draw_model``, ``draw_run``).

Writing a proof module
----------------------
A module states its claim and gives three functions (see :mod:`tensoralg.verify.catalog`)::

    from tensoralg.verify.catalog import Claim, Context, Derivation, Mismatch, Step

    def derive() -> list[Derivation]:
        # e₀ = e₁ = … : the engine proves each link e_{k-1} = e_k symbolically
        # (verify_identity, definitions W_OV, W_QK unfolded). A link may use givens,
        # Step(expr, "why", given={C: S_A @ V_A}), substituted on both sides.
        return [Derivation("title", [Step(e0), Step(e1, "mixed product"), ...])]

    def check(ctx: Context) -> list[Check]:        # each must be PROVED or HOLD
        return [
            ctx.identity("(A⊗B)ᵀ = Aᵀ⊗Bᵀ", lhs, rhs),          # symbolic + exact instances
            ctx.numeric("pattern unchanged", sides),            # sides(rng) -> (lhs, rhs) arrays
            ctx.instances("rank ≤ d_head over ℚ", trial),       # trial(rng) -> None | Mismatch
            ctx.fact("terms agree one by one", compare),        # compare() -> None | Mismatch, run once
            ctx.law("score ∈ [0, 1]", strategy, holds),         # hypothesis, shrunk on failure
        ]

    def refute(ctx: Context) -> list[Check]:       # negative controls: each must be REFUTED
        return [ctx.identity("(A⊗B)(C⊗D) = CA⊗BD", lhs, wrong)]

    CLAIM = Claim("C1", "title", "one-line Unicode statement", r"LaTeX statement",
                  derive=derive, check=check, refute=refute)

Rules the catalog enforces: ``CLAIM.id`` matches the module name (c17b → C17b); a
claim passes only if every link is PROVED, every check ok, and every negative
control REFUTED with a counterexample. Randomness comes only from ``ctx.rng(name)``
and ``ctx.seed_for(name)`` (derived from ``--seed``), models from
:func:`tensoralg.verify.catalog.default_model`, so runs are reproducible and small.
Describe each check in Unicode; the Markdown and LaTeX reports print it as typed.

>>> from tensoralg.verify.catalog import discover
>>> [c.id for c in discover()][:3]
['C1', 'C2', 'C3']
"""
