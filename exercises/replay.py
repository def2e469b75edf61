"""Grader side: score a notebook from the records `exercises.collect` sent out of its kernel.

The grader's process never runs student code. For each case it runs the case --
imported here, before any notebook ran -- on a `Replayer`: a stand-in for the
student's function that, for the n-th call, checks that the grader's own
arguments are the ones recorded in the kernel and returns the recorded value
(decoded and validated: plain numbers, strings, tuples, numeric numpy arrays) or
raises the recorded exception. So what a notebook does to `check`, `run_case`,
the cases or the reference implementations inside its kernel can only change
the arguments it recorded (then the replay fails) or the values it returned (its
answer, which the grader compares itself).
"""
from __future__ import annotations

import base64
import binascii
import builtins
import math

import numpy as np

from .collect import _encode_or_opaque
from .runner import CaseTimeout, CaseResult, Fail, Verdict, run_cases

_MAX_INT_DIGITS = 4000


class Invalid(ValueError):
    """A record that is not well-formed plain data."""


def _array(node):
    try:
        dtype = np.dtype(str(node["dtype"]))
        shape = tuple(int(n) for n in node["shape"])
        raw = base64.b64decode(node["b64"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise Invalid(f"bad array record: {e}") from None
    if dtype.kind not in "biufc" or dtype.hasobject or dtype.fields is not None:
        raise Invalid(f"array dtype {dtype} is not numeric")
    if len(shape) > 32 or any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(raw):
        raise Invalid(f"array of shape {shape} and dtype {dtype} does not match its {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(node, depth=0):
    """The plain value an `encode`d tree stands for; raises Invalid for anything malformed."""
    if depth > 34 or type(node) is not dict:
        raise Invalid("malformed value record")
    t, v = node.get("t"), node.get("v")
    if t == "none":
        return None
    if t == "bool" and type(v) is bool:
        return v
    if t == "int" and type(v) is str and len(v) <= _MAX_INT_DIGITS:
        try:
            return int(v)
        except ValueError:
            raise Invalid(f"bad int {v[:40]!r}") from None
    if t == "float" and type(v) is str:
        try:
            return float.fromhex(v)
        except ValueError:
            raise Invalid(f"bad float {v[:40]!r}") from None
    if t == "str" and type(v) is str:
        return v
    if t in ("tuple", "list") and type(v) is list:
        items = [decode(x, depth + 1) for x in v]
        return tuple(items) if t == "tuple" else items
    if t == "dict" and type(v) is list:
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2:
                raise Invalid("malformed dict record")
            key = decode(pair[0], depth + 1)
            try:
                out[key] = decode(pair[1], depth + 1)
            except TypeError:  # an unhashable key
                raise Invalid("unhashable dict key") from None
        return out
    if t == "nd":
        return _array(node)
    if t == "npscalar":
        a = _array(node)
        if a.shape != ():
            raise Invalid("numpy scalar with a shape")
        return a[()]
    raise Invalid(f"unknown value type {str(t)[:40]!r}")


def _same(a, b) -> bool:
    """Two encoded argument trees hold the same values (floats equal to 1e-12 relative)."""
    if a == b:
        return True
    try:
        x, y = decode(a), decode(b)
    except Invalid:
        return False
    return _close(x, y)


def _close(x, y) -> bool:
    if type(x) is not type(y):
        return False
    if type(x) in (tuple, list):
        return len(x) == len(y) and all(_close(p, q) for p, q in zip(x, y))
    if type(x) is dict:
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, (np.ndarray, np.generic, float)):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind in "fc":
            return bool(np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True))
        return bool(np.array_equal(x, y))
    return x == y


def _exception(out) -> BaseException:
    """The exception a recorded `raise` stands for: a subclass of the builtin it derived from, under its name."""
    name, base_name = str(out.get("name", "Exception"))[:80], out.get("base")
    base = getattr(builtins, str(base_name), None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    msg = str(out.get("msg", ""))[:500]
    cls = type(name if name.isidentifier() else "Exception", (base,), {"__str__": lambda self: msg})
    e = cls(msg)
    frame = out.get("frame")
    e._qnn_frame = frame if type(frame) is str else ""
    return e


class Replayer:
    """Stands in for the student's function in one case: the calls recorded in the kernel, in order."""

    def __init__(self, record: dict, timeout: float):
        self.calls = record.get("calls") if type(record.get("calls")) is list else []
        self.timed_out = record.get("end") == "timeout"
        self.timeout, self.n = timeout, 0

    def __call__(self, *args, **kwargs):
        if self.n >= len(self.calls):
            if self.timed_out:
                raise CaseTimeout()
            raise Verdict("your notebook's kernel did not make this call of the case (it made "
                          f"{len(self.calls)}): were the checks changed inside the notebook?")
        rec = self.calls[self.n]
        self.n += 1
        if type(rec) is not dict or not (_same(_encode_or_opaque(args), rec.get("args"))
                                         and _same(_encode_or_opaque(kwargs), rec.get("kwargs"))):
            raise Verdict("the arguments your notebook's kernel passed differ from the grader's: "
                          "were the checks or their inputs changed inside the notebook?")
        self._apply_mutations(rec, args, kwargs)
        out = rec.get("out") if type(rec.get("out")) is dict else {}
        kind = out.get("kind")
        if kind == "return":
            try:
                return decode(out.get("value"))
            except Invalid as e:
                raise Verdict(f"your function's value could not be read: {e}") from None
        if kind == "raise":
            raise _exception(out)
        if kind == "fail":
            raise Fail(str(out.get("msg", "wrong answer"))[:500])
        if kind == "timeout":
            raise CaseTimeout()
        if kind == "exit":
            try:
                code = decode(out.get("code"))
            except Invalid:
                code = "?"
            raise SystemExit(code)
        if kind == "stderr":
            raise Verdict(f"your code wrote to stderr: {str(out.get('text', ''))[:200]}")
        if kind == "bad_value":
            raise Verdict(f"your function returned a {str(out.get('type', '?'))[:80]}: only plain values count "
                          "(numbers, bools, strings, None, tuples/lists/dicts of them, numpy arrays of numbers)")
        if kind == "interrupted":
            raise Verdict("your code was interrupted (KeyboardInterrupt)")
        if self.timed_out:
            raise CaseTimeout()
        raise Verdict("the grader lost this call's result (the kernel stopped during it?)")

    @staticmethod
    def _apply_mutations(rec, args, kwargs):
        for item in rec.get("mutated") or []:
            try:
                where, node = item
                target = args[where] if type(where) is int else kwargs[where]
                value = decode(node)
                if type(target) is np.ndarray and type(value) is np.ndarray and value.shape == target.shape:
                    np.copyto(target, value, casting="unsafe")
            except (Invalid, KeyError, IndexError, TypeError, ValueError):
                continue


def score_exercise(ex, records: dict | None, timeout: float, missing: str) -> list:
    """CaseResults for every case of `ex` (public then hidden) from its records.

    `records` is {"answer_error": hint} or {case index: record}; None means nothing
    arrived for this exercise and `missing` says why.
    """
    if records is None or "answer_error" in records:
        hint = records["answer_error"] if records else missing
        return [CaseResult(c.name, False, 0, c.points, hint) for c in ex.cases]
    index = {id(c): i for i, c in enumerate(ex.cases)}

    def fn_for(case):
        rec = records.get(index[id(case)])
        if rec is None or rec.get("name") != case.name:
            return _Missing(missing)
        return Replayer(rec, timeout)
    return run_cases(ex.cases, fn_for, timeout, limit=False)  # the grader's own code: no alarm


class _Missing:
    def __init__(self, why):
        self.why = why

    def __call__(self, *args, **kwargs):
        raise Verdict(self.why)
