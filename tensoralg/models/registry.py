"""The trained models shipped inside the package, and weights given by name or by path.

Each shipped model is ``shipped/NAME.safetensors`` (tensoralg naming) with its model card
``shipped/NAME.json``: architecture, the data generator's parameters and seed, training
steps, losses, evaluation figures, and the vocabulary (the token strings). A card may also sit
beside any weights file (``OUT.json`` next to ``OUT.safetensors``, as ``tensoralg train``
writes them), so token strings reach the output for any model that has one.

>>> [m.name for m in shipped_models()]
['attn-only-1l', 'attn-only-2l']
>>> resolve("attn-only-2l").weights.name
'attn-only-2l.safetensors'
>>> resolve("attn-only-1l").vocabulary[:2]
('zora', 'zuga')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError
from .checkpoints import load_checkpoint
from .model import Model

SHIPPED = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True, eq=False)
class WeightsSource:
    """A weights file, the name it was asked for by, and its card (None when there is none)."""

    name: str
    weights: Path
    card: dict | None

    @property
    def vocabulary(self) -> tuple[str, ...] | None:
        """The token strings of the card, if any."""
        return None if self.card is None or "vocabulary" not in self.card else tuple(self.card["vocabulary"])

    def load(self, **options) -> Model:
        """The model (options as for :func:`tensoralg.models.checkpoints.load_checkpoint`)."""
        model = load_checkpoint(self.weights, **options)
        vocabulary = self.vocabulary
        if vocabulary is not None and len(vocabulary) != model.n_vocab:
            raise WeightsError(f"the card {self.weights.with_suffix('.json')} lists {len(vocabulary)} tokens; "
                               f"the weights have n_vocab = {model.n_vocab}")
        return model


def read_card(path: Path) -> dict | None:
    """The model card at ``path``: a JSON object with a ``vocabulary`` list of strings. Another JSON
    file there (not a card) gives None; a card whose vocabulary is not a list of strings, WeightsError."""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the model card {path}: {exc}") from None
    if not isinstance(card, dict) or "vocabulary" not in card:
        return None
    vocabulary = card["vocabulary"]
    if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
        raise WeightsError(f"the model card {path}: vocabulary must be a list of strings")
    return card


def shipped_models() -> tuple[WeightsSource, ...]:
    """Every shipped model, by name."""
    return tuple(WeightsSource(path.stem, path, read_card(path.with_suffix(".json")))
                 for path in sorted(SHIPPED.glob("*.safetensors")))


def resolve(name_or_path: str | Path) -> WeightsSource:
    """A shipped model's name, or a weights file (with its card beside it, if there is one) or a
    checkpoint directory. A weights file or checkpoint directory wins over a shipped name (a
    file or folder of that name that holds no weights, such as ``analyze NAME --plots NAME``'s
    figures, does not); anything else is WeightsError listing the names.
    """
    path = Path(name_or_path)
    is_shipped = (SHIPPED / f"{path.name}.safetensors").is_file() and str(name_or_path) == path.name
    holds_weights = path.suffix in (".npz", ".safetensors") or path.is_dir() and any(
        (path / name).is_file() for name in ("model.safetensors", "model.npz", "model.safetensors.index.json"))
    if path.exists() and (holds_weights or not is_shipped):
        card_path = path.with_suffix(".json")
        card = read_card(card_path) if path.is_file() and card_path.is_file() else None
        return WeightsSource(str(name_or_path), path, card)
    for model in shipped_models():
        if model.name == str(name_or_path):
            return model
    names = ", ".join(m.name for m in shipped_models()) or "none"
    raise WeightsError(f"cannot read {name_or_path}: no such file, and not a shipped model (shipped: {names})")
