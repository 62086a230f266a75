"""C18 — Induction heads, on a two-layer model written down from formulas.

The model (tensoralg.models.toy_models.induction_model, no training): attention-only, two layers
of one head each, positional embeddings, score scale 1, V = 8 tokens, n_ctx = 12. Its
residual stream has four blocks of basis vectors, tok(t), pos(i), prev(t) and out(t):

* L0H0 (layer 0, head 0-based), the previous-token head: query W_Q pos(i) = β u_i, key
  W_K pos(j) = u_{j+1}, so position i attends to i − 1; W_OV = Σ_t prev(t) tok(t)ᵀ copies the
  attended token into the prev block.
* L1H0, the induction head: query W_Q tok(t) = β(u_t + u_c), key W_K prev(t) = u_t (and
  W_K pos(0) = −u_c, as position 0 has no predecessor), so destination i attends to j when
  t_i = t_{j−1}. Its keys read only what L0H0 wrote: K-composition. W_OV tok(t) = out(t),
  W_U out(t) = α e_t: it copies the attended token to the logits.

With A^{0,0} the previous-token pattern, the K-composition term of L1H0's scores (C14) is

    (Id⊗A^{0,0}⊗W_Eᵀ W_QK^{1,0} W_OV^{0,0} W_E)·t = (t W_Eᵀ W_Q^{1,0}ᵀ)(W_K^{1,0} W_OV^{0,0} W_E tᵀ A^{0,0}ᵀ),

query token t_i against the token at j − 1, and its n_vocab × n_vocab circuit is β·Id here:
"same matching", every eigenvalue β > 0. The OV circuit W_U W_OV^{1,0} W_E = α·Id copies.

Checked: the derivations in the algebra; on random sequences [x…][a][b][y…][a], L1H0 puts
its largest weight on [b]'s position, its write raises logit b most, and the model predicts b;
among the 16 terms of L1H0's QK expansion (token and position sources), the K-composition
term through L0H0 contributes more to [b]'s score gap (its score minus the mean of the other
keys) than all the others together; exactly over ℤ (python-flint), the direct QK circuit is 0,
the K-composition circuit's characteristic polynomial is (x − β)^V and the OV circuit's
(x − α)^V; numerically, tensoralg.models.circuits' copying and same-matching scores, the weight-based
detectors of tensoralg.models.induction, and Olsson et al.'s behavioural prefix-matching and copying
scores, all reported. NEGATIVE: with L0H0's positional keys scrambled (a random permutation),
the induction behaviour and the previous-token detection are refuted; on random 2-layer models
the K-composition circuit's eigenvalues are not all positive and the layer-1 head does not
attend to [b].

>>> CLAIM.id
'C18'
"""

from __future__ import annotations

from collections.abc import Sequence

import flint
import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model
from tensoralg.models.circuits import HeadWeights, copying_scores, head_weights, k_composition_qk_circuits, ov_circuits
from tensoralg.paths.expansion import TermValues, iter_score_terms
from tensoralg.algebra.expr import Apply, Bilinear, Identity, Tensor, atom
from tensoralg.models.induction import (
    InductionEvidence,
    PreviousTokenEvidence,
    behavioural_scores,
    induction_evidence,
    previous_token_evidence,
    previous_token_scores,
)
from tensoralg.models.model import Model, forward
from tensoralg.algebra.symbols import declared_symbol, standard_symbol
from tensoralg.models.toy_models import induction_model, scrambled_induction_model

V, N_CTX, BETA, ALPHA = 8, 12, 10, 1
MODEL = induction_model(n_vocab=V, n_ctx=N_CTX, sharpness=float(BETA), logit_scale=float(ALPHA))

