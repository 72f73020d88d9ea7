"""The workbook's user-facing exception.

Every problem a planner can fix (a bad parameter, a missing file, no overlap, a full disk)
is raised as a :class:`WorkbookError` whose message is one line: what was wrong and what
to do. Library internals never leak a deep traceback for such cases.
"""

__all__ = ["WorkbookError"]


class WorkbookError(Exception):
    """A one-line, actionable error for the person running the workbook.

    The message must say what was wrong and what to do about it, e.g.
    ``"radius 2.0 deg is larger than MPT's 1 deg catalog limit; use radius <= 60 arcmin"``.

    In IPython/Jupyter the error renders as that single line instead of a full traceback
    (``_render_traceback_``), while the cell still counts as failed, so headless runs stop.
    """

    def __init__(self, message):
        message = " ".join(str(message).split())  # keep it on one line
        super().__init__(message)

    def _render_traceback_(self):
        # IPython calls this instead of formatting the traceback.
        return [f"WorkbookError: {self}"]
