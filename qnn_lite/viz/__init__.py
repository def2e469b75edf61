"""Figures and ipywidgets used by the chapters (import the submodule you need).

Each widget is built by a function that returns an object exposing its
controls (``.controls``), its current readouts (``.readout``) and ``update()``,
so the tests can move a slider and check what the figure now shows without a
browser.
"""
