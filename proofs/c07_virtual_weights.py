"""C7 — Virtual weights.

The residual stream entering layer l is the sum of everything written before it:
X^l = X^0 + Σ_{l'<l} out_{l'}, where a head writes (Id⊗W_O^{l',h})·r^{l',h} (r its
result, n_ctx × d_head) and an MLP writes (Id⊗W_out^{l'})·m^{l'} (m its activations).
A later layer that reads with W_I (W_Q, W_K, W_V of a head, or W_in of an MLP) sees

    (Id⊗W_I)·X^l = (Id⊗W_I)·X^0 + Σ (Id⊗W_I W_O^{l',h})·r^{l',h} + Σ (Id⊗W_I W_out^{l'})·m^{l'}

so it reads each earlier write through the virtual weight W_I W_O (or W_I W_out).

NEGATIVE (a near miss): the stream as the same sum, but with each MLP reading X^l, the
stream before its own layer's heads (as in a parallel attention + MLP block), is refuted.

>>> CLAIM.id
'C7'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Identity, Sum, Tensor, atom
from tensoralg.models.model import ACTIVATIONS, forward
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

Id = Identity("n_ctx")
X0 = atom(declared_symbol("X", "n_ctx", "d_model", 0))
r = {l: atom(declared_symbol("r", "n_ctx", "d_head", l, 0)) for l in (0, 1)}
m = {l: atom(declared_symbol("m", "n_ctx", "d_mlp", l)) for l in (0, 1)}
W_O = {l: atom(standard_symbol("W_O", l, 0)) for l in (0, 1)}
W_out = {l: atom(standard_symbol("W_out", l)) for l in (0, 1)}


def _write(w, x):
    return Apply(Tensor((Id, w)), x)


#: X^2: what a 2-layer model (one head and one MLP per layer) wrote before layer 2.
STREAM = Sum((X0, _write(W_O[0], r[0]), _write(W_out[0], m[0]), _write(W_O[1], r[1]), _write(W_out[1], m[1])))


def _reads(W_I):
    sources = [(W_O[0], r[0]), (W_out[0], m[0]), (W_O[1], r[1]), (W_out[1], m[1])]
    return [
        Step(_write(W_I, STREAM)),
        Step(Sum((_write(W_I, X0), *(Apply(Tensor((Id, W_I)) @ Tensor((Id, w)), x) for w, x in sources))),
             "the action is linear; acting twice is acting with the product"),
        Step(Sum((_write(W_I, X0), *(_write(W_I @ w, x) for w, x in sources))),
             "mixed product: virtual weights W_I W_O, W_I W_out"),
    ]


def derive() -> list[Derivation]:
    return [
        Derivation("a head of layer 2 reads the stream (W_I = W_V^{2,0})", _reads(atom(standard_symbol("W_V", 2, 0)))),
        Derivation("the MLP of layer 2 reads the stream (W_I = W_in^{2})", _reads(atom(standard_symbol("W_in", 2)))),
    ]


def _pieces(model, run):
    """Per layer: head results r (H × n × d_head) and MLP activations m (n × d_mlp) and biases."""
    layers = []
    for l, (layer, mlp) in enumerate(zip(model.layers, model.mlps)):
        results = np.einsum("hij,jd,hed->hie", run.patterns[l], run.residuals[l], layer.W_V)
        middle = run.residuals[l] + run.head_outputs[l].sum(axis=0)
        acts = ACTIVATIONS[mlp.activation](middle @ mlp.W_in.T + mlp.b_in)
        layers.append((results, acts, middle))
    return layers


def _draw(rng: np.random.Generator):
    model = default_model(rng, heads=(2, 2, 2), mlp=True)
    return model, forward(model, random_tokens(rng, model))


def _stream_is_a_sum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, run = _draw(rng)
    pieces = _pieces(model, run)
    lhs, rhs = [], []
    for l in range(len(model.layers) + 1):
        total = run.residuals[0].copy()
        for lp in range(l):
            results, acts, _ = pieces[lp]
            total += np.einsum("hne,hde->nd", results, model.layers[lp].W_O) + acts @ model.mlps[lp].W_out.T
        lhs.append(run.residuals[l])
        rhs.append(total)
    return np.concatenate(lhs).ravel(), np.concatenate(rhs).ravel()


def _virtual_reads(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, run = _draw(rng)
    pieces = _pieces(model, run)
    l = len(model.layers) - 1
    layer = model.layers[l]
    readers = [layer.W_Q, layer.W_K, layer.W_V, model.mlps[l].W_in[None]]  # each: k × d_in × d_model
    lhs, rhs = [], []
    for W_I in (w for stack in readers for w in stack):
        total = run.residuals[0] @ W_I.T
        for lp in range(l):
            results, acts, _ = pieces[lp]
            virtual_heads = W_I @ model.layers[lp].W_O  # H × d_in × d_head: W_I W_O^{l',h}
            total = total + np.einsum("hne,hie->ni", results, virtual_heads) + acts @ (W_I @ model.mlps[lp].W_out).T
        lhs.append((run.residuals[l] @ W_I.T).ravel())
        rhs.append(total.ravel())
    return np.concatenate(lhs), np.concatenate(rhs)


def _parallel_mlp(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The stream as a sum, with each MLP reading X^l (before its own layer's heads), as in a
    parallel block: a plausible slip in accounting for what the MLP reads."""
    model, run = _draw(rng)
    lhs, rhs = [], []
    total = run.residuals[0].copy()
    for l, (layer, mlp) in enumerate(zip(model.layers, model.mlps)):
        heads = run.head_outputs[l].sum(axis=0)
        acts = ACTIVATIONS[mlp.activation](run.residuals[l] @ mlp.W_in.T + mlp.b_in)
        total = total + heads + acts @ mlp.W_out.T
        lhs.append(run.residuals[l + 1])
        rhs.append(total)
    return np.concatenate(lhs).ravel(), np.concatenate(rhs).ravel()


def check(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("the stream entering each layer is X^0 + Σ_{l'<l} (heads + MLP) of layer l'", _stream_is_a_sum),
        ctx.numeric("W_Q, W_K, W_V, W_in of layer 3 read each earlier write through W_I W_O, W_I W_out", _virtual_reads),
    ]


def refute(ctx: Context) -> list[Check]:
    return [ctx.numeric("each MLP reads X^l, before its layer's heads (a parallel block): the stream is that sum",
                        _parallel_mlp)]


CLAIM = Claim(
    "C7",
    "Virtual weights",
    "X^l = X^0 + Σ_{l'<l} out_{l'}; a layer reading with W_I sees an earlier write W_O through W_I W_O (MLPs too)",
    r"(\mathrm{Id}\otimes W_I)\cdot X^l = (\mathrm{Id}\otimes W_I)\cdot X^0"
    r" + \sum_{l'<l,\,h} (\mathrm{Id}\otimes W_I W_O^{l',h})\cdot r^{l',h} + \sum_{l'<l} (\mathrm{Id}\otimes W_I W_{out}^{l'})\cdot m^{l'}",
    derive=derive,
    check=check,
    refute=refute,
)
