"""Graded exercises for the qnn_lite book.

In a notebook::

    from exercises import check
    check("3.2", calc_qparams)      # ✓/✗ per case, hints, points, running total

From a shell, in the repository (this package is not installed with qnn_lite)::

    python -m exercises build            # masters -> student notebooks
    python -m exercises release DIR      # what students get (no solutions, no hidden cases)
    python -m exercises grade sub/*.ipynb --csv gradebook.csv
"""
from .runner import CheckResult, check  # noqa: F401

__all__ = ["check", "CheckResult"]
