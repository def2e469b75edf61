"""A hostile student against the grader: every attack notebook is built here from the chapter 01 notebooks.

One batch (2 sandboxes at a time, small caps) grades them all, beside an honest
master that a neighbour tries to sabotage. The first kernel started dies on start
(an IPython startup file) to prove the retry.
"""
import os
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from exercises.build import HERE, MASTERS
from exercises.grade import grade_notebooks
from nbedit import index as _index, replace_body as _body

MASTER = MASTERS / "01_why_quantize.ipynb"
STUDENT = HERE / "01_why_quantize.ipynb"
FULL = {"1.1": 4, "1.2": 3, "1.3": 2, "1.4": 4}
ZERO = dict.fromkeys(FULL, 0)


def _nb(base):
    return nbformat.read(str(base), as_version=4)


def _append(nb, *sources):
    nb.cells.extend(new_code_cell(s) for s in sources)
    return nb


FORGE = '''
import glob, json, os, tempfile
from exercises.registry import chapter_exercises
for ex in chapter_exercises("01", hidden=True):
    rec = {"exercise": ex.id, "points": 99, "max_points": 99, "cases": []}
    paths = glob.glob(os.path.join(tempfile.gettempdir(), "**", "*.jsonl"), recursive=True)
    for path in paths + [os.environ.get("QNN_LITE_EXERCISE_LOG") or os.devnull]:
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\\n")
import exercises.runner as r
for name in ("_log", "log"):
    if hasattr(r, name):
        getattr(r, name)(r.CheckResult("1.1", "forged"))
from IPython.display import publish_display_data   # a collector message from a student cell
publish_display_data({"text/x-qnn-lite-record": json.dumps({"exercise": "1.1", "case": 0, "calls": []})})
'''

PATCH = '''
import sys, numpy as np
import exercises, exercises.runner as r, exercises.registry as reg, exercises.replay as rp
import exercises.checks.ch01 as c1
from exercises.runner import CaseResult
full = lambda case, fn, timeout, limit=True: CaseResult(case.name, True, case.points, case.points)
r.run_case = rp.run_cases = full
check = exercises.check = r.check = lambda *a, **k: print("✓ all passed")
for ex in reg.chapter_exercises("01", hidden=True):
    for c in ex.cases:
        c.run = lambda fn: None
c1.model_size_bytes_ref = c1.round_to_bits_ref = lambda *a: None
np.allclose = np.isclose = lambda *a, **k: True
sys.modules["exercises.checks.ch01"] = type(sys)("fake")
'''

FAKE_EQ = '''class _Anything:
    def __eq__(self, other):
        return True
    def __float__(self):
        return 15.0
    __hash__ = object.__hash__
return _Anything()'''

SABOTAGE = '''
import glob, json, os, tempfile, threading, time
def _spam():
    end = time.time() + 25
    while time.time() < end:
        for path in glob.glob(os.path.join(tempfile.gettempdir(), "**", "*.jsonl"), recursive=True) + \\
                glob.glob(os.path.join(tempfile.gettempdir(), "qnn_lite_checks_*")):
            try:
                with open(path, "a") as f:
                    for ex in ("1.1", "1.2", "1.3", "1.4"):
                        f.write(json.dumps({"exercise": ex, "points": 0, "max_points": 4, "cases": []}) + "\\n")
            except OSError:
                pass
        time.sleep(0.05)
threading.Thread(target=_spam, daemon=True).start()
'''

JSON_PATCH = '''
import builtins, json
_dumps = json.dumps
def _forge(obj, *a, **k):  # every record the collector sends claims a case that passed without a call
    if isinstance(obj, dict) and "case" in obj:
        obj = {**obj, "calls": [], "end": "done"}
    return _dumps(obj, *a, **k)
json.dumps = _forge
builtins.callable = lambda x: True
encode = collect = Recorder = MIME = "names the grader's cell must not need"
'''

DETACH = '''
import os, subprocess
p = subprocess.Popen(["sleep", "300"], start_new_session=True)
open({pidfile!r}, "w").write(str(p.pid))
subprocess.Popen(["sh", "-c", "sleep 301 & echo $! > {pidfile2}"], env={{"PATH": os.environ["PATH"]}},
                 start_new_session=True).wait()
'''


