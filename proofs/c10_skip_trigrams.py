"""C10 — Skip-trigrams: the direction of a head's effect depends on the source token only.

A head's term of the one-layer expansion acts on tokens by (C9)

    (A⊗M)·t = A t Mᵀ = A (M tᵀ)ᵀ,   M = W_U W_OV W_E (n_vocab × n_vocab),

so the logit effect at destination i of attending to source j is A[i,j]·M[:, t_j]: the
pattern scales it, the source token alone picks its direction (a skip-trigram
"t_j … t_i → out"). Reading a logit difference logit(a) − logit(b) with u = e_a − e_b,

    (A t Mᵀ) u = A t c,   c := Mᵀ u = W_Eᵀ W_OVᵀ W_Uᵀ u,   so the (i, j) summand is A[i,j]·c[t_j],

and A[i,j] > 0 (a softmax), so its sign is that of c[t_j], whatever the destination token.
Hence a head cannot raise "keep…in mind" and "keep…at bay" without also raising
"keep…in bay" or "keep…at mind": the source "keep" pushes logit(mind) − logit(bay) the
same way after "in" as after "at".

Checked: the derivation in the algebra; a head's write on random models, split by source
into A[i,j]·(W_U W_OV W_E)[:, t_j]; the sign rule by ablating one source from one head,
for every destination token, every source token and every pair (a, b); the "keep…in mind"
instance, with the measured effects reported. NEGATIVE: the same split with the pattern
transposed; "some source token's sign depends on the destination token" (refuted for
attention-only heads); and the sign rule itself once an MLP follows the layer (the MLP
reads the destination's residual stream, so the effect is no longer A[i,j]·c[t_j]).

>>> CLAIM.id
'C10'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Tensor, atom
from tensoralg.models.model import ACTIVATIONS, forward
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

W_E, W_U, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "t"))
A, W_OV = atom(standard_symbol("A", 0, 0)), atom(standard_symbol("W_OV", 0, 0))
M = W_U @ W_OV @ W_E
u = atom(declared_symbol("u", "n_vocab", "one"))  # e_a − e_b: reads logit(a) − logit(b)
c = atom(declared_symbol("c", "n_vocab", "one"))  # c[s]: source token s's push on logit(a) − logit(b)

#: Token ids of the paper's example in a small vocabulary.
KEEP, IN, AT, MIND, BAY, FILLER = 0, 1, 2, 3, 4, 5


def derive() -> list[Derivation]:
    return [
        Derivation("a head's logit effect, source by source", [
            Step(Apply(Tensor((A, M)), t)),
            Step(A @ t @ M.T, "(A⊗M)·t = A t Mᵀ"),
            Step(A @ (M @ t.T).T, "t Mᵀ = (M tᵀ)ᵀ: row j is column t_j of M"),
        ]),
        Derivation("a logit difference is one number per source token", [
            Step(Apply(Tensor((A, M)), t) @ u),
            Step(A @ t @ (M.T @ u), "(A⊗M)·t = A t Mᵀ"),
            Step(A @ t @ W_E.T @ W_OV.T @ W_U.T @ u, "Mᵀ = W_Eᵀ W_OVᵀ W_Uᵀ"),
            Step(A @ t @ c, "c := W_Eᵀ W_OVᵀ W_Uᵀ u; (A t c)[i] = Σ_j A[i,j] c[t_j]", given={c.symbol: M.T @ u}),
        ]),
    ]


def _head_split(transposed: bool):
    """A head's write read by W_U, against Σ_j A[i,j]·(W_U W_OV W_E)[:, t_j] (or A[j,i])."""

    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model = default_model(rng, heads=(2,))
        tokens = random_tokens(rng, model)
        run = forward(model, tokens)
        table = model.W_U @ model.layers[0].W_OV @ model.W_E  # heads × n_vocab × n_vocab
        patterns = np.swapaxes(run.patterns[0], -1, -2) if transposed else run.patterns[0]
        split = np.einsum("hij,hvj->hiv", patterns, table[:, :, tokens])
        return run.head_outputs[0] @ model.W_U.T, split

    return sides


def _source_effects(model, tokens: np.ndarray, j: int) -> np.ndarray:
    """heads × n_vocab: row h is the logits at the last position minus those with head h's read
    of source j removed.

    Computed from one forward pass by ablation (the MLP, if any, recomputed), not from the
    expansion; every head's ablation reads the same pass.
    """
    run = forward(model, tokens)
    i = tokens.size - 1
    layer, mlp = model.layers[0], model.mlps[0]
    full = run.residuals[1][i]
    kept = full if mlp is None else run.residuals[0][i] + run.head_outputs[0][:, i].sum(axis=0)
    ablated = kept - run.patterns[0][:, i, j, None] * (layer.W_OV @ run.residuals[0][j])  # heads × d_model
    if mlp is not None:
        pre = ablated @ mlp.W_in.T + (0 if mlp.b_in is None else mlp.b_in)
        ablated = ablated + ACTIVATIONS[mlp.activation](pre) @ mlp.W_out.T + (0 if mlp.b_out is None else mlp.b_out)
    return (full - ablated) @ model.W_U.T