W_E, W_U, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "t"))
A_prev, W_OV_prev = atom(standard_symbol("A", 0, 0)), atom(standard_symbol("W_OV", 0, 0))
W_O_prev, W_V_prev = atom(standard_symbol("W_O", 0, 0)), atom(standard_symbol("W_V", 0, 0))
W_QK, W_Q, W_K = (atom(standard_symbol(n, 1, 0)) for n in ("W_QK", "W_Q", "W_K"))
A_ind, W_OV_ind = atom(standard_symbol("A", 1, 0)), atom(standard_symbol("W_OV", 1, 0))
F, G = atom(declared_symbol("F", "d_head", "n_vocab")), atom(declared_symbol("G", "d_head", "n_vocab"))
Id = Identity("n_ctx")


def derive() -> list[Derivation]:
    return [
        Derivation("the K-composition term matches the query token with the previous token", [
            Step(Apply(Bilinear(W_QK, Tensor((Id, W_E)), Tensor((A_prev, W_OV_prev @ W_E))), t)),
            Step(Apply(Tensor((Id, A_prev, W_E.T @ W_QK @ W_OV_prev @ W_E)), t),
                 "(Id⊗Id⊗M)∘(Id⊗W_E, A⊗W_OV W_E) = Id⊗A⊗W_Eᵀ M W_OV W_E"),
            Step(t @ W_E.T @ W_QK @ W_OV_prev @ W_E @ t.T @ A_prev.T, "(A_q⊗A_k⊗M)·t = A_q t M tᵀ A_kᵀ"),
            Step((t @ W_E.T @ W_Q.T) @ (W_K @ W_O_prev @ W_V_prev @ W_E @ t.T @ A_prev.T),
                 "W_QK = W_Qᵀ W_K, W_OV = W_O W_V: queries of t_i against keys written by L0H0"),
        ]),
        Derivation("same matching: the circuit's spectrum comes from d_head × d_head", [
            Step(W_E.T @ W_QK @ W_OV_prev @ W_E),
            Step(W_E.T @ W_Q.T @ W_K @ W_O_prev @ W_V_prev @ W_E, "W_QK = W_Qᵀ W_K, W_OV = W_O W_V"),
            Step(F.T @ G, "the nonzero eigenvalues of FᵀG are those of the d_head × d_head G Fᵀ",
                 given={F.symbol: W_Q @ W_E, G.symbol: W_K @ W_O_prev @ W_V_prev @ W_E}),
        ]),
        Derivation("the induction head's OV path is its copying circuit", [
            Step(Tensor((Id, W_U)) @ Tensor((A_ind, W_OV_ind)) @ Tensor((Id, W_E))),
            Step(Tensor((A_ind, W_U @ W_OV_ind @ W_E)), "mixed product"),
        ]),
    ]


def repeated_sequence(rng: np.random.Generator, n_vocab: int, n_ctx: int) -> tuple[np.ndarray, int, int]:
    """[x…][a][b][y…][a] with a only at those two places (never at position 0): tokens, [b]'s position, b."""
    n = int(rng.integers(5, n_ctx + 1))
    a, b = (int(x) for x in rng.choice(n_vocab, size=2, replace=False))
    others = np.array([x for x in range(n_vocab) if x != a])
    tokens = rng.choice(others, size=n)
    first = int(rng.integers(1, n - 2))  # [a] at first, [b] at first + 1, the second [a] last
    tokens[first], tokens[first + 1], tokens[-1] = a, b, a
    return tokens, first + 1, b


