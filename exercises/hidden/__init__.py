"""Instructor-only cases (run by `grade`, never by `check`; `release` leaves this folder out).

`exercises/hidden/chNN.py` adds cases to chapter NN's exercises with
`registry.hidden_case`, usually reusing the public check's helpers on inputs the
students never see. The grader passes this text to the kernel itself, so a kernel
run as a user who cannot read this folder still runs them.
"""
