"""What every chapter widget shares: its controls above one matplotlib figure, redrawn in place.

A widget class sets ``self.box`` (the ipywidgets controls and readout) and ``self.fig``,
redraws ``self.fig`` when a control moves and then calls ``self._refresh()``. Displayed
in a notebook, it shows the box and then the figure under a display id, so a redraw
replaces the figure instead of appending a new one. Outside a notebook (tests, scripts)
nothing is displayed and ``_refresh`` does nothing.
"""
from __future__ import annotations


class FigureWidget:
    _handle = None  # the figure's display handle, once the widget has been displayed

    def _refresh(self) -> None:
        """Show the redrawn figure (no-op until the widget is displayed)."""
        if self._handle is not None:
            self._handle.update(self.fig)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
        self._handle = display(self.fig, display_id=True)
