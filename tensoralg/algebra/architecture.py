"""Architecture descriptions: heads per layer, positional embedding, MLP layers.

An architecture fixes which terms a path expansion has: layer l (0-based) has
|H_l| attention heads, the residual stream optionally starts with a positional
embedding W_pos besides W_E, and layer l is optionally followed by an MLP, an
opaque nonlinear writer to the residual stream. Layers and heads are 0-based, as
in the symbols: A^{1,0} is head 0 of the second layer (CLAIMS.md's "layer 2").

>>> arch = Architecture.parse("4,4", positional=True)
>>> arch
Architecture(heads=(4, 4), positional=True, mlp=(False, False))
>>> arch.describe()
'heads 4,4 with positional embedding'
>>> arch.parse_head("1.3")
(1, 3)
>>> Architecture.parse("2,-1")
Traceback (most recent call last):
...
tensoralg.errors.ArchitectureError: heads per layer must be non-negative integers; got '-1' in '2,-1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from ..errors import ArchitectureError


class ModelLike(Protocol):
    """What :meth:`Architecture.from_model` reads of a numeric model (``tensoralg.models.model.Model``)."""

    @property
    def heads(self) -> Sequence[int]: ...

    @property
    def W_pos(self) -> Any: ...

    @property
    def mlps(self) -> Sequence[Any]: ...


#: The most layers an architecture may have; counting is quadratic in the layers,
#: and no published transformer comes near it.
MAX_LAYERS = 1024
#: The most heads one layer may have: term generation lists a layer's heads, and the
#: largest published models have a few hundred per layer.
MAX_HEADS = 65536


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    """Heads per layer, whether there is a positional embedding, and which layers have an MLP.

    ``mlp`` is one flag per layer (layer l's MLP runs after its attention); a single
    bool means every layer or none.
    """

    heads: tuple[int, ...]
    positional: bool = False
    mlp: tuple[bool, ...] | bool = False

    def __post_init__(self) -> None:
        heads = tuple(self.heads)
        if not all(_is_int(h) and h >= 0 for h in heads):
            raise ArchitectureError(f"heads per layer must be non-negative integers; got {list(heads)}")
        if len(heads) > MAX_LAYERS:
            raise ArchitectureError(f"at most {MAX_LAYERS} layers are supported; got {len(heads)}")
        if heads and max(heads) > MAX_HEADS:
            raise ArchitectureError(f"at most {MAX_HEADS} heads per layer are supported; got {max(heads)}")
        if not isinstance(self.positional, bool):
            raise ArchitectureError(f"positional must be True or False; got {self.positional!r}")
        mlp = (self.mlp,) * len(heads) if isinstance(self.mlp, bool) else tuple(self.mlp)
        if len(mlp) != len(heads) or not all(isinstance(m, bool) for m in mlp):
            raise ArchitectureError(
                f"mlp needs one True/False flag per layer ({len(heads)} layers); got {list(mlp)}"
            )
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "mlp", mlp)

    @property
    def n_layers(self) -> int:
        return len(self.heads)

    @property
    def mlp_layers(self) -> tuple[int, ...]:
        """The layers followed by an MLP."""
        return tuple(l for l, m in enumerate(self.mlp) if m)

    @classmethod
    def parse(cls, heads: str, *, layers: int | None = None, positional: bool = False, mlp: bool = False) -> "Architecture":
        """From the command line's spelling: ``"4,4"``, or ``layers=L`` with ``heads="H"``.

        >>> Architecture.parse("3", layers=2).heads
        (3, 3)
        """
        parts = [p.strip() for p in heads.split(",")]
        for part in parts:
            if not re.fullmatch(r"-?[0-9]+", part):
                raise ArchitectureError(f"heads per layer are comma-separated integers like 4,4; got {part!r} in {heads!r}")
            if int(part) < 0:
                raise ArchitectureError(f"heads per layer must be non-negative integers; got {part!r} in {heads!r}")
        counts = tuple(int(p) for p in parts)
        if layers is not None:
            if not _is_int(layers) or layers < 0:
                raise ArchitectureError(f"the number of layers must be a non-negative integer; got {layers!r}")
            if len(counts) != 1:
                raise ArchitectureError(f"with --layers {layers}, --heads takes one number (heads in each layer); got {heads!r}")
            if layers > MAX_LAYERS:
                raise ArchitectureError(f"at most {MAX_LAYERS} layers are supported; got {layers}")
            counts = counts * layers
        return cls(counts, positional=positional, mlp=mlp)

    @classmethod
    def from_model(cls, model: ModelLike) -> "Architecture":
        """The architecture of a numeric model (its heads, W_pos and MLP slots)."""
        return cls(model.heads, positional=model.W_pos is not None, mlp=tuple(m is not None for m in model.mlps))

    def check_head(self, layer: int, head: int) -> None:
        """Raise ArchitectureError unless head ``head`` of layer ``layer`` exists."""
        if not (_is_int(layer) and 0 <= layer < self.n_layers):
            raise ArchitectureError(
                f"there is no layer {layer}: layers are 0-based and this architecture has {self.n_layers} "
                f"({self.spell_heads()})"
            )
        if not (_is_int(head) and 0 <= head < self.heads[layer]):
            raise ArchitectureError(
                f"there is no head {layer}.{head}: layer {layer} has {self.heads[layer]} head(s), numbered from 0"
            )

    def parse_head(self, text: str) -> tuple[int, int]:
        """``"LAYER.HEAD"`` (0-based) as (layer, head), checked against the architecture."""
        layer, dot, head = text.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise ArchitectureError(f"a head is written LAYER.HEAD with 0-based integers, like 1.0; got {text!r}")
        self.check_head(int(layer), int(head))
        return int(layer), int(head)

    def spell_heads(self) -> str:
        """``heads 4,4``, or ``12 layers × 12 heads`` when more than two layers have the same heads."""
        if not self.heads:
            return "0 layers"
        if len(self.heads) > 2 and len(set(self.heads)) == 1:
            return f"{len(self.heads)} layers × {self.heads[0]} heads"
        return "heads " + ",".join(map(str, self.heads))

    def describe(self) -> str:
        """A short human description, e.g. ``heads 4,4 with positional embedding``."""
        extras = []
        if self.positional:
            extras.append("positional embedding")
        if any(self.mlp):
            extras.append("MLPs after layers " + ",".join(map(str, self.mlp_layers)))
        return self.spell_heads() + (" with " + " and ".join(extras) if extras else "")

    def to_json(self) -> dict[str, Any]:
        """``{"heads": [...], "positional": bool, "mlp": [bool per layer]}``."""
        return {"heads": list(self.heads), "positional": self.positional, "mlp": list(self.mlp)}
