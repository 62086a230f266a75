"""``tensoralg expand``: the printed terms are the algebra's terms; counts, limits, JSON schema, errors."""

from __future__ import annotations

import json
import subprocess
import time
import tracemalloc

import console
import pytest

from tensoralg.algebra.architecture import Architecture
from tensoralg.cli import build_parser, main
from tensoralg.cli.expand import MAX_TERMS, Renderer, run
from tensoralg.paths.expansion import ScoreTerm, iter_logit_terms, iter_score_terms
from tensoralg.algebra.printing import letter_json, to_latex, to_unicode
from tensoralg.paths.term_counts import logit_counts, score_counts, total

ARCH = Architecture((1, 2), positional=True, mlp=True)


def expand(capsys, *argv):
    code = main(["expand", *argv])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    return out


def reference_json(term):
    """The term's fields from its expression's normal form (one basis term, coefficient 1)."""
    (key, coefficient), = term.expr.normal_form.terms.items()
    factors = [[letter_json(letter) for letter in word] for word in key]
    return coefficient, factors


# --- the fast renderer writes exactly the algebra's terms -----------------------------------


def all_terms():
    yield from iter_logit_terms(ARCH)
    for layer, head in ((0, 0), (1, 1)):
        yield from iter_score_terms(ARCH, layer, head)


@pytest.mark.parametrize("fmt", ["text", "latex", "json"])
def test_rendered_terms_are_the_expressions(fmt):
    renderer = Renderer(fmt)
    for term in all_terms():
        line = renderer.score(term) if isinstance(term, ScoreTerm) else renderer.logit(term)
        if fmt == "text":
            assert line.endswith(to_unicode(term.expr))
        elif fmt == "latex":
            assert line.split("  % ")[0] == to_latex(term.expr)
        else:
            data = json.loads(line)
            coefficient, factors = reference_json(term)
            assert data["coefficient"] == str(coefficient) == "1"
            sides = ["query_positional", "key_positional"] if "query_positional" in data else ["positional"]
            assert [data[k] for k in sides] + [data["residual"]] == factors
            assert data["family"] == term.family and data["order"] == term.order


def test_text_lists_every_term_with_its_labels(capsys):
    lines = expand(capsys, "--heads", "2,2").splitlines()
    assert lines[0] == "# the logits of heads 2,2: 9 terms"
    assert lines[1] == "0  direct       token     Id ⊗ W_U W_E"
    assert lines[-1] == "2  virtual      token     A^{1,1} A^{0,1} ⊗ W_U W_OV^{1,1} W_OV^{0,1} W_E"
    assert len(lines) == 1 + 9


def test_json_schema_for_logits(capsys):
    data = json.loads(expand(capsys, "--heads", "1,1", "--positional", "--format", "json"))
    assert set(data) == {"architecture", "kind", "max_order", "terms"}
    assert data["architecture"] == {"heads": [1, 1], "positional": True, "mlp": [False, False]}
    assert data["kind"] == "logits" and len(data["terms"]) == 8
    virtual = [t for t in data["terms"] if t["order"] == 2 and t["source"] == "position"][0]
    assert set(virtual) == {"order", "family", "source", "positional", "residual", "coefficient"}
    assert virtual["family"] == "virtual" and virtual["coefficient"] == "1"
    # Patterns in matrix-multiplication order: the later layer's A first.
    assert [(f["symbol"], f["layer"], f["head"]) for f in virtual["positional"]] == [("A", 1, 0), ("A", 0, 0)]
    assert [f["symbol"] for f in virtual["residual"]] == ["W_U", "W_OV", "W_OV", "W_pos"]
    assert [f["layer"] for f in virtual["residual"]] == [None, 1, 0, None]


def test_json_schema_for_scores_and_mlp_sources(capsys):
    data = json.loads(expand(capsys, "--heads", "1,1", "--mlp", "--qk", "1.0", "--format", "json"))
    assert data["kind"] == "scores" and data["head"] == {"layer": 1, "head": 0}
    assert len(data["terms"]) == total(score_counts(Architecture((1, 1), mlp=True), 1)) == 9
    term = [t for t in data["terms"] if t["family"] == "Q-composition" and t["key_source"] == "mlp"][0]
    assert {"query_positional", "key_positional", "query_source", "key_source", "key_source_layer"} <= set(term)
    assert "positional" not in term and term["key_source_layer"] == 0
    assert term["residual"][0] == {"symbol": "W_E", "layer": None, "head": None, "transpose": True}
    assert term["residual"][1] == {"symbol": "W_OV", "layer": 0, "head": 0, "transpose": True}
    assert term["residual"][-1] == {"symbol": "MLP", "layer": 0, "head": None, "transpose": False}


def test_layers_spelling_max_order_and_limit(capsys):
    assert expand(capsys, "--layers", "2", "--heads", "2") == expand(capsys, "--heads", "2,2")
    out = expand(capsys, "--layers", "12", "--heads", "12", "--max-order", "1", "--format", "json")
    assert len(json.loads(out)["terms"]) == 1 + 144
    lines = expand(capsys, "--layers", "12", "--heads", "12", "--limit", "3").splitlines()
    assert lines[0].endswith("23298085122481 terms, the first 3 shown") and len(lines) == 4
    assert json.loads(expand(capsys, "--heads", "2", "--limit", "0", "--format", "json"))["terms"] == []


