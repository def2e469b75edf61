"""The gradebook: a table for the terminal and a CSV, public and hidden points in separate columns."""
from __future__ import annotations

import csv


def exercise_columns(grades) -> list:
    ids = {ex for g in grades for ex in g.max_points}
    return sorted(ids, key=lambda s: tuple(int(p) for p in s.split(".")))


def _hidden_columns(grades) -> list:
    ids = {ex for g in grades for ex in g.hidden_max_points}
    return sorted(ids, key=lambda s: tuple(int(p) for p in s.split(".")))


def table(grades) -> str:
    """One row per notebook: public points per exercise, hidden points per exercise (NN.kh), and the totals."""
    cols, hcols = exercise_columns(grades), _hidden_columns(grades)
    name_w = max([len("notebook")] + [len(g.path) for g in grades])
    header = (f"{'notebook':<{name_w}}  " + "  ".join(f"{c:>5}" for c in cols)
              + "".join(f"  {c + 'h':>5}" for c in hcols) + "   public  hidden   total")
    lines = [header, "-" * len(header)]
    for g in grades:
        cells = "  ".join(f"{g.points[c]:>2}/{g.max_points[c]:<2}" if c in g.max_points else f"{'-':>5}"
                          for c in cols)
        hcells = "".join(f"  {g.hidden_points[c]:>2}/{g.hidden_max_points[c]:<2}" if c in g.hidden_max_points
                         else f"  {'-':>5}" for c in hcols)
        public = f"{g.public_total}/{sum(g.max_points.values())}"
        hidden = f"{g.hidden_total}/{sum(g.hidden_max_points.values())}"
        lines.append(f"{g.path:<{name_w}}  {cells}{hcells}   {public:>6}  {hidden:>6}   {g.total}/{g.max_total}")
        for note in g.notes:
            lines.append(f"{'':<{name_w}}    note: {note}")
    return "\n".join(lines)


def write_csv(grades, path) -> None:
    """The gradebook: public points per exercise, hidden points per exercise ("N.k hidden"), totals, notes."""
    cols, hcols = exercise_columns(grades), _hidden_columns(grades)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["notebook", *cols, *(f"{c} hidden" for c in hcols), "public", "public_max", "hidden",
                    "hidden_max", "total", "max_total", "notes"])
        for g in grades:
            w.writerow([g.path, *(g.points.get(c, "") for c in cols), *(g.hidden_points.get(c, "") for c in hcols),
                        g.public_total, sum(g.max_points.values()), g.hidden_total,
                        sum(g.hidden_max_points.values()), g.total, g.max_total, " | ".join(g.notes)])
