"""Kernel side of `grade`: run each exercise's cases on the notebook's functions and send out what they returned.

The grader does not import this module in the kernel: it sends this file's text,
followed by one call of `collect(...)`, as a cell of its own after the student's
cells. Every case of the chapter (public and hidden) runs on a *recorder* that
wraps the student's function: for each call it keeps the arguments and the
outcome -- a returned value encoded as plain data (`encode`), or the exception,
timeout, `sys.exit`, stderr output -- and publishes one message per case. The
grader replays those records where the student's code cannot reach
(`exercises.replay`); nothing computed here is trusted except as the student's
answer, so the checks' verdicts here are thrown away.

Only plain values cross: None, bool, int, float, str, tuple, list, dict, numpy
arrays and numpy scalars of a numeric dtype (`type(x) is ...`, no subclasses),
and a qnn_lite Tensor's `.data`. Anything else (an object whose `__eq__` is always
true, a float subclass, an object array) is recorded as a bad value: a wrong answer.
This module imports nothing from `exercises` at the top: it must run as a cell.
"""
import base64 as _b64

import numpy as _np

MIME = "text/x-qnn-lite-record"
MAX_DEPTH, MAX_STR = 32, 100_000
_NP_SCALARS = (_np.bool_, _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.uint16, _np.uint32,
               _np.uint64, _np.float16, _np.float32, _np.float64, _np.complex64, _np.complex128)


class BadValue(Exception):
    """A value that is not plain data; its message is the type's name."""


def _array(a):
    if a.dtype.kind not in "biufc" or a.dtype.hasobject or a.dtype.fields is not None:
        raise BadValue(f"numpy array of dtype {a.dtype}")
    return {"t": "nd", "dtype": a.dtype.str, "shape": list(a.shape),
            "b64": _b64.b64encode(_np.ascontiguousarray(a).tobytes()).decode("ascii")}


def encode(x, depth=0):
    """`x` as a JSON-able tree of plain values; raises BadValue for anything else."""
    if depth > MAX_DEPTH:
        raise BadValue("structure nested too deeply")
    t = type(x)
    if x is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": x}
    if t is int:
        return {"t": "int", "v": str(x)}
    if t is float:
        return {"t": "float", "v": x.hex()}
    if t is str:
        if len(x) > MAX_STR:
            raise BadValue(f"str of {len(x)} characters")
        return {"t": "str", "v": x}
    if t is tuple or t is list:
        return {"t": t.__name__, "v": [encode(v, depth + 1) for v in x]}
    if t is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in x.items()]}
    if t is _np.ndarray:
        return _array(x)
    if t in _NP_SCALARS:
        out = _array(_np.asarray(x))
        out["t"] = "npscalar"
        return out
    if t.__name__ == "Tensor" and t.__module__.startswith("qnn_lite.") and type(x.data) is _np.ndarray:
        return _array(x.data)  # the grader sees a Tensor's values as an array
    raise BadValue(t.__name__)


def _encode_or_opaque(x):
    try:
        return encode(x)
    except BadValue:
        return {"t": "opaque", "type": type(x).__name__}


