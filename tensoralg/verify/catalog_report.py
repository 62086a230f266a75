"""The reports of a catalog run: the terminal table, JSON, a Markdown and a LaTeX document.

Each renders the :class:`~tensoralg.verify.catalog.ClaimResult` of :func:`tensoralg.verify.catalog.run_claim`:
:func:`render_table` for the terminal, :func:`catalog_json` for programs (schema in the README),
:func:`to_markdown` and :func:`to_latex_document` for a reader who studies the derivations.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from .catalog import Check, ClaimResult, Step, is_refuted
from ..algebra import prose
from ..algebra.expr import Atom, Expr
from ..algebra.printing import to_latex, to_unicode
from .verification import Verdict


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(results: Sequence[ClaimResult]) -> str:
    """'13 claims: 13 passed, 0 failed · 20/20 negative controls refuted · 9.1 s'."""
    passed = sum(r.passed for r in results)
    refuted = sum(sum(map(is_refuted, r.negatives)) for r in results)
    total = sum(len(r.negatives) for r in results)
    seconds = sum(r.seconds for r in results)
    return (
        f"{len(results)} claim{'s' if len(results) != 1 else ''}: {passed} passed, {len(results) - passed} failed · "
        f"{refuted}/{total} negative controls refuted · {seconds:.1f} s"
    )


def render_table(results: Sequence[ClaimResult], *, width: int = 56) -> str:
    """The result table: claim, statement, methods, verdict, negatives refuted, time; then failures."""
    header = ("claim", "statement", "methods", "verdict", "negatives", "time")
    rows = [
        (r.claim.id, _shorten(r.claim.statement, width), " ".join(r.methods), r.verdict, r.refuted, f"{r.seconds:.2f}s")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows]
    lines.append(summary(results))
    for r in results:
        lines += [f"{r.claim.id} FAILED: {line}" for line in r.failures]
    return "\n".join(lines)


def render_details(results: Sequence[ClaimResult]) -> str:
    """Under the table: each claim's derivations, every check and each counterexample."""
    lines = []
    for r in results:
        lines.append(f"\n{r.claim.id} {r.claim.title}: {r.verdict}")
        for d in r.derivations:
            lines.append(f"  derivation {d.derivation.title!r}: {len(d.links)} step(s) {'PROVED' if d.proved else 'NOT PROVED'}")
        for label, checks in (("check", r.checks), ("negative", r.negatives)):
            for ch in checks:
                lines.append(f"  {label}: {ch.description}: {ch.verdict.status} ({ch.verdict.method})")
                if ch.verdict.counterexample is not None:
                    lines.append("    " + ch.verdict.counterexample.describe().replace("\n", "\n    "))
                if ch.report:
                    lines.append(f"    {ch.report}")
    return "\n".join(lines)


def _check_sections(result: ClaimResult) -> list[tuple[str, Sequence[Check]]]:
    """The non-empty sections of checks a document lists, with their titles."""
    sections = (("Checks", result.checks), ("Negative controls (must be refuted)", result.negatives))
    return [(title, checks) for title, checks in sections if checks]


def _check_text(check: Check) -> str:
    """A check's verdict in words, then its report: "PROVED (symbolic): …. |H1| = 2: 9 terms." """
    report = f" {check.report}." if check.report else ""
    return f"{_describe_verdict(check.verdict)}.{report}"


def _check_json(check: Check) -> dict[str, Any]:
    return {"description": check.description, "report": check.report, "verdict": check.verdict.to_json()}


def result_json(result: ClaimResult) -> dict[str, Any]:
    """One claim's run as JSON (schema in the README)."""
    c = result.claim
    return {
        "id": c.id,
        "title": c.title,
        "statement": c.statement,
        "latex": c.latex,
        "verdict": result.verdict,
        "methods": list(result.methods),
        "negatives_refuted": result.refuted,
        "seconds": round(result.seconds, 4),
        "derivations": [
            {
                "title": d.derivation.title,
                "proved": d.proved,
                "start": {"unicode": to_unicode(d.derivation.steps[0].expr), "latex": to_latex(d.derivation.steps[0].expr)},
                "steps": [
                    {
                        "unicode": to_unicode(link.step.expr),
                        "latex": to_latex(link.step.expr),
                        "reason": link.step.reason,
                        "given": {to_unicode(Atom(s)): to_unicode(e) for s, e in link.step.given.items()},
                        "verdict": link.verdict.to_json(),
                    }
                    for link in d.links
                ],
            }
            for d in result.derivations
        ],
        "checks": [_check_json(ch) for ch in result.checks],
        "negative_controls": [_check_json(ch) for ch in result.negatives],
        "errors": list(result.errors),
    }


