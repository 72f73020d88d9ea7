"""Shutter operability: which of the 249,660 shutters are failed closed or failed open (notebook 04).

The map shipped in ``data/msa/msaoper_state.npz`` (see its PROVENANCE.md) or a CRDS
``jwst_nirspec_msaoper_*.json`` reference file; arrays are indexed ``[q-1, j-1, i-1]`` like
the rest of `helpers.msa`.
"""

import functools
import json
import zipfile
from pathlib import Path

import numpy as np

from ..validate import require_path
from ..errors import WorkbookError
from .model import DATA_DIR, N_COLUMNS, N_ROWS, SHAPE, _as_index_arrays

__all__ = [
    "OPERABILITY_FILE", "STATE_OK", "STATE_FAILED_CLOSED", "STATE_FAILED_OPEN", "STATE_NAMES",
    "Operability", "load_operability", "default_operability",
]

OPERABILITY_FILE = DATA_DIR / "msaoper_state.npz"

STATE_OK, STATE_FAILED_CLOSED, STATE_FAILED_OPEN = 0, 1, 2
STATE_NAMES = {STATE_OK: "operable", STATE_FAILED_CLOSED: "failed closed", STATE_FAILED_OPEN: "failed open"}


class Operability:
    """Shutter operability map: which shutters are failed closed or failed open.

    Attributes
    ----------
    state : ndarray of int8, shape (4, 171, 365)
        0 operable, 1 failed closed (cannot open), 2 failed open (always open: its light
        contaminates every exposure), indexed ``[q-1, j-1, i-1]``.
    source : str
        Where the map came from (file name and the reference it was derived from).
    """

    def __init__(self, state, source):
        state = np.asarray(state)
        if state.shape != SHAPE:
            raise WorkbookError(f"operability map has shape {state.shape}; it must be (4, 171, 365) = "
                                "(quadrant, row j, column i); use a CRDS jwst_nirspec_msaoper_*.json file")
        if not np.isin(state, (0, 1, 2)).all():
            raise WorkbookError("operability map values must be 0 (operable), 1 (failed closed) or 2 (failed open)")
        self.state = state.astype(np.int8)
        self.source = str(source)

    @property
    def failed_closed(self):
        return self.state == STATE_FAILED_CLOSED

    @property
    def failed_open(self):
        return self.state == STATE_FAILED_OPEN

    def counts(self):
        """Number of operable, failed-closed and failed-open shutters (dict)."""
        return {name: int((self.state == code).sum()) for code, name in STATE_NAMES.items()}

    def __repr__(self):
        c = self.counts()
        return (f"<Operability {self.source}: {c['operable']} operable, {c['failed closed']} failed closed, "
                f"{c['failed open']} failed open>")


def load_operability(path=None):
    """Read a shutter operability map.

    Parameters
    ----------
    path : str or `~pathlib.Path`, optional
        ``None`` for the map shipped in ``data/msa/msaoper_state.npz`` (see its PROVENANCE.md);
        or a newer CRDS ``jwst_nirspec_msaoper_*.json`` reference file; or an ``.npz`` with an
        int array ``state`` (or ``reason``) of shape (4, 171, 365); or an ECSV/CSV table with
        columns ``quadrant, i, j, state`` listing the failed shutters (state ``closed``/``open``
        or 1/2).

    Returns
    -------
    Operability

    Raises
    ------
    WorkbookError
        Missing file, unknown format, wrong shape or unreadable content.
    """
    p = require_path(path, "operability map") if path is not None else OPERABILITY_FILE
    if not p.is_file():
        raise WorkbookError(f"operability map {p} not found; give the path of a CRDS jwst_nirspec_msaoper_*.json file or None for the shipped map")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                key = "state" if "state" in z.files else "reason" if "reason" in z.files else None
                if key is None:
                    raise WorkbookError(f"{p.name} has no 'state' array; expected an int array state[4, 171, 365]")
                state = np.asarray(z[key])
                src = str(z["source"]) if "source" in z.files else p.name
            return Operability(state, f"{p.name}: {src}" if src != p.name else p.name)
        if suffix == ".json":
            data = json.loads(p.read_text())
            entries = data.get("msaoper") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise WorkbookError(f"{p.name} is not a CRDS msaoper file (no 'msaoper' list); use jwst_nirspec_msaoper_*.json")
            state = np.zeros(SHAPE, dtype=np.int8)
            for e in entries:
                q, x, y = int(e["Q"]), int(e["x"]), int(e["y"])
                if not (1 <= q <= 4 and 1 <= x <= N_COLUMNS and 1 <= y <= N_ROWS):
                    raise WorkbookError(f"{p.name} lists shutter Q={q}, x={x}, y={y} outside the 4 x 365 x 171 MSA")
                s = str(e.get("state", "")).lower()
                if "open" in s:
                    state[q - 1, y - 1, x - 1] = STATE_FAILED_OPEN
                elif "closed" in s:
                    state[q - 1, y - 1, x - 1] = STATE_FAILED_CLOSED
            meta = data.get("meta", {}) if isinstance(data, dict) else {}
            date = meta.get("date") or meta.get("useafter") or meta.get("USEAFTER") or ""
            return Operability(state, f"{p.name} {date}".strip())
        if suffix in (".ecsv", ".csv"):
            from astropy.table import Table

            t = Table.read(p, format="ascii.ecsv" if suffix == ".ecsv" else "ascii.csv")
            missing = [c for c in ("quadrant", "i", "j", "state") if c not in t.colnames]
            if missing:
                raise WorkbookError(f"{p.name} lacks column(s) {', '.join(missing)}; expected quadrant, i, j, state")
            q, i, j = _as_index_arrays(np.asarray(t["quadrant"]), np.asarray(t["i"]), np.asarray(t["j"]))
            raw = np.asarray(t["state"]).astype(str)
            code = np.where(np.char.find(np.char.lower(raw), "open") >= 0, STATE_FAILED_OPEN,
                            np.where(np.char.find(np.char.lower(raw), "closed") >= 0, STATE_FAILED_CLOSED, -1))
            numeric = np.char.isdigit(raw)
            code = np.where(numeric, np.where(numeric, raw, "0").astype(int), code)
            if (code < 0).any():
                raise WorkbookError(f"{p.name}: state must be 'closed'/'open' or 1/2; found {raw[code < 0][0]!r}")
            state = np.zeros(SHAPE, dtype=np.int8)
            state[q - 1, j - 1, i - 1] = code
            return Operability(state, p.name)
    except WorkbookError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise WorkbookError(f"could not read operability map {p.name} ({exc.__class__.__name__}: {exc}); "
                            "use a CRDS jwst_nirspec_msaoper_*.json file or an .npz written by numpy.savez") from None
    raise WorkbookError(f"operability map {p.name}: unknown format {suffix!r}; use a CRDS msaoper .json, an .npz or an .ecsv")


@functools.lru_cache(maxsize=1)
def default_operability():
    """The shipped operability map (cached)."""
    return load_operability(None)
