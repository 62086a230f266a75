"""The catalog as documents: LaTeX with no raw markup and no overfull boxes, Markdown that GitHub renders."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensoralg.algebra import prose
from tensoralg.verify.catalog import Context, discover, run_catalog
from tensoralg.verify.catalog_report import to_latex_document, to_markdown

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.fixture(scope="module")
def catalog():
    return run_catalog(discover(), Context(seed=0))


def _without_texttt(text: str) -> str:
    """The text with every \\texttt{…} group removed (escaped braces \\{ \\} inside do not count)."""
    out, i = [], 0
    while (start := text.find("\\texttt{", i)) >= 0:
        out.append(text[i:start])
        depth, j = 0, start + len("\\texttt")
        while True:
            if text[j] == "\\":
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    return "".join(out) + text[i:]


def _outside_math_and_code(text: str) -> str:
    text = _without_texttt(text)
    text = re.sub(r"(?<!\\)\$\$.*?(?<!\\)\$\$", " ", text, flags=re.S)
    return re.sub(r"(?<!\\)\$.*?(?<!\\)\$", " ", text, flags=re.S)


def test_latex_has_no_raw_markup_and_modern_fonts(catalog):
    text = to_latex_document(catalog, seed=0)
    assert "\\usepackage{lmodern}" in text and "\\usepackage[T1]{fontenc}" in text
    body = _outside_math_and_code(text.split("\\begin{document}", 1)[1])
    assert "\\_" not in body, re.findall(r".{30}\\_.{30}", body)[:3]  # W_OV with a literal underscore
    assert "^{" not in body and "\\textasciicircum" not in body  # indices are typeset, never printed
    assert "W_{OV}" in text and "\\sum_{h}" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (.ci/run installs it)")
def test_latex_catalog_compiles_with_no_overfull_box(catalog, tmp_path):
    (tmp_path / "catalog.tex").write_text(to_latex_document(catalog, seed=0), encoding="utf-8")
    build = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "catalog.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stdout[-2000:]
    log = (tmp_path / "catalog.log").read_text(encoding="utf-8", errors="replace")
    assert log.count("Overfull \\hbox") == 0, re.findall(r"Overfull \\hbox.*\n.*\n.*", log)[:3]
    assert "Font shape" not in log or "undefined" not in log  # lmodern/T1 fonts exist: no bitmap fallback


def test_markdown_tables_keep_their_columns_and_math_is_dollar_delimited(catalog):
    text = to_markdown(catalog, seed=0)
    rows = [line for line in text.splitlines() if line.startswith("| C")]
    assert len(rows) == len(catalog)
    assert all(len(_UNESCAPED_PIPE.findall(row)) == 6 for row in rows)  # 5 cells, whatever the statement holds
    prose_only = _outside_math_and_code(re.sub(r"`[^`]*`", " ", text))
    assert not re.search(r"W_OV|\^\{|⊗", prose_only), re.findall(r".{20}(?:W_OV|⊗).{20}", prose_only)[:3]
    assert "$$\n" in text and "$W_{OV}" in text


@given(st.text())
def test_prose_latex_is_ascii_with_balanced_math(text):
    spelled = prose.latex(text)
    assert spelled.isascii()
    assert len(re.findall(r"(?<!\\)\$", spelled)) % 2 == 0


@given(st.text(alphabet=st.sampled_from(list("ab_^{}|$*`\\ W(),⊗ᵀΣλ.\n"))))
def test_prose_markdown_never_splits_a_table_cell(text):
    assert not _UNESCAPED_PIPE.search(prose.markdown(text).replace("\\\\", ""))


def test_prose_html_escapes_everything():
    assert "<script>" not in prose.html("<script>alert(1)</script> W_OV^{<b>}")
