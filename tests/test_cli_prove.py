"""``tensoralg prove``: the table, the exit codes, JSON, Markdown and LaTeX output."""

from __future__ import annotations

import json
import shutil
import subprocess

import console
import pytest

import tensoralg.cli.prove as prove_cli
from tensoralg.verify.catalog import Claim
from tensoralg.cli import main


def run(capsys, *argv):
    code = main(["prove", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_of_named_claims(capsys):
    code, out, err = run(capsys, "C4", "c17b")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].split() == ["claim", "statement", "methods", "verdict", "negatives", "time"]
    assert lines[1].startswith("C4 ") and "PASS" in lines[1] and "2/2" in lines[1]
    assert lines[2].startswith("C17b ") and "symbolic numeric" in lines[2]
    assert lines[3].startswith("2 claims: 2 passed, 0 failed")


def test_unknown_claim_is_a_one_line_error(capsys):
    code, out, err = run(capsys, "C4", "C99")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown claim 'C99'" in err and "C17b" in err


def test_a_failed_write_is_bad_input(capsys, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.write_text", refuse)
    code, out, err = run(capsys, "C4", "--markdown", "-o", str(tmp_path / "catalog.md"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "Permission denied" in err


def test_json_output_is_the_run(capsys):
    code, out, _ = run(capsys, "C16", "--json", "--seed", "3")
    data = json.loads(out)
    assert code == 0 and data["seed"] == 3 and data["passed"]
    (claim,) = data["claims"]
    assert claim["id"] == "C16" and claim["negatives_refuted"] == "2/2"
    control = claim["negative_controls"][0]["verdict"]
    assert control["status"] == "REFUTED" and control["counterexample"]["entry"] == [1, 0]


def test_seed_changes_the_instances(capsys):
    seeds = []
    for seed in ("0", "1"):
        _, out, _ = run(capsys, "C1", "--json", "--seed", seed)
        seeds.append([c["verdict"]["counterexample"]["seed"] for c in json.loads(out)["claims"][0]["negative_controls"]])
    assert seeds[0] != seeds[1]


def test_markdown_document_to_a_file(capsys, tmp_path):
    target = tmp_path / "catalog.md"
    code, out, _ = run(capsys, "C13", "--markdown", "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert code == 0 and out.splitlines()[1].startswith("C13 ")
    assert text.startswith("# The tensoralg proofs catalog")
    assert "### Derivation: a head reading a head is one head" in text
    assert "- $= \\left(A^{1,0} A^{0,0} \\otimes W_{OV}^{1,0} W_{OV}^{0,0}\\right) \\cdot X$" in text


def test_latex_document(capsys):
    code, out, _ = run(capsys, "C6", "--latex")
    assert code == 0 and out.startswith("\\documentclass") and out.isascii()
    assert "\\section*{C6: The residual stream has no privileged basis --- PASS}" in out


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_document_compiles_without_errors(tmp_path):
    # C11's derivation has the longest steps; C16 and C19 the most Unicode in their text.
    assert main(["prove", "C11", "C16", "C19", "--latex", "-o", str(tmp_path / "catalog.tex")]) == 0
    build = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "catalog.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stdout[-2000:]
    assert (tmp_path / "catalog.pdf").stat().st_size > 0


@pytest.mark.parametrize("formats", [["--markdown", "--latex"], ["--json", "--latex"], ["--json", "--markdown"]])
def test_output_formats_exclude_each_other(capsys, formats):
    with pytest.raises(SystemExit) as exit_info:
        main(["prove", *formats])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_failing_claim_exits_nonzero(capsys, monkeypatch):
    from tensoralg.algebra.expr import atom
    from tensoralg.algebra.symbols import declared_symbol

    A, B = (atom(declared_symbol(n, "p", "p")) for n in "AB")
    bad = Claim("C1", "commuting", "AB = BA", "AB = BA", derive=list,
                check=lambda ctx: [ctx.identity("AB = BA", A @ B, B @ A)], refute=lambda ctx: [])
    monkeypatch.setattr(prove_cli, "discover", lambda: (bad,))
    code, out, _ = run(capsys)
    assert code == 1
    assert "C1 FAILED: check 'AB = BA': REFUTED" in out


def test_console_script():
    done = subprocess.run([*console.command(), "prove", "C2", "C3"], capture_output=True, text=True, timeout=120,
                          env=console.environment())
    assert done.returncode == 0, done.stderr
    assert "2 claims: 2 passed, 0 failed" in done.stdout


def test_verbose_lists_checks_and_counterexamples(capsys, tmp_path):
    code, out, _ = run(capsys, "C16", "-v")
    assert code == 0
    assert "  negative: all eigenvalues positive ⇒ every token raises its own logit most: REFUTED (exact)" in out
    assert "M = [[-1, -2], [4, 5]]" in out
    target = tmp_path / "table.txt"
    code, out, _ = run(capsys, "C16", "-o", str(target))
    assert code == 0 and out == f"wrote {target}\n" and target.read_text().startswith("claim")
