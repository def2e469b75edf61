"""Run one notebook's cells in a fresh kernel, then the grader's collector cell; leave no process behind.

`python -m exercises.sandbox` reads a job (JSON) on stdin and writes the result
(JSON) on stdout; `exercises.grade` starts one per notebook in a new session.
It keeps no cell output, only error names and a byte count:

- each cell has a timeout: the kernel is interrupted, and if it is not idle
  `grace` seconds later (SIGINT ignored, a C loop) it is killed;
- the notebook has a wall-clock budget: when it runs out no further cell starts;
- output beyond `max_output` bytes stops the kernel;
- a kernel that died, hung or flooded output at cell k is replaced by a fresh
  one that re-runs the cells before k once (cells that timed out are skipped), so
  what the notebook defined before k is still graded; a kernel that dies while
  starting is retried once;
- this process is a child subreaper (Linux): processes the kernel started, even
  detached with `start_new_session=True`, become its children and are killed at
  the end, as is every process whose environment carries the run's marker.
"""
from __future__ import annotations

import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MARKER_ENV = "QNN_LITE_GRADE_RUN"


def _set_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass  # not Linux: the marker scan below still runs


def _pids_with_marker(marker: str) -> list:
    needle = f"{MARKER_ENV}={marker}".encode()
    out = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(int(entry))
        except OSError:
            continue
    return out


def _children() -> list:
    me, out = os.getpid(), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            out.append(int(entry))
    return out


def kill_all(marker: str, rounds: int = 100) -> int:
    """SIGKILL every child of this process and every process carrying `marker`; reap. Returns how many."""
    killed = set()
    for _ in range(rounds):
        pids = set(_children()) | set(_pids_with_marker(marker))
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.02)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
    return len(killed)


class Kernel:
    """One ipykernel with a private connection file, run under the job's environment."""

    def __init__(self, job, runtime_dir):
        from jupyter_client import KernelManager
        self.km = KernelManager(kernel_name="python3",
                                connection_file=os.path.join(runtime_dir, f"kernel-{time.monotonic_ns()}.json"))
        self.km.start_kernel(env=job["env"], cwd=job["cwd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=job["startup_timeout"])

    def run(self, source, deadline, grace, out_budget, on_display=None):
        """Execute `source`; returns (status, ename, bytes of output).

        status: ok, error, timeout (interrupted, then idle), hung, dead or output.
        """
        msg_id = self.kc.execute(source, store_history=True, allow_stdin=False, stop_on_error=False)
        status, ename, used, interrupted_at = "ok", None, 0, None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= deadline:
                try:
                    self.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 -- a kernel that is gone
                    return "dead", ename, used
                interrupted_at, status = now, "timeout"
            limit = deadline if interrupted_at is None else interrupted_at + grace
            if interrupted_at is not None and now >= limit:
                return "hung", ename, used
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.01, min(0.5, limit - now)))
            except queue.Empty:
                if not self.km.is_alive():
                    return "dead", ename, used
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                used += len(content.get("text", ""))
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = content.get("data", {})
                used += sum(len(str(v)) for v in data.values())
                if on_display is not None:
                    on_display(data)
            elif kind == "error":
                used += sum(len(line) for line in content.get("traceback", []))
                if status == "ok":
                    status, ename = "error", str(content.get("ename"))[:80]
            elif kind == "status" and content.get("execution_state") == "idle":
                return status, ename, used
            if used > out_budget:
                return "output", ename, used

    def close(self):
        """Stop listening and SIGKILL the kernel's process group (the only cleanup off Linux)."""
        for step in (self.kc.stop_channels, lambda: self.km.shutdown_kernel(now=True)):
            try:
                step()
            except Exception:  # noqa: BLE001 -- a kernel that is already gone
                pass


def run_job(job) -> dict:
    """Execute the notebook's cells, then the collector; the result is {"notes", "records", "ran"}."""
    notes, records, runtime_dir = [], [], tempfile.mkdtemp(prefix="qnn_grade_")
    start = time.monotonic()
    budget_end = start + job["notebook_timeout"]
    cells = job["cells"]  # [[index, source], ...] of the code cells
    marker = job["env"][MARKER_ENV]

    def start_kernel():
        for attempt in (1, 2):
            try:
                return Kernel(job, runtime_dir)
            except Exception as e:  # noqa: BLE001
                kill_all(marker)
                if attempt == 2:
                    notes.append(f"the kernel did not start (twice): {type(e).__name__}: {str(e)[:160]}")
        return None

    def run_cells(kernel, todo, skip):
        """Run cells; returns (position where the kernel was lost or None, why)."""
        out_used = 0
        for pos, (index, source) in enumerate(todo):
            if index in skip:
                continue
            now = time.monotonic()
            if now >= budget_end:
                notes.append(f"the notebook used its {job['notebook_timeout']:g} s budget: "
                             f"cells from {index} on did not run")
                return None, None
            deadline = min(now + job["cell_timeout"], budget_end)
            status, ename, used = kernel.run(source, deadline, job["grace"], job["max_output"] - out_used)
            out_used += used
            if status == "error":
                notes.append(f"cell {index}: {ename}")
            elif status == "timeout":
                skip.add(index)
                notes.append(f"cell {index}: CellTimeout (ran longer than {deadline - now:.3g} s, interrupted)")
            elif status in ("hung", "dead", "output"):
                skip.add(index)
                why = {"hung": f"cell {index} did not stop when interrupted: the kernel was killed",
                       "dead": f"cell {index}: the kernel died (os._exit, exit() or a crash)",
                       "output": f"cell {index}: output passed the {job['max_output']} byte cap: "
                                 "the kernel was stopped"}[status]
                return pos, why
        return None, None

    kernel = start_kernel()
    collected = False
    try:
        if kernel is not None:
            skip = set()
            lost, why = run_cells(kernel, cells, skip)
            if lost is not None:
                notes.append(why + "; the cells before it were re-run in a fresh kernel, later cells did not run")
                kernel.close()
                kill_all(marker)
                kernel = start_kernel()
                if kernel is not None:
                    again, why2 = run_cells(kernel, cells[:lost], skip)
                    if again is not None:
                        notes.append(why2 + " (again): nothing could be collected")
                        kernel.close()
                        kill_all(marker)
                        kernel = None
            if kernel is not None:
                def on_display(data):
                    text = data.get(job["mime"])
                    if type(text) is str and sum(len(r) for r in records) + len(text) <= job["max_record_bytes"]:
                        records.append(text)
                deadline = time.monotonic() + job["collect_timeout"]
                status, ename, _ = kernel.run(job["collector"], deadline, job["grace"], job["max_record_bytes"] * 2,
                                              on_display=on_display)
                collected = True
                if status != "ok":
                    notes.append(f"the grader's run of the cases stopped ({status}"
                                 f"{': ' + ename if ename else ''}): cases after it score 0")
    finally:
        if kernel is not None:
            kernel.close()
        left = kill_all(marker)
        shutil.rmtree(runtime_dir, ignore_errors=True)
    return {"notes": notes, "records": records, "collected": collected, "killed": left,
            "seconds": round(time.monotonic() - start, 2)}


def main() -> int:
    _set_subreaper()
    job = json.loads(sys.stdin.read())
    result = run_job(job)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
