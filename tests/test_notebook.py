"""examples/tutorial.ipynb runs top to bottom in a fresh kernel and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "tutorial.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_runs_and_shows_math_cards_and_figures():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = [key for o in outputs for key in o.get("data", {})]
    assert kinds.count("text/latex") >= 6  # 0-, 1- and 2-layer expansions as math
    assert kinds.count("image/png") >= 5  # eigenvalues, scatter, composition, attention, importance
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any('data-status="PROVED"' in h for h in html)  # the derivation, every step proved
    assert any('data-status="REFUTED"' in h and "counterexample" in h for h in html)  # the classic slip
    text = "".join(o.get("text", "") for o in outputs)
    assert "induction heads: ['L1H0', 'L1H1', 'L1H2', 'L1H3']" in text  # the shipped attn-only-2l
    tables = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any(t.startswith("| terms | ordinary tokens | second and later copies |") for t in tables)  # C20
