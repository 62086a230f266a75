"""A model's report page: card, head table, figures, path-expansion formula, term importance.

:func:`model_report` turns the dictionary of ``tensoralg analyze --json`` (plus the model,
its card, its vocabulary and an optional term-importance table) into one self-contained HTML
page (:func:`tensoralg.display.page.document`): figures are inline SVG, math is MathML,
nothing is fetched and nothing runs. Token strings, model names and card fields come from
files the user did not write, so every one of them is escaped where it is inserted (HTML
here; SVG text is drawn as paths by :mod:`tensoralg.plots`, whose labels are literal).

>>> from tensoralg.display.report import card_rows
>>> card_rows({"name": "<b>x</b>", "steps": 3})
'<tr><th>name</th><td>&lt;b&gt;x&lt;/b&gt;</td></tr><tr><th>steps</th><td>3</td></tr>'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import TensoralgError
from .formulas import expansion_formula
from .page import document

if TYPE_CHECKING:
    from ..models.model import Model

Rows = tuple[tuple[str, dict[str, float]], ...]


@dataclass(frozen=True)
class Importance:
    """A term-importance table: ``paths`` (label, {column: value}) ranked by importance, and
    optionally ``orders`` (direct, + single heads, … with the loss per column), as C20 tabulates."""

    paths: Rows
    orders: Rows = ()
    title: str = "importance"

    @classmethod
    def from_json(cls, data: Any, source: str = "the importance table") -> "Importance":
        """From ``{term: value}``, ``{"terms": [{"label", "delta": {column: value}}]}`` or the JSON of
        ``tensoralg importance --json`` (``rows`` of losses by order, ``paths`` ranked per subset)."""
        def numbers(values: Any) -> dict[str, float]:
            if not isinstance(values, dict):
                return {}
            return {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

        if isinstance(data, dict) and isinstance(data.get("paths"), dict):  # tensoralg importance --json
            described = {k: v.get("description", k) if isinstance(v, dict) else k for k, v in data.get("subsets", {}).items()}
            paths: dict[str, dict[str, float]] = {}
            for subset, ranked in data["paths"].items():
                for item in ranked if isinstance(ranked, list) else []:
                    if isinstance(item, dict) and isinstance(item.get("path"), str) and isinstance(item.get("delta_loss"), (int, float)):
                        paths.setdefault(item["path"], {})[described.get(subset, subset)] = float(item["delta_loss"])
            orders = [(str(r.get("name")), {described.get(k, k): v for k, v in numbers(r.get("loss")).items()})
                      for r in data.get("rows", []) if isinstance(r, dict)]
            if not paths:
                raise TensoralgError(f"{source}: no path with a delta_loss under \"paths\"")
            return cls(tuple(paths.items()), tuple(orders), "ΔL when removed (nats)")
        if isinstance(data, dict) and "terms" not in data and data and len(numbers(data)) == len(data):
            return cls(tuple((str(k), {"importance": v}) for k, v in numbers(data).items()))
        terms = data.get("terms") if isinstance(data, dict) else None
        rows = []
        for k, item in enumerate(terms if isinstance(terms, list) else [None]):
            label = item.get("label", item.get("term")) if isinstance(item, dict) else None
            values = numbers(item.get("delta", item)) if isinstance(item, dict) else {}
            if not isinstance(label, str) or not values:
                raise TensoralgError(f"{source}: term {k} must be an object with a \"label\" and numbers (or \"delta\": {{…}})")
            rows.append((label, values))
        return cls(tuple(rows))

    def chart(self) -> tuple[str, list[tuple[str, float]]]:
        """The column where some path matters most, and its (label, value) rows, for the bar chart."""
        columns = list(dict.fromkeys(c for _, values in self.paths for c in values))
        column = max(columns, key=lambda c: max(abs(v.get(c, 0.0)) for _, v in self.paths))
        return column, [(label, values[column]) for label, values in self.paths if column in values]


_CAPTIONS = {
    "ov_eigenvalues": "Eigenvalues λ of each head's OV circuit W_U W_OV W_E in the complex plane; "
                      "a copying head's are mostly positive real (copying score Σλ/Σ|λ| in the title).",
    "copying_matching": "OV copying score against QK same-matching score per head: induction heads sit near (1, 1).",
    "composition": "Q-, K- and V-composition scores of every writer head into every later reader head, "
                   "as multiples of the random-weights baseline mean.",
    "attention": "Attention patterns on random tokens repeated once: an induction head attends to the token after "
                 "the current token's earlier occurrence (an off-diagonal stripe).",
    "importance": "Path terms by importance.",
}


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "<td class='num'>–</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        return f"<td class='num'>{value:.{digits}f}</td>" if isinstance(value, float) else f"<td class='num'>{value}</td>"
    return f"<td>{escape(str(value))}</td>"


def card_rows(card: Mapping[str, Any]) -> str:
    """Table rows ``<tr><th>key</th><td>value</td></tr>``, everything escaped (nested values as JSON)."""
    rows = []
    for key, value in card.items():
        text = escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        if len(text) > 160:  # a long record (a loss curve, a configuration) folds away
            text = f"<details><summary>{text[:80]}…</summary><code>{text}</code></details>"
        rows.append(f"<tr><th>{escape(str(key))}</th><td>{text}</td></tr>")
    return "".join(rows)


def _model_section(name: str, analysis: Mapping[str, Any], card: Mapping[str, Any] | None,
                   vocabulary: Sequence[str] | None) -> str:
    m = analysis["model"]
    facts = {"file": name, "layers": m["layers"], "heads per layer": m["heads"], "d_model": m["d_model"],
             "d_head": m["d_head"], "n_vocab": m["n_vocab"], "n_ctx": m["n_ctx"], "score scale": m["score_scale"],
             "MLPs": m["mlp"], "LayerNorm": m["layer_norm"]}
    extra = {k: v for k, v in (card or {}).items() if k != "vocabulary"}
    out = ["<h2>Model card</h2>", f"<table>{card_rows(facts)}{card_rows(extra)}</table>"]
    if vocabulary is not None:
        shown = "".join(f"<code>{escape(t)}</code> " for t in vocabulary[:64])
        more = f" … ({len(vocabulary) - 64} more)" if len(vocabulary) > 64 else ""
        out.append(f"<p>Vocabulary ({len(vocabulary)} tokens): {shown}{more}</p>")
    return "\n".join(out)


def _heads_section(analysis: Mapping[str, Any]) -> str:
    header = ("head", "OV copying", "QK same matching", "previous token", "prefix matching", "behavioural copying",
              "induction evidence")
    rows = []
    for r in analysis["heads"]:
        e = r["induction"]
        evidence = "–" if e is None else (
            f"{'INDUCTION' if e['is_candidate'] else 'no'}: K-composition with {e['previous_token_head']} "
            f"{e['k_composition']:.3f} (z {e['k_composition_z']:.1f}), K-path same matching {e['same_matching']:.3f}"
        )
        rows.append(f"<tr><td>{escape(r['head'])}</td>{_cell(r['copying'])}{_cell(r['same_matching'])}"
                    f"{_cell(r['previous_token'])}{_cell(r['prefix_matching'])}{_cell(r['behavioural_copying'])}"
                    f"<td>{escape(evidence)}</td></tr>")
    heads = lambda key: escape(", ".join(analysis[key]) or "none")  # noqa: E731
    top = "".join(
        f"<tr><td>{escape(t['mode'])}</td><td>{escape(t['writer'])}</td><td>{escape(t['reader'])}</td>"
        f"{_cell(t['score'])}{_cell(t['baseline_mean'])}{_cell(t['ratio'], 2)}</tr>"
        for t in analysis["composition"]["top"]
    )
    return (
        "<h2>Heads</h2><table><thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
        + f"<p>Previous-token heads: {heads('previous_token_heads')}. Induction heads: {heads('induction_heads')}.</p>"
        + "<h3>Top composition pairs</h3><table><thead><tr><th>mode</th><th>writer</th><th>reader</th><th>score</th>"
        + f"<th>baseline mean</th><th>ratio</th></tr></thead><tbody>{top}</tbody></table>"
    )


def _expansion_section(analysis: Mapping[str, Any]) -> str:
    m = analysis["model"]
    formula = expansion_formula(m["heads"])
    notes = []
    if m["n_ctx"] is not None:
        notes.append("each term has a positional twin with W<sub>pos</sub> for W<sub>E</sub>")
    if m["mlp"]:
        notes.append("the MLPs add terms starting at their outputs (not shown)")
    note = f" ({'; '.join(notes)})" if notes else ""
    sizes = ", ".join(f"|H<sub>{l}</sub>| = {h}" for l, h in enumerate(m["heads"], start=1))
    return ("<h2>Path expansion</h2><p>The logits of this architecture as a sum over paths (CLAIMS C12), "
            f"with {sizes}: {formula.terms} terms{note}.</p>{formula.mathml()}")


def _table(first: str, rows: Rows) -> str:
    columns = list(dict.fromkeys(c for _, values in rows for c in values))
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{escape(label)}</td>" + "".join(_cell(values.get(c), 4) for c in columns) + "</tr>" for label, values in rows
    )
    return f"<table><thead><tr><th>{escape(first)}</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _importance_section(table: Importance) -> str:
    out = ["<h2>Term importance</h2>"]
    if table.orders:
        out += ["<p>Loss with the path terms up to each order (patterns frozen at the model's own; CLAIMS C20):</p>",
                _table("terms", table.orders)]
    out += [f"<p>Path terms, {escape(table.title)}:</p>", _table("path", table.paths)]
    return "\n".join(out)


def _figures_section(figures: Mapping[str, Any]) -> str:
    from ..plots import to_svg

    out = ["<h2>Figures</h2>"]
    for name, fig in figures.items():
        out.append(f"<figure id='figure-{escape(name)}'>{to_svg(fig, salt=name)}"
                   f"<figcaption>{escape(_CAPTIONS.get(name, name))}</figcaption></figure>")
    return "\n".join(out)


def model_report(
    name: str,
    analysis: Mapping[str, Any],
    model: "Model | None" = None,
    *,
    card: Mapping[str, Any] | None = None,
    vocabulary: Sequence[str] | None = None,
    importance: Importance | None = None,
    figures: bool = True,
    heads: Sequence[str] | None = None,
    seed: int = 0,
) -> str:
    """The HTML page of a model (see the module docstring); ``figures`` needs matplotlib (the ``plot`` extra)."""
    sections = [_model_section(name, analysis, card, vocabulary), _expansion_section(analysis), _heads_section(analysis)]
    if importance:
        sections.append(_importance_section(importance))
    if figures:
        from .. import plots

        column, chart = ("", None) if importance is None else importance.chart()
        sections.append(_figures_section(plots.figures(analysis, model, vocabulary=vocabulary, importance_table=chart,
                                                       importance_title=f"{importance.title if importance else ''}: {column}",
                                                       heads=heads, seed=seed)))
    return document(f"tensoralg report: {name}", sections)
