"""C20 — Term importance: with frozen patterns the orders of the expansion sum to the logits.

Freeze every attention pattern at its value in a full forward pass. The model is then the
linear map T of C12 with those patterns substituted, and grouping its path terms by order,

    T = T₀ + T₁ + … + T_L,   T_k = Σ_{paths of k heads} A^{h_k}⋯A^{h₁} ⊗ W_U W_OV^{h_k}⋯W_OV^{h₁} W_E

(plus the positional twins), so the logits of the terms of each order sum to the model's
logits exactly, and every partial sum is a well-defined prediction: "direct path only" (T₀),
"+ single heads" (T₀ + T₁), "+ virtual heads" (T₀ + T₁ + T₂ = T for two layers). Each T_k is
homogeneous of degree k in the OV circuits, so scaling every W_O by λ gives Σ_k λ^k T_k: the
orders can be recovered from forward passes alone, without the expansion, by interpolation.

The losses of the partial sums (next-token cross-entropy, in nats) and their marginal
differences measure how much each order contributes, as the paper does for its two-layer
model. Here they are reported on random tokens for the catalog's random default model,
where they only show that the bookkeeping is exact; the losses on a trained model come later.

Checked: the grouping by order and the homogeneity in the algebra (PROVED); on random models
a forward pass with patterns frozen at another input's is C12's T with those patterns (so
freezing makes the model that linear map); on random models (also 3-layer and positional) the per-order sums of
tensoralg.paths.expansion's terms add up to the logits, and agree with the orders interpolated from
forward passes with W_O scaled; the loss of the summed orders is the model's loss (reported:
the three losses and their marginal contributions). NEGATIVE: "with each virtual term's patterns
multiplied in path order, A^{h1}A^{h2}, the orders sum to the logits", and "the terms, each
evaluated with its softmax recomputed (only its own heads kept), sum to the logits", are refuted.

>>> CLAIM.id
'C20'
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.definitions import substitute
from tensoralg.paths.expansion import TermValues, iter_logit_terms, unexpanded_logits
from tensoralg.algebra.evaluate import evaluate
from tensoralg.algebra.expr import Apply, Expr, Product, Scaled, Sum, Tensor, atom
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.models.model_symbols import symbol_values
from tensoralg.models.model import Model, forward, with_weights
from tensoralg.proofs._shared import draw_model

ARCH = Architecture((2, 2))
T_TOKENS = atom(standard_symbol("t"))
ORDER_NAMES = ("direct path only", "+ single heads", "+ virtual heads")


def order_sum(arch: Architecture, k: int) -> Expr:
    """T_k: the sum of the order-k token terms."""
    return Sum(tuple(term.expr for term in iter_logit_terms(arch) if term.order == k))


def _scaled_ov(expr: Expr, c: int) -> Expr:
    return substitute(expr, lambda s: Scaled(c, atom(s)) if s.name == "W_OV" else None)


def derive() -> list[Derivation]:
    T = unexpanded_logits(ARCH)
    orders = [order_sum(ARCH, k) for k in range(ARCH.n_layers + 1)]
    return [
        Derivation("the terms grouped by order", [
            Step(T),
            Step(Sum(tuple(term.expr for term in iter_logit_terms(ARCH))), "multiply out: one term per path (C12)"),
            Step(Sum(tuple(orders)), "group by the number of heads on the path: T₀ + T₁ + T₂"),
        ]),
        Derivation("order k is homogeneous of degree k in the OV circuits", [
            Step(_scaled_ov(T, 2)),
            Step(Sum(tuple(o if k == 0 else Scaled(2**k, o) for k, o in enumerate(orders))),
                 "W_OV → 2 W_OV: T₀ + 2 T₁ + 4 T₂"),
        ]),
    ]


MODELS = (((2, 2), False), ((1, 2, 1), True), ((2, 2, 2), False))


def _draw(rng: np.random.Generator, choice: int | None = None) -> tuple[Model, np.ndarray]:
    heads, positional = MODELS[int(rng.integers(len(MODELS))) if choice is None else choice]
    return draw_model(rng, heads, positional)


def order_logits(numbers: TermValues) -> np.ndarray:
    """(L + 1) × n × n_vocab: the logits of the terms of each order, all sources, with the
    patterns of ``numbers`` (its forward pass's own, or those it was given) frozen."""
    model = numbers.model
    out = np.zeros((len(model.layers) + 1, numbers.tokens.size, model.n_vocab))
    for term in iter_logit_terms(Architecture.from_model(model)):
        out[term.order] += numbers.logits(term)
    return out


def _frozen_is_linear(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """forward(tokens) with the patterns frozen at those of other tokens, against the linear map
    T = (Id⊗W_U) Π_l (Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E) of C12 with those patterns, acting on t."""
    model, tokens = _draw(rng, choice=0)
    frozen = forward(model, random_tokens(rng, model)).patterns
    # A^{l,h} set here, not through symbol_values (which runs forward with the frozen patterns).
    values = symbol_values(model, tokens) | {
        standard_symbol("A", l, h): frozen[l][h] for l in range(len(frozen)) for h in range(len(frozen[l]))
    }
    return forward(model, tokens, frozen).logits, evaluate(Apply(unexpanded_logits(ARCH), T_TOKENS), values)


def _orders_sum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    numbers = TermValues(*_draw(rng))
    parts = order_logits(numbers)
    return numbers.run.logits, parts.sum(axis=0), float(np.abs(parts).max())


def _scaled_forward(model: Model, tokens: np.ndarray, patterns, lam: float) -> np.ndarray:
    layers = tuple(replace(layer, W_O=lam * layer.W_O) for layer in model.layers)
    return forward(with_weights(model, layers=layers), tokens, patterns).logits


def _interpolated_orders(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Σ_k λ^k T_k at λ = −1, 0, 1, …, L from forward passes, solved for the T_k (Vandermonde)."""
    model, tokens = _draw(rng)
    numbers = TermValues(model, tokens)
    L = len(model.layers)
    nodes = np.arange(-1.0, L)
    values = np.stack([_scaled_forward(model, tokens, numbers.run.patterns, lam) for lam in nodes])
    vandermonde = nodes[:, None] ** np.arange(L + 1)[None, :]
    recovered = np.linalg.solve(vandermonde, values.reshape(L + 1, -1)).reshape(values.shape)
    parts = order_logits(numbers)
    return parts, recovered, float(np.abs(values).max())


def cross_entropy(logits: np.ndarray, tokens: np.ndarray) -> float:
    """Mean next-token loss in nats: position i predicts tokens[i + 1]."""
    z = logits[:-1] - logits[:-1].max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(tokens.size - 1), tokens[1:]].mean())


def order_losses(model: Model, sequences: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Mean loss of the cumulative sums T₀, T₀+T₁, …, and of the model itself, over ``sequences``."""
    cumulative, full = np.zeros(len(model.layers) + 1), 0.0
    for tokens in sequences:
        numbers = TermValues(model, tokens)
        partial = np.cumsum(order_logits(numbers), axis=0)
        cumulative += [cross_entropy(p, tokens) for p in partial]
        full += cross_entropy(numbers.run.logits, tokens)
    return cumulative / len(sequences), full / len(sequences)


def _loss_sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=ARCH.heads)
    sequences = [random_tokens(rng, model) for _ in range(4)]
    cumulative, full = order_losses(model, sequences)
    return np.array([full]), cumulative[-1:]


def _loss_report(rng: np.random.Generator) -> str:
    model = default_model(rng, heads=ARCH.heads)
    sequences = [random_tokens(rng, model) for _ in range(16)]
    cumulative, _ = order_losses(model, sequences)
    marginal = np.diff(cumulative)
    parts = [f"{name} {loss:.4f}" for name, loss in zip(ORDER_NAMES, cumulative)]
    return (
        "random default model (heads 2,2), 16 × 6 random tokens, nats: " + "; ".join(parts)
        + f"; marginal change in loss when added (negative = the order helps): single heads {marginal[0]:+.4f}, "
        f"virtual heads {marginal[1]:+.4f}"
        + f" (uniform prediction: ln {model.n_vocab} = {np.log(model.n_vocab):.4f})"
    )


def _patterns_reversed(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The orders summed with each virtual term's patterns multiplied in path order, A^{h1}A^{h2}
    instead of A^{h2}A^{h1} (a plausible slip), against the logits."""
    model, tokens = _draw(rng, choice=0)
    run = forward(model, tokens)
    values = symbol_values(model, tokens, run.patterns)
    total = np.zeros_like(run.logits)
    for term in iter_logit_terms(ARCH):
        patterns = tuple(atom(s) for s in reversed(term.pattern_symbols()))
        positional = Product(patterns) if len(patterns) > 1 else term.positional_factor()
        total += evaluate(Apply(Tensor((positional, term.residual_chain())), T_TOKENS), values)
    return run.logits, total


def _keep_heads(model: Model, keep: tuple[tuple[int, int], ...]) -> Model:
    """``model`` with every head not in ``keep`` silenced (W_O^{l,h} = 0)."""
    layers = []
    for l, layer in enumerate(model.layers):
        mask = np.array([(l, h) in keep for h in range(layer.n_heads)], dtype=float)
        layers.append(replace(layer, W_O=layer.W_O * mask[:, None, None]))
    return with_weights(model, layers=tuple(layers))


def _recomputed_softmax(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, tokens = _draw(rng, choice=0)
    run = forward(model, tokens)
    total = np.zeros_like(run.logits)
    for term in iter_logit_terms(Architecture.from_model(model)):
        # Its own softmax: the patterns the model computes with only the term's heads kept.
        total += TermValues(_keep_heads(model, term.heads), tokens).logits(term)
    return run.logits, total


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("T = T₀ + T₁ + T₂ (heads 2,2: 1 + 4 + 4 terms)", unexpanded_logits(ARCH),
                     Sum(tuple(order_sum(ARCH, k) for k in range(3)))),
        ctx.numeric("forward with patterns frozen at another input's = T of C12 with those patterns, on t",
                    _frozen_is_linear),
        ctx.numeric("with frozen patterns, Σ_k (logits of the order-k terms) = the logits (heads 2,2; 1,2,1 + W_pos; 2,2,2)",
                    _orders_sum),
        ctx.numeric("the order-k sums = the T_k interpolated from forward passes with W_O → λ W_O", _interpolated_orders,
                    rtol=1e-8),
        ctx.numeric("the loss of T₀ + … + T_L = the model's loss", _loss_sides,
                    report=_loss_report(ctx.rng("C20 losses, report"))),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("virtual terms with the patterns in path order (A^{h1}A^{h2}): the orders sum to the logits",
                    _patterns_reversed),
        ctx.numeric("the terms, each with its softmax recomputed (only its own heads kept), sum to the logits",
                    _recomputed_softmax),
    ]


CLAIM = Claim(
    "C20",
    "Term importance",
    "with patterns frozen, the logits of the orders sum to the model's: losses of direct, + single, + virtual are defined",
    r"T\big|_{A\ \text{frozen}} = \sum_{k=0}^{L} T_k,\quad"
    r" T_k = \sum_{l_1<\dots<l_k,\ h_i\in H_{l_i}} A^{h_k}\cdots A^{h_1}\otimes W_U W_{OV}^{h_k}\cdots W_{OV}^{h_1} W_E",
    derive=derive,
    check=check,
    refute=refute,
)
