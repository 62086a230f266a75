"""The paper's figures with matplotlib (the optional ``plot`` extra: ``pip install 'tensoralg[plot]'``).

Axes-level functions, as seaborn's: each draws on the ``ax`` it is given (a new figure's
axes when None) and returns it; none touches pyplot's global state, so they work under
any backend, in a notebook and in a headless test alike.

* :func:`eigenvalues` — one head's OV eigenvalues λ in the complex plane (Elhage et al.'s
  figure): a copying head's lie on the positive real axis, Σλ/Σ|λ| near 1.
* :func:`copying_matching` — every head's OV copying score against its QK same-matching
  score; induction heads sit in the top-right corner (both near 1).
* :func:`composition` — Q-, K- or V-composition scores, writer heads × reader heads, as
  ratios to the random-weights baseline mean (1 = what random heads give).
* :func:`attention` — a head's attention pattern A (destination × source) with token strings.
* :func:`importance` — a term-importance table as horizontal bars.

:func:`figures` draws all of them for a model from the dictionary of ``tensoralg analyze
--json``; :func:`save` writes them as PNG and SVG; :func:`to_svg` gives inline SVG for HTML.

Text drawn from token strings is taken literally: ``$`` is escaped, so mathtext never runs
on it.

>>> import numpy as np
>>> ax = eigenvalues(np.array([2.0, 1.0 + 1.0j, 1.0 - 1.0j]), title="L1H0")
>>> len(ax.collections[0].get_offsets()), ax.get_xlabel()
(3, 'Re λ')
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import TensoralgError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..models.model import Model

#: What :func:`save` writes, one file per figure and format.
FORMATS = ("png", "svg")


class PlottingUnavailable(TensoralgError):
    """matplotlib is not installed (the ``plot`` extra)."""


def require_matplotlib() -> None:
    """Raise :class:`PlottingUnavailable` (one line) unless matplotlib can be imported."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:
        raise PlottingUnavailable("plotting needs matplotlib: pip install 'tensoralg[plot]'") from exc


def _figure(**options: Any) -> "Figure":
    require_matplotlib()
    from matplotlib.figure import Figure
    return Figure(**options)


def _axes(ax: "Axes | None", size: tuple[float, float] = (4.0, 4.0)) -> "Axes":
    return ax if ax is not None else _figure(figsize=size, layout="constrained").add_subplot()


def literal(text: str, width: int | None = None) -> str:
    """Text that matplotlib draws as it is: ``$`` escaped, so mathtext never parses a token string;
    shortened to ``width`` characters with "…" when given.

    >>> literal("cost $5"), literal("a very long token", 6)
    ('cost \\\\$5', 'a ver…')
    """
    text = str(text)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")


def eigenvalues(values: np.ndarray, *, ax: "Axes | None" = None, title: str | None = None) -> "Axes":
    """A head's (OV) eigenvalues as points λ = x + iy, with both axes through 0 and equal scales."""
    values = np.asarray(values).ravel()
    ax = _axes(ax, (3.0, 3.0))
    positive = np.real(values) >= 0
    colours = np.where(positive, "tab:blue", "tab:red")
    ax.scatter(np.real(values), np.imag(values), s=14, c=colours, alpha=0.8, linewidths=0)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    radius = float(np.abs(values).max()) if values.size and np.abs(values).max() > 0 else 1.0
    ax.set_xlim(-1.1 * radius, 1.1 * radius)
    ax.set_ylim(-1.1 * radius, 1.1 * radius)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    if title is not None:
        ax.set_title(literal(title))
    return ax


