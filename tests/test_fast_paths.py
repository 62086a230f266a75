"""The fast paths behind ``tensoralg analyze`` against plain float64 reference computations:
the batched streaming forward pass, behavioural scores, previous-token scores, the chunked
n_vocab-long products, the composition baseline's exact RMS, and one token's OV column."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.cli import main
from tensoralg.models.circuits import head_weights, ov_circuits, wide_product
from tensoralg.models.composition import random_baseline
from tensoralg.models.induction import _strict_top, behavioural_scores, previous_token_scores
from tensoralg.models.model import LayerRun, causal_softmax, forward, iter_layers, random_model
from tensoralg.models.weights import save_weights
from tensoralg.verify.strategies import seeds, small_models


@settings(max_examples=20)
@given(small_models(), seeds(), st.integers(1, 3))
def test_batched_run_is_each_sequence_run_alone(model, seed, S):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, model.n_vocab, size=(S, model.n_ctx))
    *runs, final = iter_layers(model, tokens)
    assert all(isinstance(r, LayerRun) for r in runs) and final.shape == (S, model.n_ctx, model.d_model)
    for s in range(S):
        alone = forward(model, tokens[s])
        for l, run in enumerate(runs):
            np.testing.assert_allclose(run.patterns[s], alone.patterns[l], atol=1e-12)
            np.testing.assert_allclose(run.head_outputs[s], alone.head_outputs[l], atol=1e-10)
        np.testing.assert_allclose(final[s], alone.residuals[-1], atol=1e-10)
        np.testing.assert_allclose(alone.patterns[0], causal_softmax(model.score_scale * alone.scores[0]), atol=1e-12)
    assert forward(model, tokens[0], logits=False).logits is None


def _brute_strict_top(X, own, W_U):
    logits = np.einsum("rd,td->rt", X, W_U.astype(np.float64))
    mine = logits[np.arange(len(own)), own]
    return (logits >= mine[:, None]).sum(axis=1) == 1


@given(seeds(), st.integers(1, 40), st.integers(2, 300), st.sampled_from([np.float32, np.float64]))
def test_chunked_strict_top_equals_the_float64_brute_force(seed, rows, n_vocab, dtype):
    rng = np.random.default_rng(seed)
    d = 6
    W_U = rng.normal(size=(n_vocab, d)).astype(dtype)
    W_U[n_vocab // 2] = W_U[0]  # an exact tie: token 0 can never be strictly on top
    X = rng.normal(size=(rows, d))
    own = rng.integers(0, n_vocab, size=rows)
    X[: rows // 2] = 5 * W_U[own[: rows // 2]]  # rows that do copy
    got = _strict_top(X, own, W_U, np.linalg.norm(W_U, axis=1), first=7, chunk=50)
    np.testing.assert_array_equal(got, _brute_strict_top(X, own, W_U))


def _reference_behaviour(model, rng, T, sequences):
    """The plain algorithm: one float64 forward pass per sequence, every head's full W_U product."""
    prefix, copying = np.zeros(sum(model.heads)), np.zeros(sum(model.heads))
    second = np.arange(T, 2 * T)
    firsts = [rng.choice(model.n_vocab, size=T, replace=T > model.n_vocab) for _ in range(sequences)]
    for first in firsts:
        tokens = np.concatenate([first, first])
        run = forward(model, tokens)
        start = 0
        for pattern, out in zip(run.patterns, run.head_outputs):
            heads = slice(start, start + pattern.shape[0])
            start += pattern.shape[0]
            prefix[heads] += pattern[:, second, second - T + 1].mean(axis=-1)
            direct = out[:, second] @ np.asarray(model.W_U, np.float64).T
            own = np.take_along_axis(direct, tokens[pattern[:, second].argmax(axis=-1)][..., None], axis=-1)
            copying[heads] += ((direct >= own).sum(axis=-1) == 1).mean(axis=-1)
    return prefix / sequences, copying / sequences


