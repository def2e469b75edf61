"""Editing notebooks in tests: find a code cell, replace an exercise's solution."""


def index(nb, text):
    """Index of the first code cell starting with `text`."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(text))


def replace_body(nb, header, new_body):
    """Replace the solution of the exercise cell starting with `header` by `new_body` (indented)."""
    cell = nb.cells[index(nb, header)]
    head, _, rest = cell.source.partition("    ### BEGIN SOLUTION\n")
    cell.source = head + "".join(f"    {line}\n" for line in new_body.split("\n")) + rest.split("### END SOLUTION")[1]