def _induction_failure(model: Model, rng: np.random.Generator, sequences: int = 4, *,
                       attention_only: bool = False) -> Mismatch | None:
    """The first of ``sequences`` drawn [x…][a][b][y…][a] on which L1H0's largest weight is not on [b],
    or (unless ``attention_only``) its write does not raise b most or the model does not predict b."""
    for _ in range(sequences):
        tokens, where, b = repeated_sequence(rng, model.n_vocab, model.n_ctx)
        run = forward(model, tokens)
        pattern = run.patterns[1][0, -1]
        found, expected = {"L1H0 attends to position": int(pattern.argmax())}, {"L1H0 attends to position": where}
        if not attention_only:
            write = run.head_outputs[1][0, -1] @ model.W_U.T
            found |= {"its write raises token": int(write.argmax()), "the model predicts": int(run.logits[-1].argmax())}
            expected |= {"its write raises token": b, "the model predicts": b}
        if found != expected:
            wrong = [k for k in found if found[k] != expected[k]]
            return Mismatch(", ".join(f"{k} {found[k]}" for k in wrong), ", ".join(f"{k} {expected[k]}" for k in wrong),
                            dims={"n_ctx": tokens.size, "n_vocab": model.n_vocab}, field="float64",
                            note=f"tokens {tokens.tolist()}: [a] = {tokens[-1]}, [b] = {b} at position {where}; "
                            f"L1H0's weights on the last row {np.round(pattern, 3).tolist()}")
    return None


def _k_composition_shares(model: Model, tokens: np.ndarray, where: int) -> dict[str, float]:
    """Each score term's part of S[last, [b]] − mean of S[last, j ≠ [b]] for L1H0 (they sum to the whole gap)."""
    numbers = TermValues(model, tokens)
    others = np.arange(tokens.size) != where
    shares = {}
    for term in iter_score_terms(Architecture.from_model(model), 1, 0):
        row = numbers.scores(term)[-1]
        shares[f"{_side(term.query)}·{_side(term.key)}"] = float(row[where] - row[others].mean())
    return shares


def _side(path) -> str:
    """'t', 'pos', or 'L0H0(t)': the source of a query or key path and the heads it passes."""
    text = {"token": "t", "position": "pos"}[path.source]
    for layer, head in path.heads:
        text = f"L{layer}H{head}({text})"
    return text


#: The K-composition term through the previous-token head: query token, key L0H0(token).
K_TERM = "t·L0H0(t)"


def _k_composition_dominates(rng: np.random.Generator) -> Mismatch | None:
    tokens, where, _ = repeated_sequence(rng, V, N_CTX)
    shares = _k_composition_shares(MODEL, tokens, where)
    rest = sum(abs(v) for k, v in shares.items() if k != K_TERM)
    if not shares[K_TERM] > rest:
        return Mismatch(f"K-composition part {shares[K_TERM]:.4g}", f"> the others' |parts| {rest:.4g}",
                        field="float64", note=f"tokens {tokens.tolist()}: {shares}")
    return None


def _integers(array: np.ndarray) -> flint.fmpz_mat:
    if not np.array_equal(array, np.rint(array)):
        raise ValueError("the induction model's weights must be integers for the exact check")
    return flint.fmpz_mat(array.shape[0], array.shape[1], [int(x) for x in np.rint(array).flat])


def exact_circuits(model: Model) -> dict[str, flint.fmpz_mat]:
    """Direct QK, K-composition QK and OV circuits of L1H0 over ℤ, from the integer weights."""
    l0, l1 = model.layers
    E, U = _integers(model.W_E), _integers(model.W_U)
    Q, K, O, Vv = (_integers(getattr(l1, n)[0]) for n in ("W_Q", "W_K", "W_O", "W_V"))
    OV_prev = _integers(l0.W_O[0]) * _integers(l0.W_V[0])
    return {"direct QK": E.transpose() * Q.transpose() * K * E,
            "K-composition QK": E.transpose() * Q.transpose() * K * OV_prev * E,
            "OV": U * O * Vv * E}


def _exact_spectra(rng: np.random.Generator) -> Mismatch | None:
    circuits = exact_circuits(MODEL)
    x = flint.fmpz_poly([0, 1])
    expected = {"direct QK": flint.fmpz_mat(V, V), "K-composition QK": BETA, "OV": ALPHA}
    if circuits["direct QK"] != expected["direct QK"]:
        return Mismatch("W_Eᵀ W_QK^{1,0} W_E ≠ 0", "0", field="Z", dims={"n_vocab": V})
    for name in ("K-composition QK", "OV"):
        p = circuits[name].charpoly()
        if p != (x - expected[name]) ** V:
            return Mismatch(f"p(x) = {p.factor()}", f"(x − {expected[name]})^{V}", field="Z", dims={"n_vocab": V},
                            note=f"the {name} circuit of L1H0")
    return None