def eigenvalue_grid(values: np.ndarray, labels: Sequence[str], scores: Sequence[float] | None = None, *, columns: int | None = None) -> "Figure":
    """One :func:`eigenvalues` panel per head (row i of ``values``), titled with its label and copying score."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != len(labels):
        raise TensoralgError(f"eigenvalues must be heads × k with one label per head; got {values.shape} for {len(labels)} labels")
    count = max(len(labels), 1)
    columns = columns or min(count, 4)
    rows = -(-count // columns)
    fig = _figure(figsize=(2.6 * columns, 2.6 * rows), layout="constrained")
    grid = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(grid.flat):
        if k >= len(labels):
            ax.set_visible(False)
            continue
        title = labels[k] if scores is None else f"{labels[k]}  ({scores[k]:+.2f})"
        eigenvalues(values[k], ax=ax, title=title)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
    fig.suptitle("OV circuit eigenvalues (copying score Σλ/Σ|λ|)")
    return fig


def copying_matching(
    copying: Sequence[float],
    matching: Sequence[float],
    labels: Sequence[str],
    *,
    induction: Iterable[str] = (),
    composed: Mapping[str, float] | None = None,
    ax: "Axes | None" = None,
) -> "Axes":
    """Copying (x) against same matching (y), one labelled point per head; ``induction`` heads in red.

    An induction head matches through K-composition (C14, C18): its keys read what a previous-token
    head wrote, so its same matching is that of W_Eᵀ W_QK W_OV^prev W_E, not of its direct W_Eᵀ W_QK W_E.
    ``composed`` gives that score per head label; such a head is drawn there, with a grey ring at
    its direct score and a line between the two.
    """
    x, y = np.asarray(copying, dtype=float), np.asarray(matching, dtype=float)
    if not (x.shape == y.shape == (len(labels),)):
        raise TensoralgError(f"one copying and one same-matching score per head; got {x.shape}, {y.shape} for {len(labels)} heads")
    composed = dict(composed or {})
    unknown = sorted(set(composed) - set(labels))
    if unknown:
        raise TensoralgError(f"composed scores for unknown heads {unknown}; the heads are {', '.join(labels)}")
    marked = set(induction)
    hot = np.array([l in marked for l in labels], dtype=bool)
    shown = np.array([composed.get(l, v) for l, v in zip(labels, y)], dtype=float)
    ax = _axes(ax, (4.5, 4.5))
    ax.axhline(0, color="0.8", lw=0.6)
    ax.axvline(0, color="0.8", lw=0.6)
    via = np.array([l in composed for l in labels], dtype=bool)
    if via.any():
        ax.scatter(x[via], y[via], s=30, facecolors="none", edgecolors="0.6", label="direct QK (before composition)")
        for xi, direct, through in zip(x[via], y[via], shown[via]):
            ax.plot([xi, xi], [direct, through], color="0.75", lw=0.8, zorder=0)
    ax.scatter(x[~hot], shown[~hot], s=30, c="tab:blue", label="heads")
    if hot.any():
        ax.scatter(x[hot], shown[hot], s=60, c="tab:red", marker="*", label="induction heads")
    groups: dict[tuple[int, int], list[tuple[float, float, str]]] = {}  # heads drawn on one spot share one label
    for xi, yi, name in zip(x, shown, labels):
        groups.setdefault((round(float(xi) * 25), round(float(yi) * 25)), []).append((float(xi), float(yi), name))
    for members in groups.values():
        xi, yi, _ = members[0]
        right = xi > 0.6
        ax.annotate(literal(", ".join(name for _, _, name in members)), (xi, yi), textcoords="offset points",
                    xytext=(-6, -10) if right else (4, 3), fontsize=7, ha="right" if right else "left")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("OV copying score Σλ/Σ|λ|")
    ax.set_ylabel("QK same matching Σλ/Σ|λ|" + (" (through K-composition)" if composed else ""))
    ax.set_title("copying vs same matching")
    ax.legend(loc="lower left", fontsize=7)
    return ax


def composition(
    scores: np.ndarray,
    pairs: np.ndarray,
    labels: Sequence[str],
    baseline: float,
    *,
    mode: str = "K",
    vmax: float | None = None,
    ax: "Axes | None" = None,
) -> "Axes":
    """``scores[w, r] / baseline`` for writer heads w (rows) that some later head reads and readers r
    (columns) that read some earlier head; pairs that cannot compose are left blank. The colour
    scale runs from 0 to ``vmax`` (default: the largest ratio, at least 1); small grids print each ratio."""
    scores, pairs = np.asarray(scores, dtype=float), np.asarray(pairs, dtype=bool)
    H = len(labels)
    if scores.shape != (H, H) or pairs.shape != (H, H):
        raise TensoralgError(f"composition scores and pairs must be {H} × {H}; got {scores.shape}, {pairs.shape}")
    if not baseline > 0:
        raise TensoralgError(f"the baseline mean must be positive; got {baseline}")
    writers, readers = np.flatnonzero(pairs.any(axis=1)), np.flatnonzero(pairs.any(axis=0))
    ax = _axes(ax, (1.2 + 0.45 * max(len(readers), 1), 1.0 + 0.4 * max(len(writers), 1)))
    ratio = np.where(pairs, scores / baseline, np.nan)[np.ix_(writers, readers)]
    top = vmax if vmax is not None else max(1.0, float(np.nanmax(ratio, initial=0.0)))
    image = ax.imshow(ratio, cmap="viridis", vmin=0, vmax=top, aspect="auto")
    if ratio.size <= 144:
        for (i, j), value in np.ndenumerate(ratio):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 0.6 * top else "white")
    ax.set_xticks(range(len(readers)), [literal(labels[r]) for r in readers], rotation=90, fontsize=7)
    ax.set_yticks(range(len(writers)), [literal(labels[w]) for w in writers], fontsize=7)
    ax.set_xlabel("reader head")
    ax.set_ylabel("writer head")
    ax.set_title(f"{mode}-composition / baseline")
    ax.figure.colorbar(image, ax=ax, label="× random baseline")
    return ax


MODES = ("Q", "K", "V")


def composition_figure(
    scores: Mapping[str, np.ndarray], pairs: np.ndarray, labels: Sequence[str], baseline: Mapping[str, float]
) -> "Figure":
    """Three :func:`composition` panels (Q, K, V) on one colour scale: ``scores[mode]`` and ``baseline[mode]``
    (the random baseline's mean) per mode, as :class:`tensoralg.models.composition.CompositionScores` holds them."""
    pairs = np.asarray(pairs, dtype=bool)
    ratios = [np.asarray(scores[m], dtype=float)[pairs] / baseline[m] for m in MODES]
    top = max([1.0] + [float(r.max()) for r in ratios if r.size])
    fig = _figure(figsize=(11, 3.8), layout="constrained")
    for ax, mode in zip(fig.subplots(1, 3), MODES):
        composition(scores[mode], pairs, labels, baseline[mode], mode=mode, vmax=top, ax=ax)
    return fig


def attention(pattern: np.ndarray, tokens: Sequence[str], *, ax: "Axes | None" = None, title: str | None = None) -> "Axes":
    """A pattern A (row = destination, column = source) with the token strings on both axes."""
    pattern = np.asarray(pattern, dtype=float)
    n = len(tokens)
    if pattern.shape != (n, n):
        raise TensoralgError(f"an attention pattern over {n} tokens must be {n} × {n}; got {pattern.shape}")
    ax = _axes(ax, (1.5 + 0.25 * n, 1.2 + 0.25 * n))
    ax.imshow(pattern, cmap="Blues", vmin=0, vmax=1)
    names = [literal(t, 12) for t in tokens]
    ax.set_xticks(range(n), names, rotation=90, fontsize=6)
    ax.set_yticks(range(n), names, fontsize=6)
    ax.set_xlabel("source (key)")
    ax.set_ylabel("destination (query)")
    if title is not None:
        ax.set_title(literal(title))
    return ax


def importance(
    table: Mapping[str, float] | Sequence[tuple[str, float]],
    *,
    ax: "Axes | None" = None,
    top: int | None = 20,
    xlabel: str = "importance",
) -> "Axes":
    """A term-importance table (term → importance) as horizontal bars, largest first."""
    rows = list(table.items() if isinstance(table, Mapping) else table)
    rows.sort(key=lambda row: -abs(float(row[1])))
    rows = rows[:top] if top is not None else rows
    ax = _axes(ax, (6.0, 1.0 + 0.3 * max(len(rows), 1)))
    ax.barh(range(len(rows)), [float(v) for _, v in rows], color="tab:purple")
    ax.set_yticks(range(len(rows)), [literal(name) for name, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(literal(xlabel))
    ax.set_title("path terms by importance")
    return ax


def repeated_tokens(n_vocab: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` distinct random tokens (when the vocabulary allows) followed by themselves again."""
    first = rng.choice(n_vocab, size=length, replace=length > n_vocab)
    return np.concatenate([first, first])


def token_strings(tokens: Sequence[int], vocabulary: Sequence[str] | None) -> list[str]:
    """Each token's string from ``vocabulary``, or ``#id`` without one."""
    if vocabulary is None:
        return [f"#{t}" for t in tokens]
    if max(tokens, default=-1) >= len(vocabulary):
        raise TensoralgError(f"the vocabulary has {len(vocabulary)} strings; token {max(tokens)} has none")
    return [vocabulary[t] for t in tokens]


def _chosen_heads(report: Mapping[str, Any], count: int = 4) -> list[str]:
    """Induction heads, else previous-token heads, else the heads of the last layer: at most ``count``."""
    for key in ("induction_heads", "previous_token_heads"):
        if report.get(key):
            return list(report[key])[:count]
    last = max((row["layer"] for row in report["heads"]), default=0)
    return [row["head"] for row in report["heads"] if row["layer"] == last][:count]


def attention_figure(
    model: "Model",
    heads: Sequence[str],
    *,
    vocabulary: Sequence[str] | None = None,
    seed: int = 0,
    length: int | None = None,
) -> "Figure":
    """The patterns of ``heads`` (labels such as ``L1H0``) on random tokens repeated once."""
    from ..models.model import forward

    labels = {f"L{l}H{h}": (l, h) for l, h in model.head_labels}
    unknown = [name for name in heads if name not in labels]
    if unknown or not heads:
        raise TensoralgError(f"unknown heads {unknown or '(none given)'}; the model has {', '.join(labels) or 'no heads'}")
    T = length if length is not None else max(2, min(8, (model.n_ctx or 16) // 2, model.n_vocab))
    tokens = repeated_tokens(model.n_vocab, T, np.random.default_rng(seed))
    run = forward(model, tokens)
    names = token_strings(tokens.tolist(), vocabulary)
    fig = _figure(figsize=(max(4.8, 3.4 * len(heads)), 3.8), layout="constrained")
    for ax, name in zip(np.atleast_1d(fig.subplots(1, len(heads))), heads):
        layer, head = labels[name]
        attention(run.patterns[layer][head], names, ax=ax, title=name)
    fig.suptitle("attention on a repeated random sequence")
    return fig


def figures(
    report: Mapping[str, Any],
    model: "Model | None" = None,
    *,
    vocabulary: Sequence[str] | None = None,
    importance_table: Mapping[str, float] | Sequence[tuple[str, float]] | None = None,
    importance_title: str = "importance",
    heads: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, "Figure"]:
    """Every figure for a model, from the dictionary of ``tensoralg analyze --json``.

    Keys: ``ov_eigenvalues``, ``copying_matching``, ``composition`` (when two layers have
    heads), ``attention`` (when ``model`` is given; ``heads`` default to the induction heads)
    and ``importance`` (when a table is given).
    """
    rows = report["heads"]
    labels = [row["head"] for row in rows]
    out: dict[str, "Figure"] = {}
    width = max((len(row["eigenvalues"]) for row in rows), default=0)
    values = np.zeros((len(rows), width), dtype=complex)
    for i, row in enumerate(rows):
        values[i, : len(row["eigenvalues"])] = [complex(re, im) for re, im in row["eigenvalues"]]
    out["ov_eigenvalues"] = eigenvalue_grid(values, labels, [row["copying"] or 0.0 for row in rows])
    composed = {row["head"]: row["induction"]["same_matching"] for row in rows
                if row["induction"] is not None and row["induction"]["same_matching"] is not None}
    ax = copying_matching([row["copying"] or 0.0 for row in rows], [row["same_matching"] or 0.0 for row in rows],
                          labels, induction=report.get("induction_heads", ()), composed=composed)
    out["copying_matching"] = ax.figure
    matrices = report["composition"]["matrices"]
    pairs = np.array(matrices["pairs"], dtype=bool)
    if pairs.any():
        baseline = {m: report["composition"]["baseline"][m]["mean"] for m in MODES}
        out["composition"] = composition_figure({m: np.array(matrices[m]) for m in MODES}, pairs, labels, baseline)
    if model is not None and rows:
        out["attention"] = attention_figure(model, heads or _chosen_heads(report), vocabulary=vocabulary, seed=seed)
    if importance_table:
        out["importance"] = importance(importance_table, xlabel=importance_title).figure
    return out


def to_svg(figure: "Figure", salt: str = "") -> str:
    """The figure as an ``<svg>`` element for inlining in HTML: no XML prolog, text drawn as paths,
    and every id (glyphs, clip paths) prefixed with ``salt`` so that several figures share a page."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": salt or None, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)  # a date, licence URIs
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", salt or f"fig{id(figure):x}") + "-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)


def plot_folder(directory: str | Path) -> Path:
    """``directory``, created with its parents if missing; one :class:`TensoralgError` line if it cannot be."""
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TensoralgError(f"cannot create the plot directory {folder}: {exc}") from None
    return folder


def save(figures: Mapping[str, "Figure"], directory: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write each figure as ``directory/NAME.FORMAT``; returns the paths written."""
    folder = plot_folder(directory)
    written = []
    for name, fig in figures.items():
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            try:
                fig.savefig(path, format=fmt, dpi=120)
            except OSError as exc:
                raise TensoralgError(f"cannot write {path}: {exc}") from None
            written.append(path)
    return written
