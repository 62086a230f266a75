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


@pytest.mark.parametrize("argv, where, message", [
    pytest.param(w[1], *u[1:], id=f"{w[0]}-{u[0]}")
    for w in WRITERS for u in UNWRITABLE
    if not ("--plots" in w[1] and u[0] == "missing-directory")  # --plots creates its directory
])
def test_an_output_that_cannot_be_written_is_bad_input(capsys, tmp_path, argv, where, message):
    if argv[0] in ("train", "qk-dictionary"):
        pytest.importorskip("torch")
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


#: (id, argv with {d} for a folder holding empty/, bad.txt, bad.safetensors, bad.npz, a part of the message)
BAD_INPUT = [
    ("analyze-missing", ["analyze", "{d}/none.safetensors"], "no such file, and not a shipped model"),
    ("analyze-directory", ["analyze", "{d}/empty"], "a directory without model.safetensors or model.npz"),
    ("analyze-wrong-type", ["analyze", "{d}/bad.txt"], "unknown weights file type '.txt'"),
    ("analyze-corrupt", ["analyze", "{d}/bad.safetensors"], "cannot read"),
    ("analyze-not-zip", ["analyze", "{d}/bad.npz"], "cannot read"),
    ("analyze-heads", ["analyze", "attn-only-1l", "--heads", "0"], "--heads: expected a positive integer"),
    ("analyze-top", ["analyze", "attn-only-1l", "--top", "-1"], "--top: expected a non-negative integer"),
    ("analyze-seed", ["analyze", "attn-only-1l", "--seed", "x"], "--seed: expected a non-negative integer"),
    ("analyze-scale-text", ["analyze", "attn-only-1l", "--score-scale", "x"], "--score-scale: invalid float value"),
    ("analyze-scale-negative", ["analyze", "attn-only-1l", "--score-scale", "-1"], "score_scale must be a positive number"),
    ("analyze-scale-nan", ["analyze", "attn-only-1l", "--score-scale", "nan"], "score_scale must be a positive number"),
    ("analyze-token-range", ["analyze", "attn-only-1l", "--token", "96"], "token ids lie in [0, 96)"),
    ("analyze-token-string", ["analyze", "attn-only-1l", "--token", "nope"], "not a token id"),
    ("analyze-vocab-missing", ["analyze", "attn-only-1l", "--token", "1", "--vocab", "{d}/none.json"], "cannot read the vocabulary"),
    ("analyze-vocab-directory", ["analyze", "attn-only-1l", "--token", "1", "--vocab", "{d}/empty"], "cannot read the vocabulary"),
    ("convert-missing", ["convert", "{d}/none.npz", "{d}/out.npz"], "no such file"),
    ("convert-suffix", ["convert", "attn-only-1l", "{d}/out.pt"], "OUT must end in .safetensors or .npz"),
    ("convert-exists", ["convert", "attn-only-1l", "{d}/bad.npz"], "exists; pass --force"),
    ("skip-trigrams-missing", ["skip-trigrams", "{d}/none.npz"], "no such file"),
    ("skip-trigrams-directory", ["skip-trigrams", "{d}/empty"], "a directory without"),
    ("skip-trigrams-head", ["skip-trigrams", "attn-only-1l", "--head", "1.0"], "no head 1.0"),
    ("skip-trigrams-head-syntax", ["skip-trigrams", "attn-only-1l", "--head", "x"], "a head is written L.H"),
    ("skip-trigrams-top", ["skip-trigrams", "attn-only-1l", "--top", "-1"], "--top: expected a non-negative integer"),
    ("importance-missing", ["importance", "{d}/none.npz"], "no such file"),
    ("importance-wrong-type", ["importance", "{d}/bad.txt"], "unknown weights file type"),
    ("importance-sequences", ["importance", "attn-only-2l", "--sequences", "0"], "--sequences must be at least 1"),
    ("importance-no-card", ["importance", "{d}/plain.npz"], "has no model card"),
    ("report-missing", ["report", "{d}/none.npz"], "no such file"),
    ("report-importance-missing", ["report", "attn-only-1l", "--no-figures", "--importance", "{d}/none.json"], "cannot read the importance table"),
    ("report-importance-not-json", ["report", "attn-only-1l", "--no-figures", "--importance", "{d}/bad.txt"], "cannot read the importance table"),
    ("report-attention", ["report", "attn-only-1l", "--attention", "L9H9"], "unknown heads ['L9H9']"),
    ("models-argument", ["models", "attn-only-1l"], "unrecognized arguments"),
    ("train-preset", ["train", "huge", "-o", "{d}/x.safetensors"], "unknown preset 'huge'"),
    ("train-steps", ["train", "tiny", "-o", "{d}/x.safetensors", "--steps", "0"], "steps must be positive"),
    ("qk-pairs-missing", ["qk-pairs", "{d}/none.safetensors"], "no such file"),
    ("qk-pairs-a-model-name", ["qk-pairs", "attn-only-2l"], "not a shipped dictionary (shipped: qk-"),
    ("qk-pairs-a-model", ["qk-pairs", "{d}/plain.safetensors"], "is it a qk-dictionary file?"),
    ("qk-dictionary-directory", ["qk-dictionary", "{d}/empty", "--layer", "0", "-o", "{d}/q.safetensors"], "unknown model"),
    ("normal-form-format", ["normal-form", "M", "--format", "yaml"], "--format: invalid choice"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    from tensoralg.models.toy_models import induction_model
    from tensoralg.models.weights import save_weights

    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "bad.txt").write_text("not weights\n")
    (d / "bad.safetensors").write_bytes(b"hello")
    (d / "bad.npz").write_bytes(b"hello")
    save_weights(induction_model(n_vocab=6, n_ctx=8), d / "plain.npz")
    save_weights(induction_model(n_vocab=6, n_ctx=8), d / "plain.safetensors")
    return d


@pytest.mark.parametrize("argv, message", [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(bad_files, capsys, argv, message):
    if argv[0] in ("train", "qk-dictionary"):
        pytest.importorskip("torch")
    try:
        code = main([a.format(d=bad_files) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err


def test_every_help_lists_its_options_and_reads_as_plain_text(capsys):
    from tensoralg.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert sorted(commands) == sorted(["prove", "check", "normal-form", "expand", "analyze", "convert", "models",
                                       "skip-trigrams", "importance", "train", "report", "qk-dictionary", "qk-pairs"])
    for name, sub in commands.items():
        text = sub.format_help()
        assert "``" not in text and sub.description, name
        for action in sub._actions:
            for option in action.option_strings:
                assert option in text, (name, option)
    top = parser.format_help()
    assert all(name in top for name in commands) and "--debug" in top and "--version" in top


def test_version_is_the_package_version(capsys):
    import tomllib

    from tensoralg import __version__

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"tensoralg {__version__}" == f"tensoralg {pyproject['project']['version']}"
