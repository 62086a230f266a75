"""Architectures: parsing the command line's spellings, checking heads, and rejecting what cannot exist."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tensoralg.algebra.architecture import MAX_HEADS, MAX_LAYERS, Architecture
from tensoralg.errors import ArchitectureError, TensoralgError
from tensoralg.models.model import random_model, with_weights
from tensoralg.verify.strategies import architectures, seeds


def test_parse_list_and_uniform_spellings_agree():
    assert Architecture.parse("4,4") == Architecture.parse("4", layers=2) == Architecture((4, 4))
    assert Architecture.parse(" 2, 3 ,1").heads == (2, 3, 1)
    assert Architecture.parse("3", layers=0).heads == ()


def test_flags_broadcast_and_json():
    arch = Architecture.parse("2,0,1", positional=True, mlp=True)
    assert arch.mlp == (True, True, True) and arch.mlp_layers == (0, 1, 2)
    assert arch.to_json() == {"heads": [2, 0, 1], "positional": True, "mlp": [True, True, True]}
    assert Architecture((1, 1), mlp=(False, True)).mlp_layers == (1,)


def test_describe_names_the_parts():
    assert Architecture((4, 4)).describe() == "heads 4,4"
    assert Architecture((12,) * 12).describe() == "12 layers × 12 heads"
    assert Architecture((1, 2), positional=True, mlp=(True, False)).describe() == (
        "heads 1,2 with positional embedding and MLPs after layers 0"
    )


def test_heads_are_zero_based():
    arch = Architecture((2, 3))
    assert arch.parse_head("1.2") == (1, 2)
    assert arch.parse_head("0.0") == (0, 0)
    with pytest.raises(ArchitectureError, match="there is no head 0.2"):
        arch.parse_head("0.2")


@given(arch=architectures(mlp=None), seed=seeds())
def test_architecture_of_a_model(arch, seed):
    model = random_model(np.random.default_rng(seed), arch.heads, d_model=3, d_head=2, n_vocab=4, n_ctx=3,
                         positional=arch.positional, mlp=True, d_mlp=2)
    model = with_weights(model, mlps=tuple(m if flag else None for m, flag in zip(model.mlps, arch.mlp)))
    assert Architecture.from_model(model) == arch


BAD = [
    ("negative-heads", lambda: Architecture.parse("2,-1"), "non-negative integers; got '-1' in '2,-1'"),
    ("not-a-number", lambda: Architecture.parse("2,x"), "comma-separated integers like 4,4; got 'x'"),
    ("empty-entry", lambda: Architecture.parse("2,,2"), "got '' in '2,,2'"),
    ("double-minus", lambda: Architecture.parse("--5"), "got '--5'"),
    ("layers-with-a-list", lambda: Architecture.parse("2,2", layers=3), "--heads takes one number"),
    ("negative-layers", lambda: Architecture.parse("2", layers=-1), "non-negative integer; got -1"),
    ("too-many-layers", lambda: Architecture.parse("1", layers=MAX_LAYERS + 1), f"at most {MAX_LAYERS} layers"),
    ("too-many-heads", lambda: Architecture.parse(f"2,{MAX_HEADS + 1}"), f"at most {MAX_HEADS} heads per layer"),
    ("float-heads", lambda: Architecture((1.5,)), "non-negative integers; got [1.5]"),
    ("bool-heads", lambda: Architecture((True,)), "non-negative integers"),
    ("mlp-flags-length", lambda: Architecture((1, 1), mlp=(True,)), "one True/False flag per layer (2 layers)"),
    ("positional-not-bool", lambda: Architecture((1,), positional="yes"), "positional must be True or False"),
    ("head-malformed", lambda: Architecture((2, 2)).parse_head("1"), "LAYER.HEAD with 0-based integers"),
    ("head-negative", lambda: Architecture((2, 2)).parse_head("-1.0"), "LAYER.HEAD"),
    ("head-missing-layer", lambda: Architecture((2, 2)).parse_head("2.0"), "there is no layer 2: layers are 0-based"),
    ("head-missing-head", lambda: Architecture((2, 0)).parse_head("1.0"), "layer 1 has 0 head(s)"),
]


@pytest.mark.parametrize("build, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_architectures_are_refused(build, message):
    with pytest.raises(ArchitectureError) as info:
        build()
    assert isinstance(info.value, TensoralgError) and isinstance(info.value, ValueError)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
