"""The shared widget base: display shows the controls, then the figure under a display id; a redraw
updates that display instead of appending a figure."""
import IPython.display

from qnn_lite.viz._widget import FigureWidget
from qnn_lite.viz.binary import EDEWidget
from qnn_lite.viz.calibration import CalibrationWidget
from qnn_lite.viz.formats import FormatsWidget
from qnn_lite.viz.levels import LevelsWidget
from qnn_lite.viz.uniform import UniformWidget


class Toy(FigureWidget):
    def __init__(self):
        self.box, self.fig = "controls", "figure"


def test_display_order_and_refresh(monkeypatch):
    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=False):
        shown.append((obj, display_id))
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    w = Toy()
    w._refresh()                       # not displayed yet: nothing to update
    assert updates == []
    w._ipython_display_()
    assert shown == [("controls", False), ("figure", True)]
    w.fig = "redrawn figure"
    w._refresh()
    assert updates == ["redrawn figure"]


def test_every_chapter_widget_uses_the_base():
    for cls in (EDEWidget, CalibrationWidget, FormatsWidget, LevelsWidget, UniformWidget):
        assert issubclass(cls, FigureWidget) and cls._ipython_display_ is FigureWidget._ipython_display_
