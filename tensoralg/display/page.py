"""One self-contained HTML document: inline CSS, MathML for math, inline SVG for figures, no script.

Everything inserted is escaped by the caller's printers (:mod:`tensoralg.algebra.prose`,
:mod:`tensoralg.algebra.mathml`, :mod:`tensoralg.verify.cards`); the page adds only its title,
escaped here. A Content-Security-Policy forbids scripts and any network fetch, so even a
mistake upstream could not run code or load anything.

>>> text = document("A <title>", ["<p>hello</p>"])
>>> text.startswith("<!DOCTYPE html>") and "A &lt;title&gt;" in text and "<script" not in text
True
"""

from __future__ import annotations

from html import escape
from typing import Iterable

#: No script at all, no fetch; styles and images only from the page itself.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { font-size: 1.3rem; margin-top: 2rem; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
math[display="block"] { overflow-x: auto; padding: 0.3rem 0; }
code { font-size: 0.9em; }
.ta-derivation td { border: none; }
"""


def document(title: str, sections: Iterable[str]) -> str:
    """A complete HTML5 page titled ``title`` (escaped) around the given HTML ``sections``."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )
