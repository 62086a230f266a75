"""Training with torch (the ``train`` extra: ``pip install 'tensoralg[train]'``).

Importing this package does not import torch; each module imports it when it runs, and the
command line turns a missing torch into a one-line error (exit 2). Everything trained here is
saved as safetensors and read back by the numpy side in :mod:`tensoralg.models`, so analysis
never needs torch.

May import: :mod:`tensoralg.errors`, :mod:`tensoralg.algebra` and :mod:`tensoralg.models`.
"""
