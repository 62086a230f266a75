"""Exit codes every script can rely on: 0 success, 1 refuted, 2 bad input, 3 not decided,
4 internal error; an internal error is one line on stderr, its traceback only with --debug."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tensoralg.cli.check as check_cli
from tensoralg.cli import INTERNAL_ERROR, main


def _crash(*args, **kwargs):
    raise ZeroDivisionError("division by zero\nsecond line")


#: (id, where the bug is, argv)
BUGS = [
    ("check", "check_assuming", ["check", "A == A", "--let", "A: d x d"]),
    ("check-file", "check_file", ["check", "--file", "derivation.txt"]),
]


@pytest.mark.parametrize("target, argv", [b[1:] for b in BUGS], ids=[b[0] for b in BUGS])
def test_internal_error_is_one_line_and_exit_4(monkeypatch, capsys, target, argv):
    monkeypatch.setattr(check_cli, target, _crash)
    assert main(argv) == INTERNAL_ERROR == 4
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("tensoralg check: internal error: ZeroDivisionError: division by zero second line")
    assert "--debug" in err


@pytest.mark.parametrize("position", ["before", "after"])
def test_debug_prints_the_traceback(monkeypatch, capsys, position):
    monkeypatch.setattr(check_cli, "check_assuming", _crash)
    argv = ["check", "A == A", "--let", "A: d x d"]
    assert main(["--debug", *argv] if position == "before" else [*argv, "--debug"]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("(a bug in tensoralg; rerun with --debug for the traceback)")


def test_not_decided_has_its_own_exit_code(monkeypatch, capsys):
    monkeypatch.setattr("tensoralg.verify.verification.SIZE_CAP", {1: 1})
    assert main(["check", "M N == N M", "--let", "M, N: d x d"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("UNDECIDED") and "not decided" in out and "HOLDS" not in out


def test_a_derivation_file_reports_bad_input_before_refuted_before_not_decided(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("tensoralg.verify.verification.SIZE_CAP", {1: 1})
    path = tmp_path / "d.txt"
    path.write_text("M N\nN M\n")
    assert main(["check", "--file", str(path), "--let", "M, N: d x d"]) == 3
    path.write_text("M N\nN M\nN M + M\n")
    assert main(["check", "--file", str(path), "--let", "M, N: d x d"]) == 1
    path.write_text("M N\nN M\nN M + M\nN +\n")
    assert main(["check", "--file", str(path), "--let", "M, N: d x d"]) == 2
    capsys.readouterr()


@pytest.mark.parametrize("trials", ["0", "101", "-1", "many"])
def test_trials_are_bounded(capsys, trials):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "M == M", "--let", "M: d x d", "--trials", trials])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_empty_hypothesis_profile_falls_back_to_ci():
    conftest = Path(__file__).resolve().parent.parent / "conftest.py"
    code = f"import runpy; runpy.run_path({str(conftest)!r}); from hypothesis import settings; print(settings().derandomize)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HYPOTHESIS_PROFILE": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


#: (id, argv with {out} for the output path); every command that writes a file
WRITERS = [
    ("prove", ["prove", "C4", "--json", "-o", "{out}"]),
    ("report", ["report", "attn-only-1l", "--no-figures", "-o", "{out}"]),
    ("convert", ["convert", "attn-only-1l", "{out}"]),
    ("train", ["train", "tiny", "--quiet", "-o", "{out}"]),
    ("qk-dictionary", ["qk-dictionary", "c18-induction", "--layer", "1", "--preset", "tiny", "-o", "{out}"]),
    ("check-lean", ["check", "M == M", "--let", "M: d x d", "--lean", "{out}"]),
    ("analyze-plots", ["analyze", "attn-only-1l", "--no-behaviour", "--plots", "{out}"]),
]
#: (id, output path under tmp_path, a word of the message)
UNWRITABLE = [
    ("missing-directory", "missing/out.safetensors", "No such file or directory|does not exist"),  # not for --plots: it creates DIR
    ("under-a-file", "file.txt/out.safetensors", "Not a directory|does not exist"),
]


@pytest.mark.parametrize("where, message", [u[1:] for u in UNWRITABLE], ids=[u[0] for u in UNWRITABLE])
@pytest.mark.parametrize("argv", [w[1] for w in WRITERS], ids=[w[0] for w in WRITERS])
def test_an_output_that_cannot_be_written_is_bad_input(capsys, tmp_path, argv, where, message):
    if argv[0] in ("train", "qk-dictionary"):
        pytest.importorskip("torch")
    if "--plots" in argv and where.startswith("missing/"):
        pytest.skip("--plots creates its directory")
    (tmp_path / "file.txt").write_text("x")
    assert main([a.format(out=tmp_path / where) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "internal error" not in err and re.search(message, err), err


@pytest.mark.parametrize("argv", [w[1] for w in WRITERS if w[0] not in ("check-lean", "analyze-plots")],
                         ids=[w[0] for w in WRITERS if w[0] not in ("check-lean", "analyze-plots")])
def test_an_output_that_is_a_directory_is_bad_input(capsys, tmp_path, argv):
    if argv[0] in ("train", "qk-dictionary"):
        pytest.importorskip("torch")
    assert main([a.format(out=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err and tmp_path.name in err, err


@pytest.mark.parametrize("argv", [["analyze", "attn-only-1l", "--no-behaviour", "--plots", "{d}/plots"],
                                  ["report", "attn-only-1l", "-o", "{d}/page.html"]], ids=["analyze-plots", "report"])
def test_figures_without_matplotlib_fail_before_any_work(monkeypatch, capsys, tmp_path, argv):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import matplotlib.figure raises ImportError
    assert main([a.format(d=tmp_path) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pip install 'tensoralg[plot]'" in err
    assert list(tmp_path.iterdir()) == []
    if argv[0] == "report":
        assert main([*(a.format(d=tmp_path) for a in argv), "--no-figures"]) == 0
