"""Hypothesis profiles: "ci" is derandomized with a fixed budget (used when CI is set or by default)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=200, deadline=None)
# Mutation testing (mutation/mutate.py) runs the tests once per mutant: fewer examples, same derandomized draws.
settings.register_profile("mutation", parent=settings.get_profile("ci"), max_examples=15)
# An unset or empty HYPOTHESIS_PROFILE means "ci".
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")

# The training module that imports torch at its top is collected (for doctests) only where the
# optional train extra is installed; the rest of the package never needs torch.
try:
    import torch  # noqa: F401
except ImportError:
    collect_ignore = ["tensoralg/training/torch_model.py"]

# Fixture generators need torch/transformers, which only regenerating the fixtures installs.
collect_ignore_glob = ["tests/fixtures/*.py"]