def test_counts_are_exact_and_instant(capsys):
    start = time.perf_counter()
    data = json.loads(expand(capsys, "--layers", "12", "--heads", "12", "--positional", "--count", "--format", "json"))
    assert time.perf_counter() - start < 1.0
    assert data["total"] == 2 * 13**12
    assert [row["count"] for row in data["counts"]][:3] == [2, 2 * 144, 2 * 66 * 144]
    assert data["counts"][1] == {"order": 1, "family": "single-head", "count": 288, "by_source": {"token": 144, "position": 144}}
    scores = json.loads(expand(capsys, "--heads", "2,2", "--qk", "1.1", "--count", "--format", "json"))
    assert [(r["query_order"], r["key_order"], r["family"], r["count"]) for r in scores["counts"]] == [
        (0, 0, "direct", 1), (1, 0, "Q-composition", 2), (0, 1, "K-composition", 2), (1, 1, "Q&K-composition", 4)
    ]
    text = expand(capsys, "--heads", "4,4", "--count").splitlines()
    assert text[1:] == ["order 0     direct           1", "order 1     single-head      8",
                        "order 2     virtual          16", "total                        25"]
    latex = expand(capsys, "--heads", "1,1", "--qk", "1.0", "--count", "--format", "latex")
    assert "Q\\&K-composition & 1 \\\\" in latex


def test_count_agrees_with_listing(capsys):
    for argv in (["--heads", "2,0,3", "--mlp", "--positional"], ["--heads", "2,3", "--qk", "1.2", "--positional"]):
        listed = json.loads(expand(capsys, *argv, "--format", "json"))["terms"]
        counted = json.loads(expand(capsys, *argv, "--count", "--format", "json"))["total"]
        assert len(listed) == counted


# --- streaming ------------------------------------------------------------------------------


class Sink:
    """A stdout that keeps only how much was written, in how many calls."""

    def __init__(self):
        self.calls = self.chars = 0

    def write(self, text):
        self.calls += 1
        self.chars += len(text)


def streamed(argv):
    args = build_parser().parse_args(["expand", *argv])
    sink = Sink()
    tracemalloc.start()
    run(args, out=sink)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return sink, peak


def test_output_streams_with_flat_memory():
    small, small_peak = streamed(["--layers", "12", "--heads", "12", "--limit", "3000", "--format", "json"])
    large, large_peak = streamed(["--layers", "12", "--heads", "12", "--limit", "30000", "--format", "json"])
    assert large.chars > 9 * small.chars and large.calls > 10
    assert large_peak < 1.5 * small_peak + 200_000


# --- errors ---------------------------------------------------------------------------------

BAD = [
    ("negative-heads", ["--heads", "2,-1"], "non-negative"),
    ("not-a-number", ["--heads", "2,x"], "comma-separated integers"),
    ("layers-with-list", ["--layers", "2", "--heads", "2,2"], "--heads takes one number"),
    ("negative-layers", ["--layers", "-2", "--heads", "2"], "non-negative integer"),
    ("too-many-layers", ["--layers", "5000", "--heads", "1"], "at most 1024 layers"),
    ("too-many-heads", ["--heads", "99999999999", "--limit", "3"], "at most 65536 heads per layer"),
    ("missing-heads", [], "--heads"),
    ("qk-missing-layer", ["--heads", "2,2", "--qk", "2.0"], "there is no layer 2"),
    ("qk-missing-head", ["--heads", "2,2", "--qk", "1.2"], "there is no head 1.2"),
    ("qk-malformed", ["--heads", "2,2", "--qk", "1"], "LAYER.HEAD"),
    ("astronomical", ["--layers", "12", "--heads", "12"], f"more than the {MAX_TERMS:,}"),
    ("astronomical-order", ["--layers", "12", "--heads", "12", "--max-order", "4"], "10,654,129 terms"),
    ("astronomical-scores", ["--layers", "12", "--heads", "12", "--qk", "11.0", "--max-order", "2"], "use --count"),
    ("negative-limit", ["--heads", "2", "--limit", "-1"], "non-negative integer"),
    ("negative-max-order", ["--heads", "2", "--max-order", "-1"], "non-negative integer"),
    ("count-and-limit", ["--heads", "2", "--count", "--limit", "3"], "not allowed with"),
    ("bad-format", ["--heads", "2", "--format", "yaml"], "invalid choice"),
    ("symbolic-without-layers", ["--symbolic"], "--symbolic needs --layers L"),
    ("symbolic-with-heads", ["--symbolic", "--layers", "2", "--heads", "2"], "not --heads"),
    ("symbolic-too-many-layers", ["--symbolic", "--layers", "13"], "0 to 12 layers"),
    ("symbolic-count", ["--symbolic", "--layers", "2", "--count"], "--count and --max-order apply to enumerated heads"),
    ("equation-not-latex", ["--heads", "2", "--equation"], "use it with --format latex"),
    ("bad-qk-format", ["--heads", "2,2", "--qk", "x"], "LAYER.HEAD"),
]


def exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("argv, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message):
    code = exit_code(["expand", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_console_script():
    script, env = console.command(), console.environment()
    done = subprocess.run([*script, "expand", "--heads", "1,1", "--format", "json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["terms"]) == total(logit_counts(Architecture((1, 1)))) == 4
    bad = subprocess.run([*script, "expand", "--heads", "1,1", "--qk", "1.1"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "tensoralg expand: error: there is no head 1.1: layer 1 has 1 head(s), numbered from 0"
    )
