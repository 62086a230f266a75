#!/usr/bin/env bash
# Mutation testing of one core module with mutmut 2 (pip install "mutmut<3"); slow, not run in CI.
#
#   bash mutation/run.sh normal_form        # one module at a time (see MODULES below)
#   bash mutation/run.sh normal_form 17     # re-check one mutant by id
#
# It mutates a copy of the checkout (build/mutation/<module>, so the working tree is never touched),
# and a mutant is killed when the module's fast tests or `tensoralg prove` fail on it. The results
# stay in that copy: `cd build/mutation/<module> && mutmut results` / `mutmut show <id>`.
# String literals, f-strings, annotations and decorators are not mutated (messages and typing).
set -euo pipefail

declare -A MODULES=(
  [normal_form]="tensoralg/algebra/normal_form.py|tests/test_algebra.py tests/test_verification.py"
  [exact]="tensoralg/algebra/exact.py|tests/test_exact.py tests/test_soundness.py tests/test_verification.py"
  [verification]="tensoralg/verify/verification.py|tests/test_verification.py tests/test_soundness.py tests/test_cli_errors.py tests/test_catalog.py"
  [expansion]="tensoralg/paths/expansion.py|tests/test_expansion.py"
  [circuits]="tensoralg/models/circuits.py|tests/test_circuits.py"
  [composition]="tensoralg/models/composition.py|tests/test_composition.py"
  [weights]="tensoralg/models/weights.py|tests/test_weights.py"
)

name="${1:?usage: mutation/run.sh MODULE [MUTANT_ID]; modules: ${!MODULES[*]}}"
spec="${MODULES[$name]:?unknown module $name; modules: ${!MODULES[*]}}"
module="${spec%%|*}"
tests="${spec#*|}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/build/mutation/$name"

mkdir -p "$work"
# A fresh copy of the sources and tests (the mutmut cache of earlier runs is kept).
(cd "$root" && tar --exclude=./build --exclude=./.git --exclude='*.egg-info' --exclude=__pycache__ -cf - .) | (cd "$work" && tar -xf -)
# tensoralg.proofs is installed from proofs/; in the copy it must import from the copy.
ln -sfn ../proofs "$work/tensoralg/proofs"
cd "$work"
export PYTHONPATH="$work" HYPOTHESIS_PROFILE=mutation
printf '%s\n' "python -m pytest -x -q -p no:cacheprovider $tests && python -m tensoralg prove > /dev/null" > runner.sh
mutmut run ${2:+"$2"} --paths-to-mutate "$module" --tests-dir tests --runner "bash runner.sh" \
  --disable-mutation-types string,fstring,annassign,decorator || true
mutmut results
