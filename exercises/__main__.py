"""Command line: `python -m exercises build [--force]` and `python -m exercises grade PATH...`."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate the student notebooks from exercises/masters")
    b.add_argument("--force", action="store_true", help="overwrite student notebooks even if edited")
    g = sub.add_parser("grade", help="run notebooks headlessly and score their check() calls")
    g.add_argument("paths", nargs="+", metavar="PATH")
    g.add_argument("--csv", metavar="FILE", help="write a gradebook: one row per notebook")
    g.add_argument("--json", action="store_true", help="print machine-readable results")
    g.add_argument("-j", "--jobs", type=int, default=None, help="notebooks in parallel (default: all cores)")
    g.add_argument("--timeout", type=float, default=60, help="seconds per cell (default 60)")
    g.add_argument("--case-timeout", type=float, default=None, help="seconds per check case (default 5)")
    args = parser.parse_args(argv)

    if args.command == "build":
        from .build import main as build_main
        return build_main(force=args.force)

    from .grade import grade_notebooks, table, write_csv
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0 seconds, got {args.timeout}")
    grades = grade_notebooks(args.paths, jobs=args.jobs, timeout=args.timeout, case_timeout=args.case_timeout)
    if args.json:
        print(json.dumps([gr.to_dict() for gr in grades], indent=1))
    else:
        print(table(grades))
    if args.csv:
        write_csv(grades, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