def catalog_json(results: Sequence[ClaimResult], seed: int) -> str:
    """The whole run as a JSON document: {"seed", "passed", "summary", "claims": [...]}."""
    data = {
        "seed": seed,
        "passed": all(r.passed for r in results),
        "summary": summary(results),
        "claims": [result_json(r) for r in results],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _where(step: Step, spell: Callable[[Expr], str]) -> str:
    """'; where $F := W_U W_O$, $G := W_V W_E$' for a step with givens, each definition as inline math."""
    if not step.given:
        return ""
    return "; where " + ", ".join(f"${spell(Atom(s))} := {spell(e)}$" for s, e in step.given.items())


def _describe_verdict(verdict: Verdict) -> str:
    text = f"{verdict.status} ({verdict.method}): {verdict.detail}"
    if verdict.counterexample is not None:
        text += f" — counterexample: {verdict.counterexample.describe()}"
    return text


_PREAMBLE_MD = """\
# The tensoralg proofs catalog

Each claim of CLAIMS.md (Elhage et al. 2021, *A Mathematical Framework for Transformer
Circuits*) with its derivation, checked link by link in the free tensor-product algebra,
the checks run on random exact instances and random small models, and the negative
controls, nearby false statements that the engine refuted with a counterexample.
Column-vector convention: $(A\\otimes W)\\cdot X = A X W^\\top$, $W_{{OV}} = W_O W_V$, $W_{{QK}} = W_Q^\\top W_K$.

Seed {seed}. {summary}.
"""


def to_markdown(results: Sequence[ClaimResult], seed: int) -> str:
    """The catalog as a Markdown document for GitHub: math as ``$…$``/``$$…$$``, table cells escaped."""
    out = [_PREAMBLE_MD.format(seed=seed, summary=prose.markdown(summary(results)))]
    out.append("| claim | statement | methods | verdict | negatives |\n|---|---|---|---|---|")
    out += [
        f"| {r.claim.id} | {prose.markdown(r.claim.statement)} | {', '.join(r.methods)} | {r.verdict} | {r.refuted} |"
        for r in results
    ]
    for r in results:
        c = r.claim
        out.append(f"\n## {c.id} · {prose.markdown(c.title)} — {r.verdict}\n\n{prose.markdown(c.statement)}\n\n$$\n{c.latex}\n$$")
        for d in r.derivations:
            out.append(f"\n### Derivation: {prose.markdown(d.derivation.title)}\n\n$$\n{to_latex(d.derivation.steps[0].expr)}\n$$\n")
            for link in d.links:
                given = _where(link.step, to_latex)
                out.append(f"- $= {to_latex(link.step.expr)}$ — *{prose.markdown(link.step.reason)}*{given}: **{link.verdict.status}**")
        for title, checks in _check_sections(r):
            out.append(f"\n### {title}\n")
            out += [f"- **{prose.markdown(ch.description)}** — {prose.markdown(_check_text(ch))}".replace("\n", "\n  ")
                    for ch in checks]
        out += [f"\n**Error:** {prose.markdown(e)}" for e in r.errors]
    return "\n".join(out) + "\n"


_PREAMBLE_TEX = r"""\documentclass[11pt]{article}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\allowdisplaybreaks
\emergencystretch=3em
\sloppy  %% long formulas in check texts: a loose line rather than text in the margin
\title{The tensoralg proofs catalog}
\date{Seed %(seed)d. %(summary)s.}
\begin{document}
\maketitle
Each claim of CLAIMS.md (Elhage et al.\ 2021, \emph{A Mathematical Framework for Transformer
Circuits}) with its derivation, checked link by link in the free tensor-product algebra, the
checks run on random exact instances and random small models, and the negative controls:
nearby false statements the engine refuted with a counterexample. Column-vector convention:
$(A\otimes W)\cdot X = A X W^\top$, $W_{OV} = W_O W_V$, $W_{QK} = W_Q^\top W_K$.
"""


def _breakable(latex: str) -> str:
    r"""Inline math that TeX may break at + and ⊗ inside parentheses too: \left( … \right)
    is one unbreakable group, \bigl( … \bigr) is not."""
    return latex.replace("\\left(", "\\bigl(").replace("\\right)", "\\bigr)")


def to_latex_document(results: Sequence[ClaimResult], seed: int) -> str:
    """The catalog as a LaTeX document (pdflatex)."""
    out = [_PREAMBLE_TEX % {"seed": seed, "summary": prose.latex(summary(results))}]
    for r in results:
        c = r.claim
        out.append(f"\\section*{{{c.id}: {prose.latex(c.title)} --- {r.verdict}}}\n"
                   f"\\begin{{flushleft}}\\quad $\\displaystyle {_breakable(c.latex)}$\\end{{flushleft}}")
        for d in r.derivations:
            # A step is inline math in a hanging-indent list, so a long sum breaks across lines.
            out.append(f"\\paragraph{{Derivation: {prose.latex(d.derivation.title)}.}}\n"
                       "\\begin{list}{}{\\leftmargin=3em \\itemindent=-2em \\raggedright}")
            out.append(f"  \\item ${_breakable(to_latex(d.derivation.steps[0].expr))}$")
            for link in d.links:
                given = _where(link.step, lambda e: _breakable(to_latex(e)))
                why = prose.latex(link.step.reason) + given + f" ({link.verdict.status.lower()})"
                out.append(f"  \\item $= {_breakable(to_latex(link.step.expr))}$ \\quad {{\\small\\emph{{{why}}}}}")
            out.append("\\end{list}")
        for title, checks in _check_sections(r):
            out.append(f"\\paragraph{{{title}.}}\n\\begin{{itemize}}")
            out += [f"  \\item \\textbf{{{prose.latex(ch.description)}}}: {prose.latex(_check_text(ch))}" for ch in checks]
            out.append("\\end{itemize}")
        out += [f"\\paragraph{{Error.}} {prose.latex(e)}" for e in r.errors]
    out.append("\\end{document}")
    return "\n".join(out) + "\n"
