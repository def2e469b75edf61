"""Grading arguments and notebook metadata: one-line errors before any kernel starts, bad metadata scores 0."""
import json

import nbformat
import pytest

from exercises.__main__ import main as cli
from exercises.build import HERE


@pytest.mark.parametrize("args", [["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "0"], ["--timeout", "-1"],
                                  ["--case-timeout", "0"], ["--case-timeout", "-1"], ["--case-timeout", "nan"],
                                  ["--notebook-timeout", "0"], ["--max-output", "-1"], ["-j", "0"]])
def test_bad_numbers_are_rejected_in_one_line(args, capsys):
    assert cli(["grade", str(HERE / "01_why_quantize.ipynb"), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and args[0] in err and "must be" in err


def test_csv_into_a_missing_directory_fails_before_grading(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "book.csv"
    assert cli(["grade", str(HERE / "01_why_quantize.ipynb"), "--csv", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "does not exist" in err


@pytest.mark.parametrize("meta", [["01"], "01", 7])
def test_malformed_metadata_scores_zero_with_a_note_and_the_batch_goes_on(tmp_path, capsys, meta):
    bad = nbformat.read(str(HERE / "01_why_quantize.ipynb"), as_version=4)
    bad.metadata["qnn_lite"] = meta
    path = tmp_path / "01_bad.ipynb"
    nbformat.write(bad, str(path))
    garbage = tmp_path / "02_garbage.ipynb"
    garbage.write_text("{ not json")
    assert cli(["grade", str(path), str(garbage), "-j", "1", "--json"]) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert (first["total"], first["max_total"], first["chapter"]) == (0, 15, "01")
    assert "metadata.qnn_lite is a" in first["notes"][0] and "not graded" in first["notes"][0]
    assert second["total"] == 0 and "could not read" in second["notes"][0]