def _sign_flips(model, tokens: np.ndarray, j: int) -> tuple | None:
    """A (head, source token, a, b, d₁, d₂) whose effect on logit(a) − logit(b) has opposite signs
    for destination tokens d₁ and d₂, over every source and destination token; or None."""
    V, tokens = model.n_vocab, tokens.copy()
    effects = np.empty((model.layers[0].n_heads, V, V, V))  # head, source token, destination token, logit
    for s in range(V):
        for d in range(V):
            tokens[j], tokens[-1] = s, d
            effects[:, s, d] = _source_effects(model, tokens, j)
    for h, by_head in enumerate(effects):
        diffs = by_head[:, :, :, None] - by_head[:, :, None, :]  # s, d, a, b
        signs = np.sign(diffs)
        flip = np.argwhere((signs.max(axis=1) > 0) & (signs.min(axis=1) < 0))
        if flip.size:
            s, a, b = (int(x) for x in flip[0])
            column = diffs[s, :, a, b]
            return h, s, a, b, int(column.argmax()), int(column.argmin()), float(column.max()), float(column.min())
    return None


def _context(rng: np.random.Generator, mlp: bool):
    model = default_model(rng, heads=(1,) if mlp else (2,), mlp=mlp)
    tokens = random_tokens(rng, model)
    return model, tokens, int(rng.integers(tokens.size - 1))


def _sign_rule(mlp: bool):
    """A trial of the sign rule: a Mismatch names a flip (a source token whose sign depends on the destination)."""

    def trial(rng: np.random.Generator) -> Mismatch | None:
        model, tokens, j = _context(rng, mlp=mlp)
        found = _sign_flips(model, tokens, j)
        if found is None:
            return None
        h, s, a, b, d1, d2, hi, lo = found
        where = "MLP after the layer: " if mlp else ""
        return Mismatch(f"{hi:+.3g} after destination token {d1}", f"{lo:+.3g} after destination token {d2}: one sign",
                        note=f"{where}head {h}, source token {s} at position {j}, logit({a}) − logit({b})",
                        field="float64")

    return trial


def _flips_exist(rng: np.random.Generator) -> Mismatch | None:
    model, tokens, j = _context(rng, mlp=False)
    if _sign_flips(model, tokens, j) is None:
        return Mismatch("one sign per (head, source token, a, b)", "a sign that depends on the destination",
                        note=f"tokens {tokens.tolist()}, source position {j}, every source and destination token",
                        field="float64")
    return None


def _keep_effects(model) -> tuple[float, float]:
    """Head 0's push from "keep" on logit(mind) − logit(bay) after "in" and after "at"."""
    pushes = []
    for dest in (IN, AT):
        effect = _source_effects(model, np.array([FILLER, KEEP, FILLER, dest]), 1)[0]
        pushes.append(float(effect[MIND] - effect[BAY]))
    return pushes[0], pushes[1]


def _keep_in_mind(rng: np.random.Generator) -> Mismatch | None:
    after_in, after_at = _keep_effects(default_model(rng, heads=(1,)))
    if np.sign(after_in) != np.sign(after_at):
        return Mismatch(f"{after_in:+.3g} after 'in'", f"{after_at:+.3g} after 'at'", field="float64")
    return None


def check(ctx: Context) -> list[Check]:
    after_in, after_at = _keep_effects(default_model(ctx.rng("keep…in mind, report"), heads=(1,)))
    winner = "mind" if after_in > 0 else "bay"
    return [
        ctx.identity("((A⊗W_U W_OV W_E)·t) u = A t (W_Eᵀ W_OVᵀ W_Uᵀ u)", Apply(Tensor((A, M)), t) @ u,
                     A @ t @ (W_E.T @ W_OV.T @ W_U.T @ u)),
        ctx.numeric("W_U·(head write)[i] = Σ_j A[i,j] (W_U W_OV W_E)[:, t_j] on 2-head models", _head_split(False)),
        ctx.instances("ablating source j from head h: the sign of its effect on logit(a) − logit(b) is the same "
                      "for every destination token (all source tokens, all a, b)", _sign_rule(mlp=False), method="numeric"),
        ctx.instances("'keep' pushes logit(mind) − logit(bay) the same way after 'in' and after 'at'", _keep_in_mind,
                      method="numeric", trials=5,
                      report=f"on one random model: {after_in:+.3f} after 'in', {after_at:+.3f} after 'at' — "
                      f"raising 'keep…in {winner}' raises 'keep…at {winner}' too"),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("W_U·(head write)[i] = Σ_j A[j,i] (W_U W_OV W_E)[:, t_j] (pattern transposed)", _head_split(True)),
        ctx.instances("the sign of some source token's contribution depends on the destination token (attention-only)",
                      _flips_exist, method="numeric", trials=1),
        ctx.instances("with an MLP after the layer, the sign of a source's effect is the same for every destination",
                      _sign_rule(mlp=True), method="numeric"),
    ]


CLAIM = Claim(
    "C10",
    "Skip-trigrams",
    "effect of i attending to j through h is A^h[i,j]·(W_U W_OV^h W_E)[:, t_j]: its sign depends on the source token only",
    r"\big((A^h\otimes W_U W_{OV}^h W_E)\cdot t\big)_{i,:} = \sum_j A^h_{ij}\,(W_U W_{OV}^h W_E)_{:,t_j},\quad"
    r" \operatorname{sign}\big(A^h_{ij}\,c_{t_j}\big) = \operatorname{sign} c_{t_j}",
    derive=derive,
    check=check,
    refute=refute,
)
