"""The grader's side of a replay: only plain values cross, the grader's own arguments must match the kernel's."""
import numpy as np
import pytest

from exercises.collect import BadValue, Recorder, encode
from exercises import runner
from exercises.registry import chapter_exercises, get_exercise
from exercises.replay import Invalid, Replayer, decode, score_exercise
from exercises.checks.ch01 import model_size_bytes_ref, round_to_bits_ref


class Anything:
    """Equal to everything: the classic fake answer."""
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__


class FakeFloat(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__


@pytest.mark.parametrize("value", [None, True, 0, -2 ** 70, 1.5, float("nan"), float("-inf"), "s", (1, [2.0, "x"]),
                                   {("mult", "fp32"): 3.7, 1: None}, np.arange(6, dtype=np.int8).reshape(2, 3),
                                   np.array([np.nan, 1e30], np.float32), np.float32(0.1), np.int64(-3),
                                   np.bool_(True), np.zeros((0, 3)), np.array(1 + 2j)])
def test_plain_values_round_trip_with_their_types(value):
    back = decode(encode(value))
    assert type(back) is type(value)
    if isinstance(value, (np.ndarray, np.generic)):
        assert back.dtype == value.dtype and np.array_equal(back, value, equal_nan=value.dtype.kind == "f")
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value


@pytest.mark.parametrize("value", [Anything(), FakeFloat(1.0), (1, Anything()), np.array([Anything()], object),
                                   np.array([1.0]).view(np.matrix), np.zeros(2, dtype=[("a", "f4")]), print,
                                   {1, 2}, b"bytes"])
def test_anything_else_is_a_bad_value(value):
    with pytest.raises(BadValue):
        encode(value)


@pytest.mark.parametrize("node", [
    {"t": "nd", "dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="},            # object dtype
    {"t": "nd", "dtype": "<f8", "shape": [3], "b64": "AAAAAAAAAAA="},           # bytes do not match the shape
    {"t": "nd", "dtype": "<f8", "shape": [-1], "b64": ""},
    {"t": "int", "v": "9" * 5000}, {"t": "float", "v": "nope"}, {"t": "pickle", "v": "gASV"},
    {"t": "tuple", "v": "notalist"}, ["not", "a", "dict"], {"t": "dict", "v": [[{"t": "list", "v": []}, {"t": "none"}]]},
])
def test_malformed_records_are_invalid(node):
    with pytest.raises(Invalid):
        decode(node)


def _record(case, fn):
    """What the collector records for one case run on fn in the kernel."""
    rec = Recorder(fn, runner)
    end = "done"
    try:
        case.run(rec)
    except runner.CaseTimeout:
        end = "timeout"
    except BaseException:  # noqa: BLE001
        pass
    return {"name": case.name, "calls": rec.calls, "end": end}


def _score(ex_id, fn):
    ex = get_exercise(ex_id)
    records = {i: _record(c, ex.adapt(fn) if ex.adapt else fn) for i, c in enumerate(ex.cases)}
    return score_exercise(ex, records, 1.0, "missing")


def test_replayed_reference_scores_full_and_a_fake_eq_scores_nothing():
    chapter_exercises("01", hidden=True)
    assert all(r.passed for r in _score("1.2", model_size_bytes_ref))
    assert all(r.passed for r in _score("1.4", round_to_bits_ref))
    fake = _score("1.2", lambda n, bits: Anything())
    assert not any(r.passed for r in fake) and "only plain values count" in fake[0].hint
    assert not any(r.passed for r in _score("1.2", lambda n, bits: FakeFloat(model_size_bytes_ref(n, bits))))


def test_replayed_exceptions_keep_their_name_message_and_line():
    def raises(n, bits):
        raise KeyError("nope")
    r = _score("1.2", raises)[0]
    assert "your code raised KeyError: 'nope'" in r.hint and "line" in r.hint
    stub = _score("1.2", lambda n, b: (_ for _ in ()).throw(NotImplementedError("x")))[0]
    assert stub.hint.startswith("not attempted yet")


def test_a_record_for_other_arguments_fails_the_case():
    ex = get_exercise("1.2")
    rec = _record(ex.cases[0], model_size_bytes_ref)
    rec["calls"][0]["args"] = encode((5, 8))  # a forged record: the right answer to another question
    with pytest.raises(runner.Verdict, match="arguments"):
        ex.cases[0].run(Replayer(rec, 1.0))
    results = score_exercise(ex, {0: rec}, 1.0, "missing")
    assert not results[0].passed and results[1].hint == "missing"


def test_in_place_changes_to_an_argument_are_replayed():
    def scale_in_place(a):
        a *= 2
        return None
    rec = Recorder(scale_in_place, runner)
    x = np.arange(3.0)
    rec(x)
    y = np.arange(3.0)
    assert Replayer({"calls": rec.calls}, 1.0)(y) is None
    assert np.array_equal(y, [0.0, 2.0, 4.0])
