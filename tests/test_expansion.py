"""Path expansion: terms sum to the algebra's product and to the model's logits and scores; counts are exact."""

from __future__ import annotations

import time
from collections import Counter
from itertools import combinations, groupby, islice
from math import comb, prod

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensoralg.algebra.architecture import Architecture
from tensoralg.errors import ArchitectureError
from tensoralg.paths.expansion import (
    MLP,
    POSITION,
    TOKEN,
    Path,
    PathTerm,
    ScoreTerm,
    TermValues,
    iter_logit_terms,
    iter_score_terms,
    logit_family,
    paths_into,
    residual_operator,
    score_family,
    sources,
    unexpanded_logits,
    unexpanded_scores,
)
from tensoralg.algebra.expr import Identity, Tensor, atom, sum_of
from tensoralg.models.model import AttentionLayer, random_model, with_weights
from tensoralg.verify.strategies import architectures, causal_patterns, seeds
from tensoralg.algebra.symbols import standard_symbol as s
from tensoralg.paths.term_counts import elementary_symmetric, logit_counts, path_counts, score_counts, total

W_U, W_E = atom(s("W_U")), atom(s("W_E"))
Id = Identity("n_ctx")


def A(l, h):
    return atom(s("A", l, h))


def OV(l, h):
    return atom(s("W_OV", l, h))


def source_of(path):
    return path.source, path.source_layer


def model_for(arch, seed, n_vocab=5, n_ctx=5):
    """A random model of the architecture (MLPs only where it has them), small dimensions."""
    rng = np.random.default_rng(seed)
    model = random_model(rng, arch.heads, d_model=4, d_head=2, n_vocab=n_vocab, n_ctx=n_ctx,
                         positional=arch.positional, mlp=True, d_mlp=6)
    return with_weights(model, mlps=tuple(m if flag else None for m, flag in zip(model.mlps, arch.mlp)))


def close(a, b):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(b).max())))


# --- counts ---------------------------------------------------------------------------------


def brute_e(values, k):
    return sum(prod(c) for c in combinations(values, k))


@given(st.lists(st.integers(0, 6), max_size=6), st.integers(0, 7))
def test_elementary_symmetric_polynomials(values, top):
    e = elementary_symmetric(values)
    assert e == tuple(brute_e(values, k) for k in range(len(values) + 1))
    assert sum(e) == prod(1 + v for v in values)
    assert elementary_symmetric(values, top) == e[: top + 1]


@given(arch=architectures(mlp=None), max_order=st.none() | st.integers(0, 4))
def test_counts_equal_enumeration_and_the_formulas(arch, max_order):
    terms = list(iter_logit_terms(arch, max_order))
    counted = Counter((t.order, "mlp" if t.source == MLP else t.source) for t in terms)
    assert {(k, src): n for k, c in logit_counts(arch, max_order) for src, n in c.items()} == dict(counted)
    assert all(t.order <= (max_order if max_order is not None else arch.n_layers) for t in terms)
    # C12: Π(1+|H_l|) paths per embedding, e_k of order k; each MLP feeds the layers after it.
    bound = arch.n_layers if max_order is None else max_order
    e = elementary_symmetric(arch.heads)
    embedded = sum(e[: bound + 1]) * (2 if arch.positional else 1)
    from_mlps = sum(sum(elementary_symmetric(arch.heads[m + 1:])[: bound + 1]) for m in arch.mlp_layers)
    assert len(terms) == total(logit_counts(arch, max_order)) == embedded + from_mlps
    if max_order is None:
        assert sum(e) == prod(1 + h for h in arch.heads)
    assert len(set(terms)) == len(terms)


