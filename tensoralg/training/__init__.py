"""Training the shipped models on synthetic text with a planted ground truth.

:mod:`.data` (the seeded numpy generator) and :mod:`.evaluation` need only numpy;
:mod:`.train` imports PyTorch lazily when a run starts (the ``train`` extra) and
:mod:`.torch_model` is the only module that imports it at the top.

May import: :mod:`tensoralg.errors` and :mod:`tensoralg.models`. Nothing in the core imports this package.
"""
