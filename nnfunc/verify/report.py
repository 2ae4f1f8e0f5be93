"""Gradient-check results as plain, frozen data, and their text table.

``gradcheck`` returns a ``GradcheckReport``: one ``TensorRow`` per checked
tensor (plus a ``"direction"`` row in direction mode) and a verdict.
``str(report)`` prints an aligned table and a one-line verdict; nothing here
computes anything beyond formatting.
"""

import math
from typing import NamedTuple

DIRECTION = "direction"


class TensorRow(NamedTuple):
    """The result for one tensor, or for the random-direction check.

    Attributes:
        name: the params key, or ``"direction"`` for the direction check.
        shape: the tensor's shape; for ``"direction"``, ``(total numbers,)``.
        checked: entries compared (kink-crossed entries are not counted).
        kinks: entries skipped because a +eps or -eps step crossed a kink.
        max_abs_error: largest ``|analytic - numeric|`` over checked entries.
        max_rel_error: largest relative error (the measure documented in
            ``gradcheck``) over checked entries; 0.0 when none were checked.
        worst_index: index of the entry with the largest relative error;
            ``()`` for a scalar, for ``"direction"`` or when none was checked.
        analytic: the analytic derivative at ``worst_index`` (nan if none).
        numeric: the central difference at ``worst_index`` (nan if none).
        ok: every checked entry is within tolerance.
    """

    name: str
    shape: tuple
    checked: int
    kinks: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    ok: bool


class GradcheckReport(NamedTuple):
    """What a gradient check found; ``ok`` is the verdict.

    Attributes:
        ok: True when every checked entry of every row is within tolerance.
        max_rel_error: largest relative error over all checked entries of
            all rows (kink-crossed entries excluded).
        mode: the mode that ran: ``"full"``, ``"sample"`` or ``"direction"``
            (``"auto"`` is resolved to one of the first two).
        rows: one ``TensorRow`` per tensor, in params order; in direction
            mode the ``"direction"`` row first, then any fallback rows.
        eps: the relative step used (each coordinate steps by
            ``eps * max(1, |p|)``).
        rtol: the relative tolerance.
        atol: the absolute floor actually used.
        note: extra explanation (e.g. why a fallback check ran), or "".
    """

    ok: bool
    max_rel_error: float
    mode: str
    rows: tuple
    eps: float
    rtol: float
    atol: float
    note: str = ""

    def format(self):
        """Return the aligned per-tensor table followed by the verdict line."""
        header = ("tensor", "shape", "checked", "kinks", "max abs err", "max rel err",
                  "worst index", "analytic", "numeric", "ok")
        right = (False, False, True, True, True, True, False, True, True, False)
        cells = [header] + [_row_cells(row) for row in self.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
        lines = [
            "  ".join(c.rjust(w) if r else c.ljust(w)
                      for c, w, r in zip(line, widths, right)).rstrip()
            for line in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(
            f"mode {self.mode}, eps {self.eps:.1e}, rtol {self.rtol:.1e}, atol {self.atol:.1e}"
        )
        if self.note:
            lines.append(self.note)
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self):
        """Return the one-line verdict, starting with "OK:" or "FAILED:"."""
        checked = sum(row.checked for row in self.rows if row.name != DIRECTION)
        kinks = sum(row.kinks for row in self.rows if row.name != DIRECTION)
        direction = [row for row in self.rows if row.name == DIRECTION]
        what = f"{checked} entries" if not direction or len(self.rows) > 1 else "1 direction"
        if self.ok:
            return (f"OK: max relative error {self.max_rel_error:.1e} over {what} "
                    f"({kinks} kink-crossed, skipped)")
        bad = ", ".join(row.name for row in self.rows if not row.ok)
        return (f"FAILED: max relative error {self.max_rel_error:.1e} > rtol {self.rtol:.1e} "
                f"in {bad} ({what} checked, {kinks} kink-crossed, skipped)")

    def __str__(self):
        return self.format()


def _row_cells(row):
    """The table cells of one row, as strings."""
    nothing = row.checked == 0
    return (
        row.name,
        "x".join(str(n) for n in row.shape) if row.shape else "scalar",
        str(row.checked),
        str(row.kinks),
        "-" if nothing else f"{row.max_abs_error:.2e}",
        "-" if nothing else f"{row.max_rel_error:.2e}",
        "-" if nothing or row.name == DIRECTION else str(tuple(row.worst_index)),
        _number(row.analytic),
        _number(row.numeric),
        "yes" if row.ok else "NO",
    )


def _number(value):
    return "-" if math.isnan(value) else f"{value:.6e}"
