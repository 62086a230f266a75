"""Training query and key transcoders and their feature-pair mask (the bilinear SDL post; C19).

Step 1 trains the transcoders of :mod:`tensoralg.models.qk_dictionary` on

    KL(A ‖ Â) + α·(FVU(q̂, q) + FVU(k̂, k)) + λ·Σ_p a_p ‖D[:, p]‖

with Â = softmax*(s·q̂ k̂ᵀ) the reconstructed pattern, KL averaged over sequences, heads and
destination positions, FVU the fraction of the queries' (keys') variance left unexplained (the
auxiliary losses: stability, and no arbitrary rotation of head space), and an L1 penalty on the
activations weighted by their decoder norms (so shrinking a and growing D does not evade it),
divided by the mean ‖q‖ (‖k‖) so that λ does not depend on the model's scale.
Step 2 freezes them and trains masks m (initialised to ones) on

    KL(A ‖ softmax*(s·(a_Q (M ⊙ m) a_Kᵀ [+ 𝟙 b_Qᵀ D_K a_Kᵀ]))) + μ·mean_{p,r,h} |m[p, r, h]|^½

three times: with the key-feature × query-bias term (``mask``), without it as the post writes
it (``mask_without_bias_term``), and, as a negative control, with the source positions of a_K
shuffled within each sequence (``mask_shuffled``). Entries with |m| < ``prune`` become 0; every
reported figure uses the pruned masks. The corpus is
:func:`tensoralg.models.qk_metrics.repeated_segment_tokens`; the figures are measured by
:func:`tensoralg.models.qk_metrics.evaluate` on held-out sequences.

torch is imported when training runs (the ``train`` extra); importing this module does not.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import ShapeError, TensoralgError, WeightsError
from ..models.model import Model, layer_norm
from ..models.qk_dictionary import QKDictionary
from ..models.qk_metrics import LayerData, evaluate, layer_data, repeated_segment_tokens


def corpus_for(ref: str):
    """How to draw token sequences for the model named ``ref``: its own training distribution when its
    model card describes one (the shipped models: :class:`tensoralg.training.data.Grammar`), else
    :func:`tensoralg.models.qk_metrics.repeated_segment_tokens`. numpy only."""
    from ..models.registry import resolve
    from .data import DataConfig, Grammar

    try:
        card = resolve(ref).card or {}
    except WeightsError:  # a built-in model has no card
        card = {}
    data = card.get("training", {}).get("data") if isinstance(card.get("training"), dict) else None
    if data is None:
        return repeated_segment_tokens
    grammar = Grammar.build(DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}))

    def training_distribution(rng: np.random.Generator, n_vocab: int, n_ctx: int, sequences: int) -> np.ndarray:
        return grammar.sample(rng, sequences).tokens

    return training_distribution


class TorchMissingError(TensoralgError):
    """Training was asked for but torch is not installed."""


def require_torch():
    """The ``torch`` module, or :class:`TorchMissingError` naming the install command."""
    try:
        import torch
    except ImportError:
        raise TorchMissingError("training needs torch: pip install 'tensoralg[train]' (torch==2.13.0)") from None
    return torch


@dataclass(frozen=True)
class QKTrainConfig:
    """Sizes, steps and loss weights of both steps (``d_hidden`` per transcoder)."""

    d_hidden: int = 128
    steps: int = 3000
    mask_steps: int = 1000
    batch: int = 32
    sequences: int = 2048
    eval_sequences: int = 64
    lr: float = 3e-3
    mask_lr: float = 1e-2
    sparsity: float = 0.1
    aux: float = 0.1
    mask_sparsity: float = 0.1
    prune: float = 0.05
    seed: int = 0
    threads: int = 1  # small matrices: more threads mostly spin-wait on a shared machine

    def __post_init__(self) -> None:
        for name in ("d_hidden", "steps", "mask_steps", "batch", "sequences", "eval_sequences", "threads"):
            if getattr(self, name) < 1:
                raise ShapeError(f"{name} must be positive; got {getattr(self, name)}")
        if self.seed < 0:
            raise ShapeError(f"seed must be non-negative; got {self.seed}")
        for name in ("lr", "mask_lr", "sparsity", "aux", "mask_sparsity", "prune"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0) or (name.endswith("lr") and value == 0):
                raise ShapeError(f"{name} must be a {'positive' if name.endswith('lr') else 'non-negative'} number; got {value}")


#: ``tiny`` runs in seconds (the test suite); ``default`` is the documented full run.
PRESETS = {
    "tiny": QKTrainConfig(d_hidden=16, steps=300, mask_steps=200, batch=8, sequences=48, eval_sequences=8, lr=0.01, mask_lr=0.03),
    "default": QKTrainConfig(),
}


@dataclass(frozen=True)
class TrainingLog:
    """Losses per step: step 1 (KL, auxiliary, sparsity) and each mask (KL, L0.5 penalty)."""

    step1: dict
    masks: dict
    seconds: dict


def _kl(log_p, log_q):
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def _log_pattern(torch, scores, scale):
    n = scores.shape[-1]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    return torch.log_softmax((scale * scores).masked_fill(~causal, -1e9), dim=-1)


def train_qk_dictionary(model: Model, layer: int, config: QKTrainConfig = QKTrainConfig(), *,
                        model_ref: str = "", corpus=repeated_segment_tokens) -> tuple[QKDictionary, TrainingLog]:
    """Train both steps on ``layer`` of ``model``; the dictionary's ``info`` holds the config and figures.

    ``corpus(rng, n_vocab, n_ctx, sequences)`` draws the token sequences (B × n_ctx).
    """
    torch = require_torch()
    if model.n_ctx is None:
        raise ShapeError("training a QK dictionary needs a model with positional embeddings (n_ctx)")
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(torch, model, layer, config, model_ref, corpus)
    finally:
        torch.set_num_threads(threads)


def _train(torch, model: Model, layer: int, config: QKTrainConfig, model_ref: str, corpus):
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    tokens = corpus(rng, model.n_vocab, model.n_ctx, config.sequences + config.eval_sequences)
    start = time.perf_counter()
    train = layer_data(model, tokens[:config.sequences], layer)
    held_out = layer_data(model, tokens[config.sequences:], layer)
    seconds = {"data": time.perf_counter() - start}

    start = time.perf_counter()
    coders, step1 = _train_transcoders(torch, model, train, config, rng)
    seconds["step1"] = time.perf_counter() - start
    dictionary = QKDictionary(layer, model.layers[layer].n_heads, *coders, score_scale=model.score_scale,
                              layer_norm=model.layer_norm, ln_eps=model.ln_eps, model=model_ref)

    masks, mask_logs = {}, {}
    for name, bias_term, shuffled in (("mask", True, False), ("mask_without_bias_term", False, False),
                                      ("mask_shuffled", True, True)):
        start = time.perf_counter()
        masks[name], mask_logs[name] = _train_mask(torch, dictionary, train, config, bias_term, shuffled, rng)
        seconds[name] = time.perf_counter() - start
    dictionary = replace(dictionary, **masks)
    start = time.perf_counter()
    figures = evaluate(dictionary, model, held_out)
    seconds["evaluate"] = time.perf_counter() - start
    info = {"config": asdict(config), "figures": figures, "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "corpus": corpus.__name__, "n_ctx": model.n_ctx}
    return replace(dictionary, info=info), TrainingLog(step1, mask_logs, seconds)


def _train_transcoders(torch, model: Model, data: LayerData, config: QKTrainConfig, rng: np.random.Generator):
    """Step 1: (E_Q, c_Q, D_Q, b_Q, E_K, c_K, D_K, b_K) as numpy arrays, and the loss curves."""
    n_heads = model.layers[data.layer].n_heads
    read = layer_norm(data.residuals, model.ln_eps) if model.layer_norm else data.residuals  # n(x), as QKDictionary.read
    x = torch.tensor(read, dtype=torch.float32)
    targets = {s: torch.tensor(t, dtype=torch.float32) for s, t in (("Q", data.queries), ("K", data.keys))}
    d_model, f = x.shape[-1], config.d_hidden
    params = {}
    for side in "QK":
        flat = _flat(targets[side])  # B × n × (n_head·d_head)
        encoder = torch.randn(f, d_model) * (2.0 / np.sqrt(d_model))
        acts = torch.relu(x.reshape(-1, d_model) @ encoder.T)
        # decoder initialised by least squares so that q̂ ≈ q from the first step
        target = flat.reshape(-1, flat.shape[-1])
        bias = target.mean(0)
        decoder = torch.linalg.lstsq(acts, target - bias, driver="gelsd").solution.T
        params[side] = [torch.nn.Parameter(t.clone()) for t in (encoder, torch.zeros(f), decoder, bias)]
    optimiser = torch.optim.Adam([p for side in "QK" for p in params[side]], lr=config.lr)
    variance = {s: ((_flat(t) - _flat(t).mean((0, 1))) ** 2).sum() / t.shape[0] for s, t in targets.items()}
    norms = {s: _flat(t).norm(dim=-1).mean() for s, t in targets.items()}  # the L1 term in units of ‖q‖, ‖k‖
    curves = {"kl": [], "aux": [], "sparsity": []}
    scale = float(model.score_scale)
    for _ in range(config.steps):
        idx = torch.tensor(rng.integers(0, x.shape[0], size=config.batch))
        xb = x[idx]
        outs, sparsity, aux = {}, 0.0, 0.0
        for side in "QK":
            encoder, enc_bias, decoder, dec_bias = params[side]
            acts = torch.relu(xb @ encoder.T + enc_bias)
            outs[side] = acts @ decoder.T + dec_bias
            sparsity = sparsity + (acts * decoder.norm(dim=0)).sum(-1).mean() / norms[side]
            aux = aux + ((outs[side] - _flat(targets[side][idx])) ** 2).sum() / idx.numel() / variance[side]
        q, k = (_heads(outs[s], n_heads) for s in "QK")
        true = _log_pattern(torch, targets["Q"][idx] @ targets["K"][idx].transpose(-1, -2), scale)
        kl = _kl(true, _log_pattern(torch, q @ k.transpose(-1, -2), scale))
        loss = kl + config.aux * aux + config.sparsity * sparsity
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        for name, value in (("kl", kl), ("aux", aux), ("sparsity", sparsity)):
            curves[name].append(float(value.detach()))
    coders = [p.detach().double().numpy() for side in "QK" for p in params[side]]
    return coders, curves


def _flat(per_head):
    """B × n_head × n × d_head → B × n × (n_head·d_head), head-major as the decoders write."""
    b, h, n, e = per_head.shape
    return per_head.permute(0, 2, 1, 3).reshape(b, n, h * e)


def _heads(flat, n_heads: int):
    """B × n × (n_head·d_head) → B × n_head × n × d_head."""
    b, n, w = flat.shape
    return flat.reshape(b, n, n_heads, w // n_heads).permute(0, 2, 1, 3)


def _train_mask(torch, dictionary: QKDictionary, data: LayerData, config: QKTrainConfig, bias_term: bool,
                shuffled: bool, rng: np.random.Generator):
    """Step 2: one pruned mask (numpy, d_hidden_Q × d_hidden_K × n_head) and its loss curves."""
    a_q, a_k = (torch.tensor(a, dtype=torch.float32) for a in dictionary.encode(data.residuals))
    fmap = torch.tensor(dictionary.feature_map(), dtype=torch.float32)
    h, e = dictionary.n_heads, dictionary.d_head
    # b_Qᵀ D_K per head and key feature: n_head × d_hidden_K
    bias_map = torch.tensor(np.einsum("he,her->hr", dictionary.b_Q.reshape(h, e), dictionary.D_K.reshape(h, e, -1)),
                            dtype=torch.float32)
    q_true, k_true = (torch.tensor(t, dtype=torch.float32) for t in (data.queries, data.keys))
    mask = torch.nn.Parameter(torch.ones_like(fmap))
    optimiser = torch.optim.Adam([mask], lr=config.mask_lr)
    curves = {"kl": [], "penalty": []}
    scale, n = dictionary.score_scale, a_q.shape[1]
    for _ in range(config.mask_steps):
        idx = torch.tensor(rng.integers(0, a_q.shape[0], size=config.batch))
        keys = a_k[idx]
        if shuffled:
            order = torch.tensor(np.stack([rng.permutation(n) for _ in range(config.batch)]))
            keys = torch.gather(keys, 1, order[:, :, None].expand_as(keys))
        scores = torch.einsum("bip,pqh,bjq->bhij", a_q[idx], fmap * mask, keys)
        if bias_term:
            scores = scores + torch.einsum("hq,bjq->bhj", bias_map, keys)[:, :, None, :]
        true = _log_pattern(torch, q_true[idx] @ k_true[idx].transpose(-1, -2), scale)
        kl = _kl(true, _log_pattern(torch, scores, scale))
        penalty = (mask.abs() + 1e-8).sqrt().mean()
        loss = kl + config.mask_sparsity * penalty
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        curves["kl"].append(float(kl.detach()))
        curves["penalty"].append(float(penalty.detach()))
    pruned = mask.detach().double().numpy()
    pruned[np.abs(pruned) < config.prune] = 0.0
    return pruned, curves
