"""C28 — Trained models: the paper's circuits found from the weights of the models shipped with the tool.

Two attention-only models ship inside the package (``tensoralg models``), trained with
``tensoralg train`` on synthetic text whose answer is planted (tensoralg.training.data):

* ``attn-only-2l`` (positional embeddings) on text with random segments repeated at random
  offsets. From the weights alone (tensoralg.models.induction): a layer-0 head whose positional
  QK circuit softmax*(s·W_posᵀ W_QK W_pos) puts its weight on the previous position, and a
  layer-1 head that K-composes with it far above the random baseline, with positive OV copying
  (Σλ/Σ|λ| of W_U W_OV W_E) and positive same matching of W_Eᵀ W_QK W_OV^{prev} W_E: the
  paper's route. The behavioural scores (prefix matching, copying; Olsson et al.) agree, and on
  held-out text the loss on second copies is far below the loss on first copies. The
  term-importance table (C20) in nats sums exactly: direct path, + single heads, + virtual heads.
* ``attn-only-1l`` on text with planted skip-trigrams "a … b → c": the triples read off the QK
  circuit W_Eᵀ W_QK W_E and the OV circuit W_U W_OV W_E (C9, C10; tensoralg.models.skip_trigrams)
  recover the planted ones, and the model gives c after "a … b" far above the background chain.

Everything is deterministic: fixed weights, held-out text drawn from the card's generator with
fixed seeds. NEGATIVE controls: the same architectures at initialisation (weights drawn as the
trainer draws them) have no induction head by either route and recover no planted triple; a
scrambled list of triples (outputs rotated among the triples) is not recovered from the trained
model; and the Q-composition route (a same-token head in layer 0) is not what the 2-layer model uses.

>>> CLAIM.id
'C28'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.expr import Identity, Tensor, atom
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.models.circuits import head_weights, label
from tensoralg.models.composition import composition_scores
from tensoralg.models.induction import (
    behavioural_induction,
    behavioural_scores,
    previous_token_evidence,
    route_evidence,
)
from tensoralg.models.model import AttentionLayer, Model
from tensoralg.models.registry import WeightsSource, resolve
from tensoralg.models.skip_trigrams import recall, skip_trigrams
from tensoralg.paths.importance import importance
from tensoralg.training.data import LATER, ORDINARY, SECOND, TRIGRAM, DataConfig, Grammar
from tensoralg.training.evaluation import evaluate
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

#: Thresholds of the checks (the figures measured are reported beside each).
MIN_RECALL = 0.9
MIN_GAP = 2.0  # nats between first and second copies
MIN_PREFIX, MIN_BEHAVIOURAL_COPYING = 0.3, 0.5


def derive() -> list[Derivation]:
    W_E, W_U = atom(standard_symbol("W_E")), atom(standard_symbol("W_U"))
    A, W_OV = atom(standard_symbol("A", 0, 0)), atom(standard_symbol("W_OV", 0, 0))
    W_QK1, W_OV0 = atom(standard_symbol("W_QK", 1, 0)), atom(standard_symbol("W_OV", 0, 0))
    Id = Identity("n_ctx")
    return [
        Derivation("a head's skip-trigram term: attention pattern ⊗ OV circuit, read off the weights (C9)", [
            Step(Tensor((Id, W_U)) @ Tensor((A, W_OV)) @ Tensor((Id, W_E))),
            Step(Tensor((A, W_U @ W_OV @ W_E)), "mixed product: A^{0,0} ⊗ W_U W_OV^{0,0} W_E"),
        ]),
        Derivation("K-composition: the induction head's key reads what the previous-token head wrote (C14)", [
            Step(W_E.T @ W_QK1 @ (W_OV0 @ W_E)),
            Step((W_E.T @ W_QK1 @ W_OV0) @ W_E, "associativity: the circuit W_Eᵀ W_QK^{1,0} W_OV^{0,0} W_E"),
        ]),
    ]


def _load(name: str) -> tuple[WeightsSource, Model, Grammar]:
    source = resolve(name)
    return source, source.load(), Grammar.build(DataConfig(**source.card["training"]["data"]))


def initial_model(like: Model, rng: np.random.Generator) -> Model:
    """A model of ``like``'s architecture drawn as the trainer initialises: N(0, 1/fan_in) entries
    (fan_in = d_model, and d_head for W_O)."""
    d, V = like.W_E.shape

    def draw(*shape: int, fan_in: int) -> np.ndarray:
        return rng.normal(size=shape) / np.sqrt(fan_in)

    layers = tuple(
        AttentionLayer(draw(*layer.W_Q.shape, fan_in=d), draw(*layer.W_K.shape, fan_in=d),
                       draw(*layer.W_V.shape, fan_in=d), draw(*layer.W_O.shape, fan_in=layer.W_Q.shape[1]))
        for layer in like.layers
    )
    W_pos = None if like.W_pos is None else draw(*like.W_pos.shape, fan_in=d)
    return Model(draw(d, V, fan_in=d), draw(V, d, fan_in=d), layers, W_pos=W_pos, score_scale=like.score_scale)


def induction_report(model: Model, seed: int) -> dict:
    """Weights-only routes, previous-token scores and behavioural scores of ``model``."""
    heads = head_weights(model)
    composition = composition_scores(heads, np.random.default_rng(seed))
    previous = previous_token_evidence(heads)
    routes = route_evidence(heads, composition, previous)
    behaviour = behavioural_scores(model, np.random.default_rng(seed), seq_len=model.n_ctx // 2, sequences=8)
    return {"heads": heads, "previous": previous, "routes": routes, "behaviour": behaviour,
            "behavioural": dict(zip(heads.labels, behavioural_induction(behaviour, MIN_PREFIX, MIN_BEHAVIOURAL_COPYING)))}


def _paper_route(report: dict) -> Mismatch | None:
    """A layer-0 previous-token head and a layer-1 head K-composing with it, behaviour agreeing."""
    k_heads = [e for e in report["routes"] if e.route == "K-composition" and e.is_candidate
               and e.partner[0] == 0 and e.head[0] == 1 and e.ov_copying > 0 and e.matching > 0]
    agreed = [e for e in k_heads if report["behavioural"][e.head]]
    if agreed:
        return None
    prev = [round(e.score, 3) for e in report["previous"]]
    return Mismatch(f"K-composition induction heads {[label(e.head) for e in k_heads]}, behaviour agreeing on "
                    f"{[label(e.head) for e in agreed]}", "a layer-1 head K-composing with a layer-0 previous-token head, "
                    "behaviour agreeing", field="float64", note=f"previous-token scores {prev}")


def _q_route(report: dict) -> Mismatch | None:
    """Holds (None) when some layer-1 head is a Q-composition induction head with a same-token head."""
    found = [label(e.head) for e in report["routes"] if e.route == "Q-composition" and e.is_candidate]
    return None if found else Mismatch("no Q-composition candidate", "a Q-composition induction head", field="float64")


def _route_text(report: dict) -> str:
    best = sorted(report["routes"], key=lambda e: (not e.is_candidate, -e.composition_z))
    b = report["behaviour"]
    prefix = {label(h): round(float(p), 3) for h, p in zip(b.labels, b.prefix_matching) if h[0] == 1}
    return "; ".join(
        f"{label(e.head)}: {e.route} with {label(e.partner)} {e.composition:.3f} (z {e.composition_z:.1f}), copying "
        f"{e.ov_copying:.3f}, matching {e.matching:.3f}{' — candidate' if e.is_candidate else ''}" for e in best[:3]
    ) + f"; previous-token scores {[round(e.score, 3) for e in report['previous']]}; layer-1 prefix matching {prefix}"


def _copies_gap(figures: dict) -> Mismatch | None:
    loss = figures["loss"]
    if loss["first copy"] - loss["second copy"] >= MIN_GAP:
        return None
    return Mismatch(f"first copies {loss['first copy']:.3f}, second copies {loss['second copy']:.3f} nats",
                    f"second at least {MIN_GAP} nats below first", field="float64")


def _importance(model: Model, grammar: Grammar, seed: int):
    batch = grammar.sample(np.random.default_rng(seed), 16)
    subsets = {"ordinary": list(np.isin(batch.kinds, (ORDINARY, TRIGRAM))),
               "repeated": list(np.isin(batch.kinds, (SECOND, LATER)))}
    return importance(model, list(batch.tokens), subsets)


def _importance_exact(table) -> Mismatch | None:
    gaps = [abs(table.rows[-1].loss[n] - table.full[n]) for n in table.subsets]
    if table.max_sum_error < 1e-9 and max(gaps) < 1e-9:
        return None
    return Mismatch(f"|Σ terms − logits| ≤ {table.max_sum_error:.3g}, loss gaps {gaps}", "< 1e-9", field="float64")


def _importance_text(table) -> str:
    rows = ", ".join(f"{r.name} {r.loss['ordinary']:.3f} / {r.loss['repeated']:.3f}" for r in table.rows)
    top = ", ".join(f"{t.label} {t.delta['repeated']:+.3f}" for t in table.ranked("repeated", 3))
    return f"nats on ordinary / repeated tokens: {rows}; most important on repeated tokens (ΔL removed): {top}"


def _recall_at_least(model: Model, triples: list, minimum: float) -> Mismatch | None:
    found = skip_trigrams(model, top=len(triples))
    value = recall(found, triples)
    if value >= minimum:
        return None
    return Mismatch(f"recall {value:.3f} of {len(triples)} triples", f"≥ {minimum}", field="float64")


def _trigram_prediction(figures: dict) -> Mismatch | None:
    p = figures["planted_trigram"]
    if p["model_probability_of_c"] >= 10 * p["background_probability_of_c"] and p["model_probability_of_c"] > 0.5:
        return None
    return Mismatch(f"model P(c) {p['model_probability_of_c']:.3f}, background {p['background_probability_of_c']:.3f}",
                    "above 0.5 and ten times the background", field="float64")


def scrambled(triples: list) -> list:
    """The planted triples with their outputs rotated by one: (a_i, b_i, c_{i+1})."""
    outputs = [t[2] for t in triples]
    return [[a, b, c] for (a, b, _), c in zip(triples, outputs[1:] + outputs[:1])]


def check(ctx: Context) -> list[Check]:
    source2, model2, grammar2 = _load("attn-only-2l")
    report = induction_report(model2, ctx.seed_for("C28 induction"))
    figures2 = evaluate(model2, grammar2, ctx.rng("C28 held-out repeats"), sequences=64)
    table = _importance(model2, grammar2, ctx.seed_for("C28 importance"))
    source1, model1, grammar1 = _load("attn-only-1l")
    triples = source1.card["triples"]
    figures1 = evaluate(model1, grammar1, ctx.rng("C28 held-out trigrams"), sequences=64)
    found = skip_trigrams(model1, top=len(triples))
    loss2 = figures2["loss"]
    p = figures1["planted_trigram"]
    return [
        ctx.fact("attn-only-2l, from the weights: a layer-0 previous-token head and a layer-1 head K-composing with it "
                 "(z ≥ 3, OV copying > 0, same matching > 0); the behavioural scores agree",
                 lambda: _paper_route(report), method="numeric", report=_route_text(report)),
        ctx.fact(f"attn-only-2l on held-out repeated segments: second copies ≥ {MIN_GAP} nats below first copies",
                 lambda: _copies_gap(figures2), method="numeric",
                 report=f"first copies {loss2['first copy']:.3f}, second copies {loss2['second copy']:.3f}, "
                 f"later copies {loss2['later copy']:.3f}, ordinary {loss2['ordinary']:.3f} nats "
                 f"(ln n_vocab = {np.log(model2.n_vocab):.3f})"),
        ctx.fact("attn-only-2l: the term-importance table (C20) sums exactly to the model's loss",
                 lambda: _importance_exact(table), method="numeric", report=_importance_text(table)),
        ctx.fact(f"attn-only-1l: the skip-trigrams read off the QK and OV circuits recover ≥ {MIN_RECALL} of the "
                 "planted triples among the top K (K = number planted)",
                 lambda: _recall_at_least(model1, triples, MIN_RECALL), method="numeric",
                 report=f"recall {recall(found, triples):.3f} of {len(triples)}; top: "
                 + ", ".join(t.words(source1.vocabulary) for t in found[:3])),
        ctx.fact("attn-only-1l predicts c after a … b far above the background chain",
                 lambda: _trigram_prediction(figures1), method="numeric",
                 report=f"P(c): model {p['model_probability_of_c']:.3f}, generator {p['generator_probability_of_c']:.3f}, "
                 f"background P(c | b) {p['background_probability_of_c']:.3f}"),
    ]


def refute(ctx: Context) -> list[Check]:
    _, model2, _ = _load("attn-only-2l")
    source1, model1, _ = _load("attn-only-1l")
    triples = source1.card["triples"]
    initial2 = initial_model(model2, ctx.rng("C28 initial 2-layer"))
    initial1 = initial_model(model1, ctx.rng("C28 initial 1-layer"))
    return [
        ctx.fact("attn-only-2l's architecture at initialisation has an induction head (paper's route, behaviour agreeing)",
                 lambda: _paper_route(induction_report(initial2, ctx.seed_for("C28 induction"))), method="numeric"),
        ctx.fact("attn-only-2l's architecture at initialisation has a Q-composition induction head",
                 lambda: _q_route(induction_report(initial2, ctx.seed_for("C28 induction"))), method="numeric"),
        ctx.fact("attn-only-1l's architecture at initialisation recovers a planted triple (recall > 0)",
                 lambda: _recall_at_least(initial1, triples, 1e-9), method="numeric"),
        ctx.fact(f"a scrambled list of triples (outputs rotated) is recovered from attn-only-1l (recall ≥ {MIN_RECALL})",
                 lambda: _recall_at_least(model1, scrambled(triples), MIN_RECALL), method="numeric"),
        ctx.fact("attn-only-2l works by Q-composition with a same-token head",
                 lambda: _q_route(induction_report(model2, ctx.seed_for("C28 induction"))), method="numeric"),
    ]


CLAIM = Claim(
    "C28",
    "Trained models",
    "on the shipped models: previous-token head + K-composing induction head (2 layers); planted skip-trigrams "
    "read off QK and OV circuits (1 layer)",
    r"A^{0,h}_{i,i-1}\approx 1,\quad \frac{\lVert W_{QK}^{1,h'} W_{OV}^{0,h}\rVert_F}{\lVert W_{QK}^{1,h'}\rVert_F"
    r"\lVert W_{OV}^{0,h}\rVert_F}\gg\text{baseline},\quad (a,b,c):\ \alpha[b,a]\,(W_U W_{OV} W_E)[c,a]\ \text{top-}K",
    derive=derive,
    check=check,
    refute=refute,
)