@given(arch=architectures(max_heads=3, mlp=None), data=st.data())
def test_score_counts_are_squares(arch, data):
    layer = data.draw(st.sampled_from([l for l in range(arch.n_layers)]))
    per_side = total(path_counts(arch, layer))
    assert total(score_counts(arch, layer)) == per_side**2
    if not arch.positional and not any(arch.mlp):
        assert per_side == prod(1 + h for h in arch.heads[:layer])  # C14: (Π_{l'<l}(1+|H_l'|))²
    if arch.heads[layer]:
        terms = list(iter_score_terms(arch, layer, 0))
        assert len(terms) == per_side**2 == len(set(terms))
        counted = Counter((t.query_order, t.key_order) for t in terms)
        assert {(a, b): n for a, b, n in score_counts(arch, layer)} == dict(counted)


def test_twelve_by_twelve_counts_are_instant_and_generation_is_lazy():
    arch = Architecture((12,) * 12, positional=True)
    start = time.perf_counter()
    counts = logit_counts(arch)
    scores = score_counts(arch, 11)
    elapsed = time.perf_counter() - start
    assert total(counts) == 2 * 13**12
    assert dict(counts)[3] == {"token": comb(12, 3) * 12**3, "position": comb(12, 3) * 12**3}
    assert total(scores) == (2 * 13**11) ** 2
    assert elapsed < 0.05
    first = list(islice(iter_logit_terms(arch), 5))
    assert [(t.order, t.source) for t in first] == [(0, TOKEN), (0, POSITION), (1, TOKEN), (1, POSITION), (1, TOKEN)]
    assert next(iter_score_terms(arch, 11, 11)).family == "direct"
    assert time.perf_counter() - start < 1.0


@given(arch=architectures(max_heads=3, mlp=None), data=st.data())
def test_each_chain_lists_the_sources_before_its_first_head_in_source_order(arch, data):
    stop = data.draw(st.none() | st.integers(0, arch.n_layers), label="stop")
    end = arch.n_layers if stop is None else stop
    reach = sources(arch, stop)
    assert reach[0] == (TOKEN, None) and ((POSITION, None) in reach) == arch.positional
    assert [m for src, m in reach if src == MLP] == [m for m in arch.mlp_layers if m < end]
    for k in range(end + 1):
        groups = [(heads, [source_of(p) for p in group]) for heads, group in groupby(paths_into(arch, stop, k), lambda p: p.heads)]
        assert len({heads for heads, _ in groups}) == len(groups)  # a chain's sources are consecutive
        for heads, found in groups:
            first = heads[0][0] if heads else end
            assert found == [src for src in reach if src[1] is None or src[1] < first]
    # The counts list their sources in the same order (the JSON of --count keeps it).
    kinds = list(dict.fromkeys(src for src, _ in reach))
    for _, by_source in path_counts(arch, stop):
        assert list(by_source) == [kind for kind in kinds if kind in by_source]


def test_families_by_order():
    """C11/C12: order 0 direct, 1 single-head, ≥ 2 virtual; C14: which side passes a head."""
    assert [logit_family(k) for k in range(5)] == ["direct", "single-head", "virtual", "virtual", "virtual"]
    assert logit_family(1) != logit_family(2)
    assert {(a, b): score_family(a, b) for a in range(3) for b in range(3)} == {
        (a, b): ("Q&K-composition" if a and b else "Q-composition" if a else "K-composition" if b else "direct")
        for a in range(3)
        for b in range(3)
    }
    assert score_family(1, 0) != score_family(0, 1)


# --- the expansion is the algebra's product, multiplied out -----------------------------


@settings(max_examples=30)
@given(arch=architectures(max_heads=3, mlp=None))
def test_logit_terms_sum_to_the_unexpanded_product(arch):
    terms = list(iter_logit_terms(arch))
    for src in sources(arch):
        exprs = [t.expr for t in terms if source_of(t) == src]
        product = unexpanded_logits(arch, *src)
        assert sum_of(exprs, product.shape) == product
        # Every term is one basis element of the free algebra, with coefficient 1.
        assert all(list(e.normal_form.terms.values()) == [1] for e in exprs)
        assert len(product.normal_form) == len(exprs)


