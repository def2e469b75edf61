"""Write ``qnn_lite/data/corpora/python_topics.txt.gz``: the TinyGPT corpus, from Python's own docs.

The text is ``pydoc_data.topics.topics`` (the help pages that ``help('if')`` prints), joined in
sorted-key order, with a few typographic characters mapped to ASCII and any other non-ASCII
character dropped: ~465 KB of English prose and Python code. Licence: the Python Software
Foundation License Version 2 (see ``qnn_lite/data/corpora/LICENSE``). The file is shipped so
the corpus does not change with the reader's Python version; run this once to regenerate it
(the result depends on the Python that runs it: we used 3.11.7) and update ``CORPUS_SHA256``
in ``qnn_lite/data/text.py``.
"""
from __future__ import annotations

import gzip
import hashlib
import pathlib
import sys

import pydoc_data.topics

_ASCII = {"\u2013": "-", "\u2014": "--", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
          "\u2026": "...", "\u00b0": " degrees", "\u00df": "ss", "\t": "    "}


def build() -> str:
    text = "\n\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    text = "".join(_ASCII.get(c, c) for c in text)
    return "".join(c for c in text if c == "\n" or 32 <= ord(c) < 127)


if __name__ == "__main__":
    text = build()
    out = pathlib.Path(__file__).resolve().parents[1] / "qnn_lite/data/corpora/python_topics.txt.gz"
    out.write_bytes(gzip.compress(text.encode("ascii"), mtime=0))
    print(f"{out}: {len(text)} characters (Python {sys.version.split()[0]}), "
          f"sha256 of the text {hashlib.sha256(text.encode('ascii')).hexdigest()}")
