"""Training the shipped models: a config, a loop you can read top to bottom, a checkpoint and its card.

nanoGPT's shape in plain PyTorch (imported lazily, the ``train`` extra): one
:class:`TrainConfig` per preset; seeds set once (torch for the initial weights, numpy for the
data); AdamW with linear warm-up and cosine decay to lr/10; next-token cross-entropy
L = −(1/N) Σ_i log softmax(logits_i)[x_{i+1}] in nats; evaluation at intervals on a fixed
held-out batch; a progress bar on stderr. The weights go to a ``.safetensors`` file in
tensoralg's naming (loadable by :func:`tensoralg.models.weights.load_weights`) and the model card
(architecture, data parameters and seed, steps, losses, the loss curve, evaluation figures
computed with tensoralg's own numpy forward pass, the vocabulary) to the ``.json`` beside it.

>>> sorted(PRESETS)
['attn-only-1l', 'attn-only-2l', 'tiny']
>>> PRESETS["attn-only-2l"].heads
(4, 4)
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from ..errors import TensoralgError
from ..models.model import Model
from ..models.weights import model_arrays, write_arrays
from .data import DataConfig, Grammar
from .evaluation import evaluate


class TrainingError(TensoralgError):
    """Training cannot run: torch missing, unknown preset, unwritable output."""


@dataclass(frozen=True)
class TrainConfig:
    """Architecture, data and optimisation of one training run."""

    name: str
    description: str
    data: DataConfig
    heads: tuple[int, ...]
    d_model: int
    d_head: int
    positional: bool = True
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 100
    eval_every: int = 250
    eval_sequences: int = 256
    seed: int = 0
    threads: int = 1

    def to_json(self) -> dict:
        return {**asdict(self), "data": self.data.to_json(), "heads": list(self.heads)}

    def learning_rate(self, step: int) -> float:
        """lr · min(1, (step+1)/warmup) · (0.1 + 0.9 · ½(1 + cos(π · step/steps)))."""
        decay = 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * step / max(self.steps, 1)))
        return self.lr * min(1.0, (step + 1) / max(self.warmup, 1)) * decay


PRESETS: dict[str, TrainConfig] = {
    "attn-only-1l": TrainConfig(
        "attn-only-1l",
        "1-layer attention-only model trained on text with planted skip-trigrams a … b → c",
        DataConfig(n_vocab=96, n_ctx=32, seed=1, n_triples=32, shared=2, fire=0.9, p_a=0.06, p_b=0.06),
        heads=(8,), d_model=96, d_head=16, positional=False, steps=3000, batch_size=64, lr=3e-3,
    ),
    "attn-only-2l": TrainConfig(
        "attn-only-2l",
        "2-layer attention-only model with positional embeddings trained on text with repeated random segments",
        DataConfig(n_vocab=64, n_ctx=32, seed=2, repeat=1.0, segment=(2, 8), copies=(2, 6)),
        heads=(4, 4), d_model=64, d_head=16, steps=2000, batch_size=64, lr=1e-2, weight_decay=0.0,
    ),
    "tiny": TrainConfig(
        "tiny",
        "a 2-layer model of a few thousand weights, for tests: a few dozen steps lower its loss",
        DataConfig(n_vocab=16, n_ctx=16, seed=3, n_triples=2, repeat=0.5, segment=(2, 6)),
        heads=(2, 2), d_model=16, d_head=4, steps=40, batch_size=16, lr=1e-2, warmup=5, eval_every=20,
        eval_sequences=32,
    ),
}


def preset(name: str) -> TrainConfig:
    """The preset called ``name``, or TrainingError listing the presets."""
    if name not in PRESETS:
        raise TrainingError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def _torch():
    try:
        import torch
    except ImportError:
        raise TrainingError("training needs PyTorch: pip install 'tensoralg[train]' (torch==2.13.0)") from None
    return torch


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The trained model (tensoralg's numpy form), its card and where both were written."""

    model: Model
    card: dict
    weights: Path | None
    card_path: Path | None


def _bar(step: int, steps: int, loss: float, eval_loss: float | None, seconds: float, width: int = 24) -> str:
    done = int(width * step / max(steps, 1))
    tail = "" if eval_loss is None else f" eval {eval_loss:.3f}"
    return f"\r[{'#' * done}{'.' * (width - done)}] {step}/{steps} loss {loss:.3f}{tail} {seconds:.0f}s"


def train(config: TrainConfig, out: str | Path | None = None, progress: TextIO | None = sys.stderr) -> TrainResult:
    """Train ``config``; write ``out`` (.safetensors) and its card ``out`` with suffix .json when given."""
    torch = _torch()
    from .torch_model import AttentionOnly, to_model

    out = None if out is None else Path(out)
    if out is not None and out.suffix != ".safetensors":
        raise TrainingError(f"the output must be a .safetensors file; got {out}")
    grammar = Grammar.build(config.data)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    module = AttentionOnly(config.data.n_vocab, config.data.n_ctx, config.heads, config.d_model, config.d_head,
                           config.positional, torch.Generator().manual_seed(config.seed))
    optimiser = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.99))
    rng = np.random.default_rng([config.seed, 1])
    held_out = torch.as_tensor(grammar.sample(np.random.default_rng([config.seed, 2]), config.eval_sequences).tokens)

    def loss_of(tokens):
        logits = module(tokens)
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    curve, recent, eval_loss = [], [], None
    start = time.perf_counter()
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            with torch.no_grad():
                eval_loss = float(loss_of(held_out))
        if step == config.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = config.learning_rate(step)
        loss = loss_of(torch.as_tensor(grammar.sample(rng, config.batch_size).tokens))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent = (recent + [loss.item()])[-50:]
        if step % config.eval_every == 0:
            curve.append({"step": step, "train_loss": round(float(np.mean(recent)), 5), "eval_loss": round(eval_loss, 5)})
        if progress is not None and (step % 10 == 0 or step == config.steps - 1):
            progress.write(_bar(step + 1, config.steps, float(np.mean(recent)), eval_loss, time.perf_counter() - start))
            progress.flush()
    seconds = time.perf_counter() - start
    curve.append({"step": config.steps, "train_loss": round(float(np.mean(recent)), 5), "eval_loss": round(eval_loss, 5)})
    if progress is not None:
        progress.write("\n")
    model = to_model(module)
    card = {
        "name": config.name,
        "description": config.description,
        "architecture": {"layers": len(config.heads), "heads": list(config.heads), "d_model": config.d_model,
                         "d_head": config.d_head, "n_vocab": config.data.n_vocab, "n_ctx": config.data.n_ctx,
                         "positional": config.positional, "score_scale": model.score_scale, "layer_norm": False,
                         "biases": False, "attention_only": True},
        "training": {**config.to_json(), "seconds": round(seconds, 1), "torch": torch.__version__},
        "final_loss": {"train": curve[-1]["train_loss"], "held_out": curve[-1]["eval_loss"]},
        "evaluation": evaluate(model, grammar, np.random.default_rng([config.seed, 3])),
        "loss_curve": curve,
        "vocabulary": list(grammar.vocabulary),
        "triples": [[int(x) for x in t] for t in grammar.triples],
        "triple_strings": grammar.triple_strings(),
    }
    card_path = None
    if out is not None:
        write_arrays(model_arrays(model), out)  # float64: the float32 weights exactly, computed on as float64
        card_path = out.with_suffix(".json")
        try:
            card_path.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise TrainingError(f"cannot write {card_path}: {exc}") from None
    return TrainResult(model, card, out, card_path)


def with_steps(config: TrainConfig, steps: int) -> TrainConfig:
    """``config`` trained for ``steps`` steps instead (evaluation interval kept ≤ steps)."""
    if steps < 1:
        raise TrainingError(f"steps must be positive; got {steps}")
    return replace(config, steps=steps, eval_every=min(config.eval_every, steps))