def _library_scores(heads: HeadWeights) -> tuple[float, float, np.ndarray]:
    """L1H0's OV copying score, the same-matching score and the eigenvalues of its K-composition circuit."""
    copying = float(copying_scores(ov_circuits(heads))[1])
    circuit = k_composition_qk_circuits(heads, [(0, 1)])
    return copying, float(copying_scores(circuit)[0]), circuit.eigenvalues()[0]


def _positive_spectra(scores: tuple[float, float, np.ndarray]) -> Mismatch | None:
    copying, _, eigenvalues = scores
    nonzero = eigenvalues[np.abs(eigenvalues) > 1e-9 * max(1.0, float(np.abs(eigenvalues).max()))]
    positive = bool(nonzero.size and np.all(np.abs(nonzero.imag) <= 1e-9 * np.abs(nonzero)) and np.all(nonzero.real > 0))
    if copying > 0 and positive:
        return None
    return Mismatch(f"copying {copying:.3g}, K-composition eigenvalues {np.round(nonzero, 3).tolist()}",
                    "copying > 0 and every nonzero eigenvalue real and positive", field="float64")


def _random_model_spectra(rng: np.random.Generator) -> Mismatch | None:
    return _positive_spectra(_library_scores(head_weights(default_model(rng, heads=(1, 1), positional=True))))


def _detectors(previous: Sequence[PreviousTokenEvidence], induction: Sequence[InductionEvidence]) -> Mismatch | None:
    found = ([e.is_candidate for e in previous], [(e.head, e.previous_token_head, e.is_candidate) for e in induction])
    expected = ([True, False], [((1, 0), (0, 0), True)])
    return None if found == expected else Mismatch(str(found), str(expected), field="float64")