@settings(max_examples=15)
@given(small_models(), seeds())
def test_behavioural_scores_equal_the_plain_algorithm(model, seed):
    T = model.n_ctx // 2
    if T < 2:
        return
    got = behavioural_scores(model, np.random.default_rng(seed), T, sequences=3)
    prefix, copying = _reference_behaviour(model, np.random.default_rng(seed), T, 3)
    np.testing.assert_allclose(got.prefix_matching, prefix, atol=1e-12)
    np.testing.assert_array_equal(got.copying, copying)


@settings(max_examples=15)
@given(small_models(), st.booleans())
def test_previous_token_scores_read_the_dense_softmax(model, single):
    heads = head_weights(model, dtype=np.float32 if single else np.float64)
    P = np.asarray(heads.W_pos, np.float64)
    S = (P.T @ np.swapaxes(heads.W_Q, -1, -2).astype(np.float64)) @ (heads.W_K.astype(np.float64) @ P)
    expected = np.diagonal(causal_softmax(heads.score_scale * S), offset=-1, axis1=-2, axis2=-1).mean(axis=-1)
    np.testing.assert_allclose(previous_token_scores(heads, group=2), expected, atol=1e-5 if single else 1e-12)


@given(seeds(), st.integers(1, 9000))
def test_wide_product_is_the_float64_product_of_float32_inputs(seed, n):
    rng = np.random.default_rng(seed)
    left, right = rng.normal(size=(5, n)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)
    exact = left.astype(np.float64) @ right.astype(np.float64)
    got = wide_product(left, right, chunk=1000)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-12 * np.sqrt(n))


def test_baseline_rms_is_exactly_one_over_root_d_model_and_the_sample_agrees():
    """E[score²] = 1/d_model for rotation-invariant random heads; the sampled mean square is an estimate of it."""
    d = 12
    base = random_baseline(d, 3, np.random.default_rng(0), samples=2000)
    for b in base.values():
        assert b.rms == pytest.approx(1 / np.sqrt(d))
        sample_ms = b.mean**2 + b.std**2 * (b.samples - 1) / b.samples
        # the sample mean square lies within a few standard errors of 1/d
        assert abs(sample_ms - 1 / d) < 5 * b.std * 2 * b.rms / np.sqrt(b.samples)
        assert b.mean < b.rms  # Jensen: E[s] ≤ √E[s²]


def test_token_option_lists_the_dense_column(tmp_path, capsys):
    model = random_model(np.random.default_rng(0), heads=(2, 1), d_model=8, d_head=2, n_vocab=30, n_ctx=8, positional=True)
    path = tmp_path / "m.npz"
    save_weights(model, path)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(f"tok{i}" for i in range(30)))
    assert main(["analyze", str(path), "--json", "--no-behaviour", "--token", "tok7", "--vocab", str(vocab)]) == 0
    report = json.loads(capsys.readouterr().out)["token"]
    dense = ov_circuits(head_weights(model)).dense()[:, :, 7]
    assert report["token"] == 7 and report["string"] == "tok7"
    for h, entry in enumerate(report["heads"]):
        assert [e["token"] for e in entry["top"]] == list(np.argsort(-dense[h], kind="stable")[:5])
        assert entry["top"][0]["string"] == f"tok{entry['top'][0]['token']}"
        assert entry["own_rank"] == int((dense[h] > dense[h, 7]).sum())
    assert main(["analyze", str(path), "--no-behaviour", "--token", "12"]) == 0
    assert "token 12 'tok12'" not in capsys.readouterr().out  # no vocab.json beside m.npz
    (tmp_path / "vocab.json").write_text(json.dumps({f"w{i}": i for i in range(30)}))
    assert main(["analyze", str(path), "--no-behaviour", "--token", "w12"]) == 0
    assert "token 12 'w12'" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--token", "99"], "out of range"),
    (["--token", "hello"], "not a token id"),
    (["--token", "1", "--vocab", "/nonexistent/vocab.txt"], "cannot read the vocabulary"),
    (["--token", "1", "--vocab", "BAD_JSON"], "cannot read the vocabulary"),
], ids=["token-out-of-range", "token-string-without-vocab", "missing-vocab", "vocab-json-not-a-mapping"])
def test_bad_token_options(tmp_path, capsys, argv, message):
    path = tmp_path / "m.npz"
    save_weights(random_model(np.random.default_rng(0), heads=(1,), n_vocab=30), path)
    (tmp_path / "bad.json").write_text('["a", "b"]')
    argv = [str(tmp_path / "bad.json") if a == "BAD_JSON" else a for a in argv]
    assert main(["analyze", str(path), "--no-behaviour", *argv]) == 2
    assert message in capsys.readouterr().err