@settings(max_examples=25)
@given(arch=architectures(max_layers=3, max_heads=2, mlp=None), data=st.data())
def test_score_terms_sum_to_the_bilinear_form(arch, data):
    layer = data.draw(st.sampled_from([l for l, h in enumerate(arch.heads) if h] or [None]))
    if layer is None:
        return
    head = data.draw(st.integers(0, arch.heads[layer] - 1))
    terms = list(iter_score_terms(arch, layer, head))
    for q in sources(arch, layer):
        for k in sources(arch, layer):
            exprs = [t.expr for t in terms if source_of(t.query) == q and source_of(t.key) == k]
            form = unexpanded_scores(arch, layer, head, q, k)
            assert sum_of(exprs, form.shape) == form
            assert len(form.normal_form) == len(exprs)


def test_wrong_ordering_is_refuted():
    arch = Architecture((2, 2))
    product = unexpanded_logits(arch)
    terms = [t.expr for t in iter_logit_terms(arch)]
    assert sum_of(terms, product.shape) == product
    wrong_ov = [
        Tensor((t.positional_factor(), W_U @ OV(*t.heads[0]) @ OV(*t.heads[1]) @ W_E)) if t.order == 2 else t.expr
        for t in iter_logit_terms(arch)
    ]
    wrong_patterns = [
        Tensor((A(*t.heads[0]) @ A(*t.heads[1]), t.residual_chain())) if t.order == 2 else t.expr
        for t in iter_logit_terms(arch)
    ]
    assert sum_of(wrong_ov, product.shape) != product
    assert sum_of(wrong_patterns, product.shape) != product
    assert sum_of(terms[:-1], product.shape) != product


def test_two_layers_equal_c11_term_by_term():
    """C11: Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗W_U W_OV^h W_E + Σ A^{h2}A^{h1}⊗W_U W_OV^{h2} W_OV^{h1} W_E."""
    arch = Architecture((2, 3))
    H1, H2 = [(0, h) for h in range(2)], [(1, h) for h in range(3)]
    c11 = [("direct", Tensor((Id, W_U @ W_E)))]
    c11 += [("single-head", Tensor((A(*h), W_U @ OV(*h) @ W_E))) for h in H1 + H2]
    c11 += [("virtual", Tensor((A(*h2) @ A(*h1), W_U @ OV(*h2) @ OV(*h1) @ W_E))) for h1 in H1 for h2 in H2]
    generated = [(t.family, t.expr) for t in iter_logit_terms(arch)]
    assert len(generated) == 1 + 2 + 3 + 2 * 3
    assert Counter((f, e.normal_form) for f, e in generated) == Counter((f, e.normal_form) for f, e in c11)
    # The refuted variants of C11 are not among the terms.
    norms = {e.normal_form for _, e in generated}
    for h1 in H1:
        for h2 in H2:
            assert Tensor((A(*h2) @ A(*h1), W_U @ OV(*h1) @ OV(*h2) @ W_E)).normal_form not in norms
            assert Tensor((A(*h1) @ A(*h2), W_U @ OV(*h2) @ OV(*h1) @ W_E)).normal_form not in norms


def test_layer_two_scores_equal_c14_term_by_term():
    """C14 for a head of the second layer (index 1): (1+|H1|)² terms in four families."""
    arch = Architecture((3, 2))
    QK = atom(s("W_QK", 1, 1))
    H1 = [(0, h) for h in range(3)]
    c14 = [("direct", Tensor((Id, Id, W_E.T @ QK @ W_E)))]
    c14 += [("Q-composition", Tensor((A(*h), Id, W_E.T @ OV(*h).T @ QK @ W_E))) for h in H1]
    c14 += [("K-composition", Tensor((Id, A(*h), W_E.T @ QK @ OV(*h) @ W_E))) for h in H1]
    c14 += [
        ("Q&K-composition", Tensor((A(*hq), A(*hk), W_E.T @ OV(*hq).T @ QK @ OV(*hk) @ W_E)))
        for hq in H1
        for hk in H1
    ]
    generated = [(t.family, t.expr) for t in iter_score_terms(arch, 1, 1)]
    assert len(generated) == (1 + 3) ** 2
    assert Counter((f, e.normal_form) for f, e in generated) == Counter((f, e.normal_form) for f, e in c14)
    assert [f for f, _ in generated][:7] == ["direct"] + ["Q-composition"] * 3 + ["K-composition"] * 3
    swapped = Tensor((A(0, 0), Id, W_E.T @ QK @ OV(0, 0) @ W_E))  # the pattern on the wrong side
    assert swapped.normal_form not in {e.normal_form for _, e in generated}