def _behaviour(model: Model, rng: np.random.Generator):
    return behavioural_scores(model, rng, seq_len=N_CTX // 2, sequences=4)


def _behaviour_trial(rng: np.random.Generator) -> Mismatch | None:
    b = _behaviour(MODEL, rng)
    if b.prefix_matching[1] >= 0.9 and b.copying[1] >= 0.9 and b.prefix_matching[0] < 0.1:
        return None
    return Mismatch(f"prefix matching {np.round(b.prefix_matching, 3).tolist()}, copying {b.copying.tolist()}",
                    "L1H0 ≥ 0.9 on both, L0H0 prefix matching < 0.1", field="float64")


def _scrambled(rng: np.random.Generator) -> Model:
    return scrambled_induction_model(rng, n_vocab=V, n_ctx=N_CTX, sharpness=float(BETA))


def _scrambled_previous_token(rng: np.random.Generator) -> Mismatch | None:
    score = float(previous_token_scores(head_weights(_scrambled(rng)))[0])
    if score >= 0.5:
        return None
    return Mismatch(f"previous-token score of L0H0 {score:.3f}", "≥ 0.5", field="float64")


def check(ctx: Context) -> list[Check]:
    heads = head_weights(MODEL)
    scores = _library_scores(heads)
    copying, matching, eigenvalues = scores
    previous = previous_token_evidence(heads)
    induction = induction_evidence(heads, previous=previous)
    (l1h0,) = induction
    behaviour = _behaviour(MODEL, ctx.rng("behavioural scores, report"))
    tokens, where, _ = repeated_sequence(ctx.rng("K-composition shares, report"), V, N_CTX)
    shares = _k_composition_shares(MODEL, tokens, where)
    top = sorted(shares.items(), key=lambda kv: -abs(kv[1]))[:3]
    return [
        ctx.instances("on [x…][a][b][y…][a], L1H0 attends most to [b], its write raises b most, the model predicts b",
                      lambda rng: _induction_failure(MODEL, rng), method="numeric", trials=5),
        ctx.instances("the K-composition term through L0H0 carries more of [b]'s score gap than the other 15 terms "
                      "together", _k_composition_dominates, method="numeric", trials=5,
                      report=f"parts (query path · key path) on {tokens.tolist()}: "
                      + ", ".join(f"{k} {v:+.3f}" for k, v in top)),
        ctx.instances(f"over ℤ: W_Eᵀ W_QK^{{1,0}} W_E = 0, p(K-composition circuit) = (x − {BETA})^{V}, "
                      f"p(OV circuit) = (x − {ALPHA})^{V}", _exact_spectra, trials=1),
        ctx.instances("tensoralg.models.circuits: OV copying score > 0 and W_Eᵀ W_QK W_OV^{0,0} W_E has positive eigenvalues",
                      lambda rng: _positive_spectra(scores), method="numeric", trials=1,
                      report=f"copying score {copying:.3f}, same-matching score {matching:.3f}, eigenvalues "
                      f"{np.round(np.real(eigenvalues), 3).tolist()}"),
        ctx.instances("tensoralg.models.induction flags L0H0 as previous-token head and L1H0 as induction head",
                      lambda rng: _detectors(previous, induction), method="numeric", trials=1,
                      report=f"previous-token scores {[round(e.score, 4) for e in previous]}; L1H0: K-composition "
                      f"{l1h0.k_composition:.3f} (z = {l1h0.k_composition_z:.2f}), copying "
                      f"{l1h0.ov_copying:.3f}, same matching {l1h0.same_matching:.3f}"),
        ctx.instances("behavioural scores (Olsson et al. 2022): L1H0 prefix matching and copying ≥ 0.9",
                      _behaviour_trial, method="numeric", trials=2,
                      report=f"prefix matching L0H0 {behaviour.prefix_matching[0]:.4f}, L1H0 "
                      f"{behaviour.prefix_matching[1]:.4f}; copying L0H0 {behaviour.copying[0]:.2f}, L1H0 "
                      f"{behaviour.copying[1]:.2f} ({behaviour.sequences} sequences of {behaviour.seq_len} tokens, "
                      "repeated)"),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.instances("L0H0's positional keys scrambled: L1H0 still attends to [b] and the model predicts b",
                      lambda rng: _induction_failure(_scrambled(rng), rng), method="numeric"),
        ctx.instances("L0H0's positional keys scrambled: L0H0 is still a previous-token head (score ≥ 0.5)",
                      _scrambled_previous_token, method="numeric"),
        ctx.instances("random 2-layer model: copying > 0 and W_Eᵀ W_QK^{1,0} W_OV^{0,0} W_E has positive eigenvalues",
                      _random_model_spectra, method="numeric", trials=6),
        ctx.instances("random 2-layer model: on [x…][a][b][y…][a] the layer-1 head attends to [b]",
                      lambda rng: _induction_failure(default_model(rng, heads=(1, 1), positional=True, n_ctx=N_CTX), rng,
                                                     attention_only=True),
                      method="numeric"),
    ]


CLAIM = Claim(
    "C18",
    "Induction heads",
    "a 2-layer model from formulas: on [a][b]…[a] L1H0 attends to [b] and raises b by K-composition; "
    "copying, same matching > 0",
    r"A^{1,0}_{n,\,j_b} = \max_j A^{1,0}_{n,j},\quad W_E^\top W_{QK}^{1,0} W_{OV}^{0,0} W_E = \beta\,\mathrm{Id},\quad"
    r" W_U W_{OV}^{1,0} W_E = \alpha\,\mathrm{Id}",
    derive=derive,
    check=check,
    refute=refute,
)