def test_timings_go_to_stderr(tmp_path, capsys):
    path = tmp_path / "m.npz"
    save_weights(random_model(np.random.default_rng(0), heads=(1, 1), n_vocab=30, positional=True), path)
    assert main(["analyze", str(path), "--json", "-v"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert all(phase in captured.err for phase in ("load", "spectra", "composition", "behaviour", "total"))


@pytest.mark.parametrize("d_model, d_head", [(16, 2), (24, 4), (9, 4)])
def test_small_piece_baseline_has_the_law_of_full_gaussian_heads(d_model, d_head):
    """The d_head × d_head sampler and full Gaussian heads agree in mean and spread (two-sample check)."""
    from tensoralg.models.composition import _direct_scores, _sampled_scores

    n = 1500
    fast = _sampled_scores(d_model, d_head, np.random.default_rng(1), n)
    full = _direct_scores(d_model, d_head, np.random.default_rng(2), n, np.float64)
    for mode in full:
        error = np.sqrt(fast.var() / n + mode.var() / n)
        assert abs(fast.mean() - mode.mean()) < 5 * error
        assert abs(fast.std() - mode.std()) < 0.15 * mode.std()
    assert abs((fast**2).mean() - 1 / d_model) < 5 * (fast**2).std() / np.sqrt(n)


def test_phase_progress_is_one_rewritten_line():
    import io
    import sys

    from tensoralg.cli.analyze import Phases

    phases, saved = Phases(progress=True), sys.stderr
    sys.stderr = io.StringIO()
    try:
        with phases("composition"):
            phases.step(1, 3)
            phases.step(3, 3)
        written = sys.stderr.getvalue()
    finally:
        sys.stderr = saved
    assert written.startswith("analyze: composition …\ranalyze: composition … 1/3\ranalyze: composition … 3/3 ")
    assert written.endswith(" s\n") and "composition" in phases.table() and set(phases.times) == {"composition"}


@settings(max_examples=10)
@given(small_models(max_layers=4), seeds())
def test_composition_equals_all_pairs_factored_products_in_any_head_order(model, seed):
    """One GEMM per reader layer (writers chunked) against TransformerLens-style batched FactoredMatrix
    products of every pair; permuting the heads permutes the scores."""
    from tensoralg.models.circuits import HeadWeights
    from tensoralg.models.composition import composition_scores
    from tensoralg.models.factored import FactoredMatrix

    heads = head_weights(model)
    got = composition_scores(heads)
    OV = FactoredMatrix(heads.W_O, heads.W_V)
    QK = FactoredMatrix(np.swapaxes(heads.W_Q, -1, -2), heads.W_K)
    for mode, reader in zip((got.q, got.k, got.v), (QK.T, QK, OV)):
        dense = ((reader.unsqueeze(1) @ OV[None]).norm() / (reader.norm()[:, None] * OV.norm()[None, :])).T
        np.testing.assert_allclose(mode, np.where(got.pairs, dense, 0.0), atol=1e-9)
    perm = np.random.default_rng(seed).permutation(len(heads.labels))
    shuffled = HeadWeights(tuple(heads.labels[i] for i in perm), heads.W_Q[perm], heads.W_K[perm], heads.W_V[perm],
                           heads.W_O[perm], heads.W_E, heads.W_U, heads.W_pos, heads.score_scale)
    np.testing.assert_allclose(composition_scores(shuffled).k, got.k[np.ix_(perm, perm)], atol=1e-12)
