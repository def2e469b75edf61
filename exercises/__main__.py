"""Command line (run from the repository: the grader is not installed with qnn_lite).

    python -m exercises build [--force]      masters -> student notebooks
    python -m exercises release DIR          student notebooks + public checks, for students
    python -m exercises grade PATH...        run notebooks in sandboxes and score them
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate the student notebooks from exercises/masters")
    b.add_argument("--force", action="store_true", help="overwrite student notebooks even if edited")
    r = sub.add_parser("release", help="write the student notebooks and public checks into DIR (new or empty)")
    r.add_argument("dir", metavar="DIR")
    g = sub.add_parser("grade", help="run notebooks headlessly and score the functions they define")
    g.add_argument("paths", nargs="+", metavar="PATH")
    g.add_argument("--csv", metavar="FILE", help="write a gradebook: one row per notebook")
    g.add_argument("--json", action="store_true", help="print machine-readable results")
    g.add_argument("-j", "--jobs", type=int, default=None, help="notebooks in parallel (default: all cores)")
    g.add_argument("--timeout", type=float, default=60, help="seconds per cell (default 60)")
    g.add_argument("--case-timeout", type=float, default=None, help="seconds per check case (default 5)")
    g.add_argument("--notebook-timeout", type=float, default=None,
                   help="wall-clock seconds for a notebook's cells (default max(300, 10 x --timeout))")
    g.add_argument("--max-output", type=float, default=50, metavar="MB",
                   help="output a notebook may print before its kernel is stopped (default 50 MB)")
    args = parser.parse_args(argv)

    if args.command == "build":
        from .build import main as build_main
        return build_main(force=args.force)
    if args.command == "release":
        from .release import main as release_main
        return release_main(args.dir)

    from .grade import check_arguments, grade_notebooks, table, write_csv
    try:
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
        check_arguments(args.timeout, args.case_timeout, args.notebook_timeout, args.max_output, args.csv)
    except ValueError as e:
        print(f"python -m exercises grade: error: {e}", file=sys.stderr)
        return 2
    grades = grade_notebooks(args.paths, jobs=args.jobs, timeout=args.timeout, case_timeout=args.case_timeout,
                             notebook_timeout=args.notebook_timeout, max_output_mb=args.max_output)
    if args.json:
        print(json.dumps([gr.to_dict() for gr in grades], indent=1))
    else:
        print(table(grades))
    if args.csv:
        write_csv(grades, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