def test_positional_twins_and_mlp_sources():
    arch = Architecture((1, 2), positional=True, mlp=(True, False))
    terms = list(iter_logit_terms(arch))
    token = [t.heads for t in terms if t.source == TOKEN]
    assert token == [t.heads for t in terms if t.source == POSITION]
    assert [t.heads for t in terms if t.source == MLP] == [(), ((1, 0),), ((1, 1),)]
    assert str(next(t for t in terms if t.source == MLP and t.heads).expr) == "A^{1,0} ⊗ W_U W_OV^{1,0} MLP^{0}"
    assert str(PathTerm((), POSITION).expr) == "Id ⊗ W_U W_pos"


# --- numeric: the terms sum to the model -------------------------------------------------


def draw_inputs(data, arch, seed, n_ctx=5):
    model = model_for(arch, seed, n_ctx=n_ctx)
    n = data.draw(st.integers(1, n_ctx), label="n")
    tokens = np.array(data.draw(st.lists(st.integers(0, model.n_vocab - 1), min_size=n, max_size=n), label="tokens"))
    return model, tokens


@settings(max_examples=40)
@given(arch=architectures(mlp=None), seed=seeds(), data=st.data())
def test_logit_terms_sum_to_the_frozen_pattern_forward_pass(arch, seed, data):
    model, tokens = draw_inputs(data, arch, seed)
    n = tokens.size
    patterns = tuple(
        np.stack([data.draw(causal_patterns(n), label=f"A^{l}") for _ in range(h)]) if h else np.zeros((0, n, n))
        for l, h in enumerate(arch.heads)
    )
    values = TermValues(model, tokens, patterns)
    terms = list(iter_logit_terms(arch))
    reference = values.run.logits
    assert close(sum(values.logits(t) for t in terms), reference)
    # Twin: without the virtual terms the sum misses V-composition (when there is any).
    if any(t.order >= 2 for t in terms):
        partial = sum(values.logits(t) for t in terms if t.order < 2)
        assert not close(partial, reference)


@settings(max_examples=40)
@given(arch=architectures(mlp=None), seed=seeds(), data=st.data())
def test_logit_terms_sum_to_the_true_logits(arch, seed, data):
    model, tokens = draw_inputs(data, arch, seed)
    values = TermValues(model, tokens)
    from tensoralg.models.model import forward

    assert close(sum(values.logits(t) for t in iter_logit_terms(arch)), forward(model, tokens).logits)


@settings(max_examples=25)
@given(arch=architectures(max_heads=3, mlp=None), seed=seeds(), data=st.data())
def test_score_terms_of_every_head_sum_to_its_true_scores(arch, seed, data):
    model, tokens = draw_inputs(data, arch, seed)
    values = TermValues(model, tokens)
    from tensoralg.models.model import causal_softmax, forward

    run = forward(model, tokens)
    for l, heads in enumerate(arch.heads):
        for h in range(heads):
            terms = list(iter_score_terms(arch, l, h))
            scores = sum(values.scores(t) for t in terms)
            assert close(scores, run.scores[l][h])
            # The pattern is softmax* of the scaled sum (the scale applies after the expansion).
            assert close(causal_softmax(model.score_scale * scores), run.patterns[l][h])
            composed = [t for t in terms if t.family == "K-composition"]
            if composed:
                assert not close(sum(values.scores(t) for t in terms if t.family != "K-composition"), run.scores[l][h])


