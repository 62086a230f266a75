"""Mutation testing of one core module: mutmut's mutation operators, our kill criterion.

    python mutation/mutate.py normal_form               # every mutant of the module (slow)
    python mutation/mutate.py normal_form --sample 20   # a seeded random sample of them
    python mutation/mutate.py normal_form --only 3 17   # re-check mutants by number

A mutant is killed when the module's fast tests or ``tensoralg prove`` fail on it
(mutation/runner.py, one interpreter per mutant). The mutants are those of mutmut 2
(``pip install "mutmut<3"``) without its string, f-string, annotation and decorator
mutations (message texts and typing). It works in a copy of the checkout
(build/mutation/<module>), never on the working tree, and writes one JSON line per mutant
(number, line, the mutated line, status) to build/mutation/<module>.jsonl. Slow, not run in CI;
run one module at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mutmut

ROOT = Path(__file__).resolve().parent.parent

#: module → (file, the fast tests that belong to it)
MODULES = {
    "normal_form": ("tensoralg/algebra/normal_form.py", ["tests/test_algebra.py", "tests/test_notation.py"]),
    "exact": ("tensoralg/algebra/exact.py", ["tests/test_exact.py", "tests/test_soundness.py", "tests/test_verification.py"]),
    "verification": ("tensoralg/verify/verification.py",
                     ["tests/test_verification.py", "tests/test_soundness.py", "tests/test_cli_errors.py"]),
    "expansion": ("tensoralg/paths/expansion.py", ["tests/test_expansion.py"]),
    "circuits": ("tensoralg/models/circuits.py", ["tests/test_circuits.py"]),
    "composition": ("tensoralg/models/composition.py", ["tests/test_composition.py"]),
    "weights": ("tensoralg/models/weights.py", ["tests/test_weights.py", "tests/test_weights_biases.py"]),
    "processing": ("tensoralg/models/processing.py", ["tests/test_processing.py"]),
}
SKIPPED_TYPES = {"string", "fstring", "annassign", "decorator"}
TIMEOUT = 180  # seconds for one mutant; a mutant that loops forever (a hang the tests expose) counts as killed


def _config() -> SimpleNamespace:
    return SimpleNamespace(mutation_types_to_apply=set(mutmut.mutations_by_type) - SKIPPED_TYPES,
                           covered_lines_by_filename=None, coverage_data=None)


def mutants(source: str, filename: str) -> list:
    """mutmut's mutation ids for ``source``, in file order."""
    return mutmut.list_mutations(mutmut.Context(source=source, filename=filename, config=_config()))


def mutated(source: str, filename: str, mutation_id) -> str:
    text, count = mutmut.mutate(mutmut.Context(source=source, mutation_id=mutation_id, filename=filename, config=_config()))
    assert count == 1, f"mutant {mutation_id} applied {count} times"
    return text


def copy_checkout(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("build", ".git", "*.egg-info", "__pycache__", ".hypothesis", ".mutmut-cache")
    shutil.copytree(ROOT, work, ignore=ignore, symlinks=True)
    # tensoralg.proofs is installed from proofs/; in the copy it must import from the copy.
    (work / "tensoralg" / "proofs").symlink_to(work / "proofs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", choices=sorted(MODULES))
    parser.add_argument("--sample", type=int, help="check a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--only", type=int, nargs="+", help="check these mutant numbers (1-based, file order)")
    args = parser.parse_args(argv)

    filename, tests = MODULES[args.module]
    work = ROOT / "build" / "mutation" / args.module
    copy_checkout(work)
    target = work / filename
    source = target.read_text()
    ids = mutants(source, filename)
    chosen = list(range(1, len(ids) + 1))
    if args.only:
        chosen = args.only
    elif args.sample:
        chosen = sorted(random.Random(args.seed).sample(chosen, min(args.sample, len(ids))))
    env = {**os.environ, "PYTHONPATH": str(work), "HYPOTHESIS_PROFILE": "mutation"}
    runner = [sys.executable, str(work / "mutation" / "runner.py"), *tests]
    if subprocess.run(runner, cwd=work, env=env, capture_output=True).returncode != 0:
        print("the tests fail without mutations; fix them first", file=sys.stderr)
        return 2
    out = work.parent / f"{args.module}.jsonl"
    lines = source.splitlines()
    killed = 0
    with out.open("w") as log:
        for k, number in enumerate(chosen, 1):
            mid = ids[number - 1]
            text = mutated(source, filename, mid)
            target.write_text(text)
            try:
                done = subprocess.run(runner, cwd=work, env=env, capture_output=True, timeout=TIMEOUT)
                status = "killed" if done.returncode != 0 else "survived"
            except subprocess.TimeoutExpired:
                status = "killed (timeout)"
            finally:
                target.write_text(source)
            killed += status != "survived"
            new_line = text.splitlines()[mid.line_number] if mid.line_number < len(text.splitlines()) else ""
            record = {"number": number, "line": mid.line_number + 1, "original": lines[mid.line_number].strip(),
                      "mutant": new_line.strip(), "status": status}
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
            print(f"[{k}/{len(chosen)}] #{number} line {record['line']}: {status}: {record['mutant']}", flush=True)
    print(f"{args.module}: {len(ids)} mutants, {len(chosen)} checked, {killed} killed, {len(chosen) - killed} survived")
    return 0


if __name__ == "__main__":
    sys.exit(main())