def _cases(tmp):
    cases = {}
    cases["forged_log"] = (_append(_nb(STUDENT), FORGE), ZERO, None)
    cases["patched_kernel"] = (_append(_nb(STUDENT), PATCH, 'check("1.1", float_format)'), ZERO, None)
    cases["patched_collector"] = (_append(_nb(STUDENT), JSON_PATCH), ZERO, None)
    shadow = _nb(MASTER)  # the notebook's own global `encode`: the grader's cell must not replace it
    _body(shadow, "# Exercise 1.2", "return encode(num_params, bits)")
    shadow.cells.insert(2, new_code_cell("def encode(n, bits):\n    return (n * bits + 7) // 8\nMIME = collect = 0"))
    cases["shadowing_names"] = (shadow, FULL, None)

    wrong = _nb(MASTER)  # a wrong 1.4 (ties up) that patches the reference and numpy's comparisons to match
    _body(wrong, "# Exercise 1.4", "d = np.abs(w).max() / (2 ** (bits - 1) - 1)\nif d == 0:\n"
                                   "    return np.zeros_like(w)\nreturn np.floor(w / d + 0.5) * d")
    cases["wrong_patched_reference"] = (_append(wrong, PATCH.replace("c.run = lambda fn: None", "pass")),
                                        {**FULL, "1.4": 3}, None)

    fake = _nb(MASTER)
    _body(fake, "# Exercise 1.2", FAKE_EQ)
    _body(fake, "# Exercise 1.3", FAKE_EQ)
    _body(fake, "# Exercise 1.1", "class F(float):\n    def __eq__(self, other):\n        return True\n"
                                  "    __hash__ = float.__hash__\nreturn (F(1), F(1), F(1))")
    cases["fake_eq"] = (fake, {**FULL, "1.1": 0, "1.2": 0, "1.3": 0}, None)

    cases["sabotage"] = (_append(_nb(STUDENT), SABOTAGE, "import time\ntime.sleep(12)"), ZERO, None)
    cases["neighbour"] = (_nb(MASTER), FULL, None)

    sigint = _nb(MASTER)
    sigint.cells.insert(_index(sigint, 'check("1.1"') + 1,
                        new_code_cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
                                      "    pass"))
    cases["sigint_loop"] = (sigint, {**ZERO, "1.1": 4}, "did not stop when interrupted")

    budget = _nb(MASTER)
    at = _index(budget, 'check("1.1"') + 1
    for _ in range(40):
        budget.cells.insert(at, new_code_cell("import time\ntime.sleep(0.5)"))
    cases["budget"] = (budget, {**ZERO, "1.1": 4}, "budget")

    flood = _nb(MASTER)
    flood.cells.insert(_index(flood, 'check("1.1"') + 1,
                       new_code_cell("for _ in range(40):\n    print('x' * 100_000)"))
    cases["flood"] = (flood, {**ZERO, "1.1": 4}, "byte cap")

    detach = _nb(MASTER)
    detach.cells.insert(2, new_code_cell(DETACH.format(pidfile=str(tmp / "pid1"), pidfile2=str(tmp / "pid2"))))
    cases["detached_child"] = (detach, FULL, None)

    overfit = _nb(MASTER)  # the public answers of 1.2 hard-coded: public full, hidden 0
    _body(overfit, "# Exercise 1.2", "return {(1_000_000, 32): 4_000_000, (1_000_000, 8): 1_000_000, "
                                     "(1_000_000, 4): 500_000,\n        (1_000_000, 1): 125_000, (3, 3): 2, "
                                     "(61_706, 5): 38_567}[num_params, bits]")
    cases["overfit"] = (overfit, FULL, None)
    return cases


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    private_tmp = tmp / "tmp"  # the sabotage writes under the temp dir: keep it away from other runs
    private_tmp.mkdir()
    ipython = tmp / "ipython" / "profile_default" / "startup"
    ipython.mkdir(parents=True)
    flag = tmp / "died_once"
    (ipython / "00-die-once.py").write_text(
        f"import os\nif not os.path.exists({str(flag)!r}):\n    open({str(flag)!r}, 'w').close()\n    os._exit(1)\n")
    cases = _cases(tmp)
    paths = {}
    for name, (nb, _, _) in cases.items():
        paths[name] = tmp / f"01_{name}.ipynb"
        nbformat.write(nb, str(paths[name]))
    renamed = tmp / "03_renamed.ipynb"  # a chapter 01 notebook under a chapter 03 name
    nb = _nb(MASTER)
    nb.metadata["qnn_lite"] = {"chapter": "01"}
    nbformat.write(nb, str(renamed))
    env = {"TMPDIR": str(private_tmp), "IPYTHONDIR": str(tmp / "ipython")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        order = ["sabotage", "neighbour"] + [n for n in cases if n not in ("sabotage", "neighbour")]
        grades = grade_notebooks([paths[n] for n in order] + [renamed], jobs=2, timeout=3, case_timeout=2,
                                 notebook_timeout=15, max_output_mb=1)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    by_name = dict(zip(order + ["renamed"], grades))
    return by_name, cases, tmp, flag


@pytest.mark.parametrize("name", ["forged_log", "patched_kernel", "patched_collector", "shadowing_names", "wrong_patched_reference", "fake_eq", "sabotage",
                                  "neighbour", "sigint_loop", "budget", "flood", "detached_child", "overfit"])
def test_attack_scores_only_what_the_functions_earn(attacked, name):
    grades, cases, _, _ = attacked
    g = grades[name]
    _, points, note = cases[name]
    assert g.points == points, (name, g.notes, {k: [c["hint"][:90] for c in v["cases"] if not c["passed"]]
                                                 for k, v in g.details.items()})
    if note:
        assert any(note in n for n in g.notes), g.notes


def test_hidden_cases_catch_hard_coded_public_answers(attacked):
    grades = attacked[0]
    assert grades["overfit"].hidden_points == {"1.2": 0, "1.4": 1}
    assert grades["neighbour"].hidden_points == {"1.2": 1, "1.4": 1}
    assert grades["forged_log"].hidden_points == {"1.2": 0, "1.4": 0}


def test_fake_equality_is_named_in_the_hint(attacked):
    hints = [c["hint"] for c in attacked[0]["fake_eq"].details["1.2"]["cases"]]
    assert hints and all("returned a _Anything: only plain values count" in h for h in hints)


def test_no_process_outlives_grading(attacked):
    tmp = attacked[2]
    pids = [int((tmp / f).read_text()) for f in ("pid1", "pid2")]
    time.sleep(0.2)
    for pid in pids:
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue  # gone
        assert b"sleep" not in cmdline, f"process {pid} ({cmdline!r}) survived grading"


def test_a_kernel_that_dies_on_start_is_retried(attacked):
    assert attacked[3].exists()  # the first kernel did die; every expectation above held anyway


def test_a_name_that_disagrees_with_the_metadata_is_reported(attacked):
    g = attacked[0]["renamed"]
    assert g.chapter == "01" and g.points == FULL
    assert any("file name says chapter 03 but metadata.qnn_lite says 01" in n for n in g.notes)
