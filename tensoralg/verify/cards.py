"""HTML and Markdown cards for verdicts, derivation reports and catalog results.

What Jupyter shows for these objects (their ``_repr_html_``) and the pieces of the HTML
documents (``prove --html``, ``tensoralg report``): a card is a ``<div class="ta-card">``
with the statement typeset in MathML (when the expressions are known), the verdict, the
detail and the counterexample. Styles are inline, so a card looks the same alone in a
notebook cell and inside a page. Every text is escaped.

>>> from tensoralg.verify.verification import check_formula
>>> card = verdict_html(check_formula("(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ"))
>>> 'data-status="PROVED"' in card and "<math" in card
True
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Sequence

from ..algebra import prose
from ..algebra.expr import Atom
from ..algebra.mathml import MathMLPrinter, math, mo, mrow, to_mathml
from .catalog_report import summary

if TYPE_CHECKING:
    from .catalog import Check, ClaimResult
    from .derivation import DerivationReport
    from .verification import Counterexample, Verdict

#: The colour of each verdict (and of a claim's PASS/FAIL).
COLOURS = {"PROVED": "#2e7d32", "HOLDS": "#00796b", "REFUTED": "#c62828", "ERROR": "#ef6c00", "PASS": "#2e7d32",
           "FAIL": "#c62828"}

_CARD = ("border-left:4px solid {colour};padding:0.4em 0.8em;margin:0.5em 0;background:#fafafa;"
         "font-family:system-ui,sans-serif;font-size:0.95em;overflow-x:auto")


def badge(status: str) -> str:
    """The status in its colour, bold."""
    return f'<b style="color:{COLOURS.get(status, "#333")}">{escape(status)}</b>'


def statement_html(verdict: "Verdict") -> str:
    """``lhs = rhs`` in MathML when the verdict carries its sides, else the escaped text."""
    if verdict.sides is not None:
        lhs, rhs = verdict.sides
        printer = MathMLPrinter()
        return math(mrow(printer.doprint(lhs), mo("="), printer.doprint(rhs)))
    return f"<code>{escape(verdict.statement)}</code>"


def counterexample_html(cx: "Counterexample") -> str:
    """Sizes, field, seed, the entry and both values; the instance as small matrices when listed."""
    sizes = ", ".join(f"{escape(k)} = {v}" for k, v in sorted(cx.dims.items())) or "scalars"
    rows = [
        f"<div>sizes {sizes} over {escape(cx.field)}, seed {cx.seed}: entry <code>{escape(cx.entry_text())}</code> has "
        f"LHS = <code>{escape(cx.lhs_value)}</code>, RHS = <code>{escape(cx.rhs_value)}</code></div>"
    ]
    if cx.note:
        rows.append(f'<div style="color:#555">{prose.html(cx.note)}</div>')
    values = []
    for name, matrix in cx.values:
        body = "".join("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in row) + "</tr>" for row in matrix)
        values.append(f'<span style="margin-right:1.5em">{prose.html(name)} = <table style="display:inline-table;'
                      f'border-left:1px solid #999;border-right:1px solid #999;vertical-align:middle">{body}</table></span>')
    if values:
        rows.append(f"<details><summary>the instance ({len(values)} matrices)</summary>{''.join(values)}</details>")
    return f'<details open="open"><summary>counterexample</summary>{"".join(rows)}</details>'


def verdict_html(verdict: "Verdict", title: str | None = None) -> str:
    """A verdict as a card: optional title, the statement, the verdict and method, the detail, the counterexample."""
    parts = [f'<div class="ta-card" data-status="{escape(verdict.status)}" '
             f'style="{_CARD.format(colour=COLOURS[verdict.status])}">']
    if title:
        parts.append(f"<div><b>{prose.html(title)}</b></div>")
    if verdict.sides is not None or not title:  # a titled check without sides: its title is the statement
        parts.append(statement_html(verdict))
    parts.append(f"<div>{badge(verdict.status)} <span style='color:#666'>({escape(verdict.method)}, "
                 f"{verdict.seconds:.3f} s)</span> {prose.html(verdict.detail)}</div>")
    if verdict.counterexample is not None:
        parts.append(counterexample_html(verdict.counterexample))
    parts.append("</div>")
    return "".join(parts)


def verdict_markdown(verdict: "Verdict") -> str:
    """The verdict in Markdown: statement as math, verdict in bold, detail, counterexample."""
    from ..algebra.printing import to_latex

    statement = (
        f"$${to_latex(verdict.sides[0])} = {to_latex(verdict.sides[1])}$$" if verdict.sides is not None
        else prose.markdown(verdict.statement)
    )
    text = f"{statement}\n\n**{verdict.status}** ({verdict.method}): {prose.markdown(verdict.detail)}"
    if verdict.counterexample is not None:
        text += "\n\ncounterexample: " + prose.markdown(verdict.counterexample.describe())
    return text


def derivation_html(report: "DerivationReport") -> str:
    """A derivation file's report: one row per step (lines, the step, the verdict), the first wrong one marked."""
    wrong = report.first_wrong
    status = "PROVED" if report.ok else ("ERROR" if report.exit_code == 2 else "REFUTED")
    head = (f"{escape(report.source)}: {len(report.steps)} step(s)"
            + ("" if wrong is None else f"; first wrong step: {wrong.index} (line {wrong.lines[0]} → line {wrong.lines[1]})"))
    rows = []
    for step in report.steps:
        v = step.verdict
        mark = " style='background:#fdecea'" if step is wrong else ""
        detail = "" if v.status == "PROVED" else f"<div style='color:#555'>{prose.html(v.detail)}</div>"
        cx = "" if v.counterexample is None else counterexample_html(v.counterexample)
        rows.append(f"<tr{mark}><td>{step.index}</td><td>{step.lines[0]}–{step.lines[1]}</td>"
                    f"<td>{statement_html(v)}{detail}{cx}</td><td>{badge(v.status)}</td></tr>")
    return (f'<div class="ta-card" data-status="{status}" style="{_CARD.format(colour=COLOURS[status])}">'
            f"<div><b>{head}</b></div><table><thead><tr><th>step</th><th>lines</th><th>claim</th><th>verdict</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _check_html(check: "Check") -> str:
    return verdict_html(check.verdict, title=check.description) + (
        f"<div style='margin:-0.3em 0 0.6em 1.2em;color:#555'>{prose.html(check.report)}</div>" if check.report else ""
    )


def claim_html(result: "ClaimResult") -> str:
    """One claim of the catalog: statement, derivations step by step in MathML, checks and negative controls."""
    c = result.claim
    parts = [f'<section class="ta-claim" id="{escape(c.id)}" style="{_CARD.format(colour=COLOURS[result.verdict])}">',
             f"<h2>{escape(c.id)} · {prose.html(c.title)} — {badge(result.verdict)}</h2>",
             f"<p>{prose.html(c.statement)}</p>"]
    for d in result.derivations:
        # One block per step: the expression (scrolling sideways when long), then why, then the verdict.
        parts.append(f"<h3>Derivation: {prose.html(d.derivation.title)}</h3>")
        parts.append(f"<div class='ta-step' style='overflow-x:auto;white-space:nowrap'>{to_mathml(d.derivation.steps[0].expr, 'inline')}</div>")
        for link in d.links:
            given = "".join(f"; where {to_mathml(Atom(s), 'inline')} := {to_mathml(e, 'inline')}"
                            for s, e in link.step.given.items())
            parts.append(f"<div class='ta-step' style='overflow-x:auto;white-space:nowrap'>= {to_mathml(link.step.expr, 'inline')}</div>"
                         f"<div style='margin:0 0 0.4em 2em;color:#555'><i>{prose.html(link.step.reason)}</i>{given} "
                         f"{badge(link.verdict.status)}</div>")
    for title, checks in (("Checks", result.checks), ("Negative controls (must be refuted)", result.negatives)):
        if checks:
            parts.append(f"<h3>{title}</h3>" + "".join(_check_html(ch) for ch in checks))
    parts += [f"<p><b>Error:</b> {escape(e)}</p>" for e in result.errors]
    parts.append("</section>")
    return "".join(parts)


def catalog_html(results: Sequence["ClaimResult"]) -> str:
    """Every claim's section, after a summary table with links."""
    rows = "".join(
        f"<tr><td><a href='#{escape(r.claim.id)}'>{escape(r.claim.id)}</a></td><td>{prose.html(r.claim.statement)}</td>"
        f"<td>{escape(', '.join(r.methods))}</td><td>{badge(r.verdict)}</td><td>{escape(r.refuted)}</td></tr>"
        for r in results
    )
    table = ("<table class='ta-summary'><thead><tr><th>claim</th><th>statement</th><th>methods</th><th>verdict</th>"
             f"<th>negatives</th></tr></thead><tbody>{rows}</tbody></table>")
    return f"<p>{prose.html(summary(results))}</p>{table}" + "".join(claim_html(r) for r in results)
