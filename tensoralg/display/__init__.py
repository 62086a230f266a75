"""Pages for people: the self-contained HTML documents of ``tensoralg report`` and ``prove --html``.

The interfaces level, beside the command line: it may import every layer below (algebra,
formula, models, paths, verify) and :mod:`tensoralg.plots`; nothing below imports it. Jupyter
display lives on the objects themselves (``_repr_latex_``, ``_repr_html_``), built from the
printers of :mod:`tensoralg.algebra` and the cards of :mod:`tensoralg.verify.cards`.

``page`` wraps sections into one HTML file (inline CSS, no script, no network);
``report`` is a model's page: card, head table, figures as inline SVG, the path-expansion
formula in MathML and the term-importance table.
"""
