"""The one way nnfunc draws: a Figure on its own Agg canvas, saved as a PNG atomically.

pyplot is never imported, so no global figure state is created and no
display is needed; ``report.curves`` and ``report.pictures`` draw through here.
"""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nnfunc import fileio

DPI = 100


def figure(width, height, layout=None):
    """A new Figure of ``width`` x ``height`` inches with an Agg canvas attached."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    """Write ``fig`` as a PNG to ``path`` atomically; return the path."""
    path = Path(path)
    fileio.save_figure(path, fig, dpi=DPI)
    return path