def test_frozen_patterns_differ_from_the_models_own():
    arch = Architecture((2, 2))
    model = model_for(arch, 1)
    tokens = np.array([0, 3, 1, 4])
    uniform = tuple(np.tile(np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None], (2, 1, 1)) for _ in range(2))
    frozen, own = TermValues(model, tokens, uniform), TermValues(model, tokens)
    terms = list(iter_logit_terms(arch))
    assert close(sum(frozen.logits(t) for t in terms), frozen.run.logits)
    assert not close(sum(frozen.logits(t) for t in terms), own.run.logits)


# --- bad input ------------------------------------------------------------------------------


def _biased():
    model = model_for(Architecture((1,)), 0)
    layer = model.layers[0]
    biased = AttentionLayer(layer.W_Q, layer.W_K, layer.W_V, layer.W_O, b_V=np.ones((1, 2)))
    return with_weights(model, layers=(biased,))


BAD = [
    ("unknown-source", lambda: Path((), "embedding"), "a path starts at one of token, position, mlp"),
    ("mlp-without-layer", lambda: Path((), MLP), "only an MLP source has a source layer"),
    ("token-with-layer", lambda: Path((), TOKEN, 0), "only an MLP source has a source layer"),
    ("layers-decrease", lambda: Path(((1, 0), (0, 0))), "increasing layer order"),
    ("same-layer-twice", lambda: Path(((0, 0), (0, 1))), "increasing layer order"),
    ("head-before-mlp", lambda: Path(((0, 0),), MLP, 0), "after its source"),
    ("score-path-too-deep", lambda: ScoreTerm(1, 0, Path(((1, 0),)), Path()), "must stay in earlier layers"),
    ("score-head-missing", lambda: next(iter_score_terms(Architecture((2, 2)), 1, 2)), "there is no head 1.2"),
    ("score-layer-missing", lambda: next(iter_score_terms(Architecture((2, 2)), 2, 0)), "there is no layer 2"),
    ("negative-max-order", lambda: next(iter_logit_terms(Architecture((2,)), -1)), "must be non-negative"),
    ("negative-logit-order", lambda: logit_family(-1), "non-negative; got -1"),
    ("negative-score-order", lambda: score_family(0, -2), "non-negative; got query 0, key -2"),
    ("position-without-embedding", lambda: unexpanded_logits(Architecture((1,)), POSITION), "position is not a source"),
    ("mlp-not-there", lambda: residual_operator(Architecture((1, 1), mlp=(False, True)), 1, MLP, 1), "mlp 1 is not a source of layer 1"),
    ("layer-norm", lambda: TermValues(with_weights(model_for(Architecture((1,)), 0), layer_norm=True), np.array([0])), "without LayerNorm"),
    ("biases", lambda: TermValues(_biased(), np.array([0])), "layer 0 has b_V"),
    ("model-lacks-position", lambda: TermValues(model_for(Architecture((1,)), 0), np.array([0])).state(Path((), POSITION)), "no position source"),
    ("model-lacks-head", lambda: TermValues(model_for(Architecture((1,)), 0), np.array([0])).state(Path(((0, 3),))), "no head 0.3"),
]


@pytest.mark.parametrize("build, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_terms_are_refused(build, message):
    with pytest.raises(ArchitectureError) as info:
        build()
    assert message in str(info.value)


def test_the_largest_drawn_architecture_sums_exactly():
    """4 layers × 4 heads with W_pos and an MLP after every layer: logits and every head's scores."""
    from tensoralg.models.model import forward

    arch = Architecture((4, 4, 4, 4), positional=True, mlp=True)
    model = model_for(arch, 7)
    tokens = np.array([4, 0, 2, 2, 1])
    values, run = TermValues(model, tokens), forward(model, tokens)
    assert close(sum(values.logits(t) for t in iter_logit_terms(arch)), run.logits)
    for l in range(4):
        for h in range(4):
            assert close(sum(values.scores(t) for t in iter_score_terms(arch, l, h)), run.scores[l][h])


def test_term_values_are_immutable():
    import dataclasses

    from tensoralg.models.model import random_model

    model = random_model(np.random.default_rng(0), heads=(1,), n_ctx=4)
    values = TermValues(model, np.array([0, 1, 2]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        values.tokens = np.array([3])