class Recorder:
    """Calls the student's function, recording (arguments, outcome, arrays it changed in place) per call."""

    def __init__(self, fn, runner):
        self.fn, self.runner, self.calls = fn, runner, []

    def __call__(self, *args, **kwargs):
        import contextlib
        import io
        import warnings
        r = self.runner
        rec = {"args": _encode_or_opaque(args), "kwargs": _encode_or_opaque(kwargs)}
        self.calls.append(rec)
        arrays = [(i, a, a.copy()) for i, a in enumerate(args) if type(a) is _np.ndarray]
        arrays += [(k, a, a.copy()) for k, a in kwargs.items() if type(a) is _np.ndarray]
        err, caught, value, raised = io.StringIO(), [], None, None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    value = self.fn(*args, **kwargs)
        except r.CaseTimeout:
            rec["out"] = {"kind": "timeout"}
            raise
        except r.Fail as e:  # raised by an exercise's adapter (a class answer's helper)
            raised, rec["out"] = e, {"kind": "fail", "msg": _text(e)}
        except SystemExit as e:
            code = e.code if type(e.code) in (int, str) or e.code is None else repr(e.code)
            raised, rec["out"] = e, {"kind": "exit", "code": _encode_or_opaque(code)}
        except KeyboardInterrupt as e:
            raised, rec["out"] = e, {"kind": "interrupted"}
        except Exception as e:  # noqa: BLE001 -- the student's exception, replayed by name
            import builtins
            base = next((k.__name__ for k in type(e).__mro__ if getattr(builtins, k.__name__, None) is k),
                        "Exception")
            raised, rec["out"] = e, {"kind": "raise", "name": type(e).__name__, "base": base,
                                     "msg": _text(e), "frame": r._student_frame(e)}
        rec["mutated"] = [[k, _encode_or_opaque(a)] for k, a, before in arrays
                          if a.shape != before.shape or not _np.array_equal(a, before, equal_nan=True)]
        if raised is None:
            if caught:
                w = caught[0]
                rec["out"] = {"kind": "stderr", "text": f"{w.category.__name__}: {str(w.message)[:200]}"}
            elif err.getvalue().strip():
                rec["out"] = {"kind": "stderr", "text": err.getvalue().strip().splitlines()[-1][:200]}
            else:
                try:
                    rec["out"] = {"kind": "return", "value": encode(value)}
                except BadValue as e:
                    rec["out"] = {"kind": "bad_value", "type": str(e)}
        if raised is not None:
            raise raised
        return value


def _text(e):
    try:
        return str(e)[:500]
    except Exception:  # noqa: BLE001 -- a __str__ that raises
        return f"<{type(e).__name__}>"


def collect(params, user_ns):
    """Run every case of params["chapter"] on the functions named in params["answers"]; publish per case.

    `params` is the grader's JSON text; `user_ns` the notebook's globals, where the answers live.
    """
    import importlib
    import json
    import sys
    import types

    params = json.loads(params)
    for name in [m for m in sys.modules if m == "exercises" or m.startswith("exercises.")]:
        del sys.modules[name]  # whatever the notebook did to them: import afresh from disk
    registry = importlib.import_module("exercises.registry")
    runner = importlib.import_module("exercises.runner")
    importlib.import_module(f"exercises.checks.ch{params['chapter']}")
    if params.get("hidden_source"):
        name = f"exercises.hidden.ch{params['chapter']}"
        mod = types.ModuleType(name)
        mod.__package__ = "exercises.hidden"
        sys.modules[name] = mod
        exec(compile(params["hidden_source"], name, "exec"), mod.__dict__)  # noqa: S102 -- the grader's text
    from IPython.display import publish_display_data

    def send(record):
        record["nonce"] = params["nonce"]
        publish_display_data({MIME: json.dumps(record)})

    timeout = float(params["case_timeout"])
    for ex_id, expr in params["answers"].items():
        ex = registry.get_exercise(ex_id)
        try:
            answer = eval(expr, user_ns)  # noqa: S307 -- the notebook's own expression, in its own kernel
        except BaseException as e:  # noqa: BLE001
            send({"exercise": ex_id, "answer_error": f"`{expr}` is not defined at the end of the notebook "
                                                      f"({type(e).__name__}: {_text(e)})"})
            continue
        if answer is None or not callable(answer):
            send({"exercise": ex_id, "answer_error": runner.not_callable_hint(ex_id, answer)})
            continue
        plain = ex.adapt(answer) if ex.adapt is not None else answer
        for index, case in enumerate(ex.cases):
            rec = Recorder(plain, runner)
            end = "done"
            try:
                with runner._time_limit(timeout):
                    case.run(rec)
            except runner.CaseTimeout:
                end = "timeout"
            except BaseException:  # noqa: BLE001 -- the verdict is the grader's business, not ours
                pass
            send({"exercise": ex_id, "case": index, "name": case.name, "calls": rec.calls, "end": end})
            if end == "timeout":
                break  # the grader skips the rest of this exercise, as `check` does
