"""Shutter-accurate NIRSpec MSA model (notebook 04).

Every one of the 4 x 365 x 171 = 249,660 micro-shutters, placed on the sky through the
NIRSpec optics model carried by the SIAF, and a pointing class that puts the whole grid on
RA/Dec and finds, for any list of sources, the shutter each one falls in.

Frames (names follow pysiaf: a reader knows from the name what goes in and comes out)

``msa_xy``
    The MSA plane, metres. The shutters form a regular grid *here* (pitch about
    105 x 204 um per quadrant): ``x`` grows with the column index ``i`` (dispersion
    direction), ``y`` with the row index ``j`` (spatial direction).
``oteip``
    The OTE image plane, metres (the telescope focal surface in front of NIRSpec).
``v2v3`` / ``tel``
    JWST telescope frame, arcsec.
``sky``
    ICRS RA, Dec in degrees.

How the model is built (no fit to sky positions anywhere)

* MSA plane: a per-quadrant affine grid (origin, pitch, a ~0.4 mrad rotation) shipped in
  ``data/msa/msa_grid.ecsv``. Its six numbers per quadrant are a least-squares fit to the
  **MSA-plane** columns ``XPOSMSA, YPOSMSA`` of the NIRSpec IDT per-shutter table that ships
  with pysiaf (``sky_fpa_projectionMSA_Q{1..4}.fits``); they reproduce those to < 0.07 um.
* MSA plane -> V2/V3: the IDT parametric-model polynomials stored in the NIRSpec SIAF as
  TRANSFORM apertures, ``NRS_<FILTER>_OTEIP_MSA_L0`` (fore optics, OTEIP <-> MSA) and
  ``NRS_SKY_OTEIP`` (telescope, V2V3 <-> OTEIP). In the IDT convention the "forward"
  direction (SIAF ``Sci2Idl*`` coefficients) goes from the sky towards the detector:
  ``u = S R(-theta) (p - c_in) + c_out`` followed by the polynomial; the backward direction
  (``Idl2Sci*``) applies its polynomial first and then undoes the homothety. ``XSciRef,
  YSciRef`` hold the input rotation centre, ``V2Ref, V3Ref`` the output rotation centre,
  ``XSciScale, YSciScale`` the factors and ``V3IdlYAngle`` the rotation (pysiaf
  ``generate/generate_nirspec.py``; Proffitt et al. 2017, JWST-STScI-005921). The ``_L1``
  rows carry the wavelength-linear terms, which are zero for every filter in the SIAF.
* The sky columns ``XPOSSKY, YPOSSKY`` of the IDT table (V2, V3 in degrees) are only used
  by the tests, as an independent check: the model reproduces them to < 0.3 mas for all
  249,660 shutters.
* Pointing: ``pysiaf.utils.rotations.attitude(V2Ref, V3Ref, ra, dec, V3PA)`` for the
  ``NRS_FULL_MSA`` reference point, with ``V3PA = APA - V3IdlYAngle`` (APT's aperture PA is
  the position angle of the aperture's ideal Y axis), applied with numpy to all shutters.

Arrays over the whole MSA have shape ``(4, 171, 365)`` and are indexed ``[q-1, j-1, i-1]``
(the layout of the CRDS operability map); the public functions take 1-based ``quadrant, i,
j`` like APT and the IDT table, with 0 meaning "outside the grid".

This module does not import matplotlib and works without a display.
"""

import functools
import json
import math
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..nirspec import CENTERING_CONSTRAINTS, CENTERING_SOURCE, constraint_names  # noqa: F401 (public here too)

__all__ = [
    "N_QUADRANTS", "N_COLUMNS", "N_ROWS", "N_SHUTTERS", "FILTERS", "REFERENCE_APERTURE",
    "CENTERING_CONSTRAINTS", "constraint_names", "SLIT_APERTURES", "IFU_APERTURE",
    "NOD_PATTERN", "DATA_DIR", "MSAModel", "get_model", "shutter_v2v3", "shutter_corners_v2v3",
    "msa_xy_to_v2v3", "v2v3_to_msa_xy", "Operability", "load_operability", "MSAPointing",
    "slitlet_rows", "footprint_overlap",
]

N_QUADRANTS, N_ROWS, N_COLUMNS = 4, 171, 365
N_SHUTTERS = N_QUADRANTS * N_ROWS * N_COLUMNS  # 249,660
SHAPE = (N_QUADRANTS, N_ROWS, N_COLUMNS)

#: Filters with their own fore-optics transform in the NIRSpec SIAF (``NRS_<F>_OTEIP_MSA_L0``).
FILTERS = ("CLEAR", "F070LP", "F100LP", "F110W", "F140X", "F170LP", "F290LP")

#: SIAF aperture whose reference point an MSA pointing places on (RA, Dec).
REFERENCE_APERTURE = "NRS_FULL_MSA"

#: Fixed slits and the IFU aperture in the NIRSpec SIAF (outlines only).
SLIT_APERTURES = ("NRS_S200A1_SLIT", "NRS_S200A2_SLIT", "NRS_S400A1_SLIT", "NRS_S1600A1_SLIT",
                  "NRS_S200B1_SLIT")
IFU_APERTURE = "NRS_FULL_IFU"

#: Standard 3-shutter slitlet and 3-point nod: the source sits in the central shutter, then
#: the telescope moves by one shutter pitch along the slitlet (spatial direction) each way.
NOD_PATTERN = (0, 1, -1)

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "msa"
GRID_FILE = DATA_DIR / "msa_grid.ecsv"
OPERABILITY_FILE = DATA_DIR / "msaoper_state.npz"

STATE_OK, STATE_FAILED_CLOSED, STATE_FAILED_OPEN = 0, 1, 2
STATE_NAMES = {STATE_OK: "operable", STATE_FAILED_CLOSED: "failed closed", STATE_FAILED_OPEN: "failed open"}


def _constraint(name):
    for c in CENTERING_CONSTRAINTS:
        if str(name).strip().lower() == c[0].lower():
            return c
    raise WorkbookError(f"unknown centering constraint {name!r}; use one of: {', '.join(constraint_names())}")


def _check_filter(name):
    f = str(name).strip().upper()
    if f not in FILTERS:
        raise WorkbookError(f"filter {name!r} has no MSA transform in the NIRSpec SIAF; use one of {', '.join(FILTERS)}")
    return f


# --------------------------------------------------------------------------------------------
# SIAF polynomials
# --------------------------------------------------------------------------------------------

def _import_pysiaf():
    """Import pysiaf without its import-time online version check.

    pysiaf's ``__init__`` asks GitHub for the newest PRD with an un-timed ``requests.get``
    and logs a warning when that fails. The workbook must not touch the network offline, and
    it reports the PRD it used (``pysiaf.JWST_PRD_VERSION``) itself, so the request is
    answered locally with a connection error and the resulting warning is dropped.
    """
    import logging
    import sys

    if "pysiaf" in sys.modules:
        return sys.modules["pysiaf"]
    import requests

    def _no_network(*args, **kwargs):
        raise requests.exceptions.ConnectionError("online PRD check skipped by the MSA Astrometry Workbook")

    def _drop_prd_warning(record):
        return "CANNOT BE CHECKED AGAINST ONLINE VERSION" not in record.getMessage()

    logger = logging.getLogger("pysiaf")
    real_get = requests.get
    requests.get = _no_network
    logger.addFilter(_drop_prd_warning)
    try:
        import pysiaf
    finally:
        requests.get = real_get
        logger.removeFilter(_drop_prd_warning)
    return pysiaf


@functools.lru_cache(maxsize=1)
def _siaf():
    return _import_pysiaf().Siaf("NIRSpec")


def _poly_terms(deg):
    return [(i - j, j) for i in range(deg + 1) for j in range(i + 1)]


class _IdtTransform:
    """One IDT parametric-model stage stored as a SIAF TRANSFORM aperture (vectorised).

    ``forward`` maps the input plane to the output plane (IDT sense: towards the detector),
    ``backward`` the other way.
    """

    def __init__(self, aperture):
        a = aperture
        self.name = a.AperName
        self.deg = int(a.Sci2IdlDeg)
        self.terms = _poly_terms(self.deg)
        get = lambda kind: np.array([getattr(a, f"{kind}{i}{j}") for i in range(self.deg + 1)
                                     for j in range(i + 1)], dtype=float)
        self.fx, self.fy = get("Sci2IdlX"), get("Sci2IdlY")
        self.bx, self.by = get("Idl2SciX"), get("Idl2SciY")
        self.c_in = (float(a.XSciRef), float(a.YSciRef))
        self.c_out = (float(a.V2Ref), float(a.V3Ref))
        self.scale = (float(a.XSciScale), float(a.YSciScale))
        theta = math.radians(float(a.V3IdlYAngle))
        self.cos, self.sin = math.cos(theta), math.sin(theta)

    def _poly2(self, cx, cy, x, y):
        """Evaluate two polynomials sharing the inputs, in place (few temporaries: speed)."""
        xp = [None, x]
        yp = [None, y]
        for _ in range(2, self.deg + 1):
            xp.append(xp[-1] * x)
            yp.append(yp[-1] * y)
        ox = np.full(x.shape, cx[0])
        oy = np.full(x.shape, cy[0])
        mono = np.empty(x.shape)
        tmp = np.empty(x.shape)
        for k, (px, py) in enumerate(self.terms[1:], start=1):
            if py == 0:
                m = xp[px]
            elif px == 0:
                m = yp[py]
            else:
                m = np.multiply(xp[px], yp[py], out=mono)
            if cx[k]:
                ox += np.multiply(m, cx[k], out=tmp)
            if cy[k]:
                oy += np.multiply(m, cy[k], out=tmp)
        return ox, oy

    def forward(self, x, y):
        x = np.asarray(x, dtype=float) - self.c_in[0]
        y = np.asarray(y, dtype=float) - self.c_in[1]
        u = self.scale[0] * (self.cos * x + self.sin * y) + self.c_out[0]
        v = self.scale[1] * (-self.sin * x + self.cos * y) + self.c_out[1]
        return self._poly2(self.fx, self.fy, u, v)

    def backward(self, x, y):
        u, v = self._poly2(self.bx, self.by, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        u = (u - self.c_out[0]) / self.scale[0]
        v = (v - self.c_out[1]) / self.scale[1]
        return self.cos * u - self.sin * v + self.c_in[0], self.sin * u + self.cos * v + self.c_in[1]


@functools.lru_cache(maxsize=None)
def _transforms(filter_name):
    siaf = _siaf()
    ote = _IdtTransform(siaf["NRS_SKY_OTEIP"])
    fore = _IdtTransform(siaf[f"NRS_{filter_name}_OTEIP_MSA_L0"])
    l1 = siaf[f"NRS_{filter_name}_OTEIP_MSA_L1"]
    if any(getattr(l1, f"Sci2IdlX{i}{j}") for i in range(6) for j in range(i + 1)):
        raise WorkbookError(f"the SIAF's NRS_{filter_name}_OTEIP_MSA_L1 has wavelength terms this model ignores; "
                            "update helpers.msa for this pysiaf version")
    return ote, fore


def msa_xy_to_v2v3(x, y, filter="CLEAR"):
    """MSA-plane position (metres) to telescope V2, V3 (arcsec) through the SIAF optics model.

    Parameters
    ----------
    x, y : array_like
        MSA-plane coordinates in metres.
    filter : str
        One of `FILTERS`.

    Returns
    -------
    v2, v3 : ndarray
        arcsec.
    """
    ote, fore = _transforms(_check_filter(filter))
    xo, yo = fore.backward(x, y)
    v2, v3 = ote.backward(xo, yo)
    return v2 * 3600.0, v3 * 3600.0


def v2v3_to_msa_xy(v2, v3, filter="CLEAR"):
    """Telescope V2, V3 (arcsec) to the MSA plane (metres); inverse of `msa_xy_to_v2v3`."""
    ote, fore = _transforms(_check_filter(filter))
    xo, yo = ote.forward(np.asarray(v2, dtype=float) / 3600.0, np.asarray(v3, dtype=float) / 3600.0)
    return fore.forward(xo, yo)


# --------------------------------------------------------------------------------------------
# The MSA-plane grid and the cached model
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _grid():
    from astropy.table import Table

    t = Table.read(GRID_FILE, format="ascii.ecsv")
    t.sort("quadrant")
    if list(t["quadrant"]) != [1, 2, 3, 4]:
        raise WorkbookError(f"{GRID_FILE} must hold one row per quadrant 1..4; regenerate it with data/msa/make_msa_data.py")
    origin = np.column_stack([t["x0"], t["y0"]]).astype(float)           # (4, 2) m
    jac = np.stack([np.column_stack([t["dx_di"], t["dx_dj"]]),
                    np.column_stack([t["dy_di"], t["dy_dj"]])], axis=1).astype(float)  # (4, 2, 2)
    open_um = tuple(float(v) for v in t.meta.get("open_area_um", (78.0, 178.0)))
    return origin, jac, np.linalg.inv(jac), open_um


def _as_index_arrays(quadrant, i, j):
    q = np.asarray(quadrant)
    i = np.asarray(i)
    j = np.asarray(j)
    try:
        q, i, j = np.broadcast_arrays(q, i, j)
    except ValueError:
        raise WorkbookError("quadrant, i and j must have the same shape (or be scalars)") from None
    for name, arr, hi in (("quadrant", q, N_QUADRANTS), ("i", i, N_COLUMNS), ("j", j, N_ROWS)):
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0)):
            raise WorkbookError(f"{name} must be whole numbers (1-based); got {arr.ravel()[:3]}")
        if arr.size and (arr.min() < 1 or arr.max() > hi):
            raise WorkbookError(f"{name} must be between 1 and {hi} (1-based); got values from {arr.min()} to {arr.max()}")
    return q.astype(np.intp), i.astype(np.intp), j.astype(np.intp)


def msa_xy_from_index(quadrant, i, j):
    """MSA-plane centre (metres) of shutter (quadrant, i, j); fractional i, j allowed."""
    origin, jac, _, _ = _grid()
    q = np.asarray(quadrant, dtype=np.intp) - 1
    di = np.asarray(i, dtype=float) - 1.0
    dj = np.asarray(j, dtype=float) - 1.0
    x = origin[q, 0] + jac[q, 0, 0] * di + jac[q, 0, 1] * dj
    y = origin[q, 1] + jac[q, 1, 0] * di + jac[q, 1, 1] * dj
    return x, y


def _unit(lon_deg, lat_deg):
    lon = np.deg2rad(lon_deg)
    lat = np.deg2rad(lat_deg)
    c = np.cos(lat)
    return np.stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)])


def sky_unit(ra, dec):
    """ICRS unit vectors (3, N) of RA, Dec in degrees (for `MSAPointing.locate_arrays`)."""
    return _unit(np.asarray(ra, dtype=float).ravel(), np.asarray(dec, dtype=float).ravel())


def _lonlat(vec):
    lon = np.rad2deg(np.arctan2(vec[1], vec[0]))
    lat = np.rad2deg(np.arcsin(np.clip(vec[2], -1.0, 1.0)))
    return lon, lat


class MSAModel:
    """All 249,660 shutters of the MSA in V2/V3 for one filter (computed once, cached).

    Use :func:`get_model` rather than the constructor: it keeps one model per filter.

    Attributes
    ----------
    filter : str
    v2, v3 : ndarray, shape (4, 171, 365)
        Shutter centres, arcsec, indexed ``[q-1, j-1, i-1]``.
    pitch_disp, pitch_spat : ndarray, shape (4, 171, 365)
        Local shutter pitch on the sky along the dispersion (i) and spatial (j) directions,
        arcsec (from the distortion: 0.26-0.28" and 0.51-0.54").
    open_area_um : tuple
        Open area of a shutter in the MSA plane (x, y), micrometres.
    """

    def __init__(self, filter="CLEAR"):
        self.filter = _check_filter(filter)
        q, j, i = np.indices(SHAPE)
        self._x, self._y = msa_xy_from_index(q + 1, i + 1, j + 1)
        v2, v3 = msa_xy_to_v2v3(self._x, self._y, self.filter)
        self.v2, self.v3 = v2, v3
        # local pitch on the sky from neighbouring centres (one-sided at the grid edges)
        d2i, d3i = np.gradient(v2, axis=2), np.gradient(v3, axis=2)
        d2j, d3j = np.gradient(v2, axis=1), np.gradient(v3, axis=1)
        self.pitch_disp = np.hypot(d2i, d3i)
        self.pitch_spat = np.hypot(d2j, d3j)
        # unit vectors (3, N) of the centres in the telescope frame, for fast pointings
        self.unit_v2v3 = _unit(v2.ravel() / 3600.0, v3.ravel() / 3600.0)
        self.v2_centre = 0.5 * (float(v2.min()) + float(v2.max()))
        self.v3_centre = 0.5 * (float(v3.min()) + float(v3.max()))
        _, jac, _, open_um = _grid()
        self.open_area_um = open_um
        self._corners = None
        self._pitch_corners = None

    def corners_v2v3(self, which="open"):
        """Corners of every shutter, arcsec, shape (4, 171, 365, 4) each for V2 and V3.

        Parameters
        ----------
        which : {'open', 'pitch'}
            ``'open'``: the open area (78 x 178 um in the MSA plane, centred on the shutter);
            ``'pitch'``: the full cell including the bars (one pitch wide and tall).
        """
        if which == "open" and self._corners is not None:
            return self._corners
        if which == "pitch" and self._pitch_corners is not None:
            return self._pitch_corners
        origin, jac, _, open_um = _grid()
        if which == "open":
            hx, hy = 0.5e-6 * open_um[0], 0.5e-6 * open_um[1]
            fi = hx / np.hypot(jac[:, 0, 0], jac[:, 1, 0])   # half width in index units per quadrant
            fj = hy / np.hypot(jac[:, 0, 1], jac[:, 1, 1])
        elif which == "pitch":
            fi = fj = np.full(N_QUADRANTS, 0.5)
        else:
            raise WorkbookError(f"corners which={which!r}; use 'open' or 'pitch'")
        q, j, i = np.indices(SHAPE)
        v2c = np.empty(SHAPE + (4,))
        v3c = np.empty(SHAPE + (4,))
        for k, (si, sj) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1))):
            x, y = msa_xy_from_index(q + 1, i + 1 + si * fi[q], j + 1 + sj * fj[q])
            v2c[..., k], v3c[..., k] = msa_xy_to_v2v3(x, y, self.filter)
        out = (v2c, v3c)
        if which == "open":
            self._corners = out
        else:
            self._pitch_corners = out
        return out

    def outline_v2v3(self, quadrant):
        """Outer edge of one quadrant's shutter grid (cell corners), arcsec, closed polygon."""
        n = 40
        side_i = np.linspace(0.5, N_COLUMNS + 0.5, n)
        side_j = np.linspace(0.5, N_ROWS + 0.5, n)
        ii = np.concatenate([side_i, np.full(n, N_COLUMNS + 0.5), side_i[::-1], np.full(n, 0.5)])
        jj = np.concatenate([np.full(n, 0.5), side_j, np.full(n, N_ROWS + 0.5), side_j[::-1]])
        x, y = msa_xy_from_index(np.full(ii.shape, quadrant), ii, jj)
        return msa_xy_to_v2v3(x, y, self.filter)


@functools.lru_cache(maxsize=None)
def _cached_model(filter_name):
    return MSAModel(filter_name)


def get_model(filter="CLEAR"):
    """The shared, cached `MSAModel` for ``filter`` (built on first use, ~1 s)."""
    return _cached_model(_check_filter(filter))


def shutter_v2v3(quadrant, i, j, filter="CLEAR"):
    """V2, V3 (arcsec) of shutter centres.

    Parameters
    ----------
    quadrant, i, j : int or array_like of int
        1-based quadrant (1-4), column i (1-365, dispersion direction) and row j (1-171,
        spatial direction); broadcast against each other.
    filter : str
        One of `FILTERS` (the fore optics shift the projection by up to ~30 mas).

    Returns
    -------
    v2, v3 : ndarray
        arcsec.

    Examples
    --------
    >>> v2, v3 = shutter_v2v3(1, 1, 1)
    >>> round(float(v2), 2), round(float(v3), 2)
    (533.73, -438.31)
    """
    q, i, j = _as_index_arrays(quadrant, i, j)
    m = get_model(filter)
    return m.v2[q - 1, j - 1, i - 1], m.v3[q - 1, j - 1, i - 1]


def shutter_corners_v2v3(quadrant, i, j, filter="CLEAR", which="open"):
    """V2, V3 (arcsec) of the four corners of shutters' open area; arrays of shape ``(..., 4)``."""
    q, i, j = _as_index_arrays(quadrant, i, j)
    v2c, v3c = get_model(filter).corners_v2v3(which)
    return v2c[q - 1, j - 1, i - 1], v3c[q - 1, j - 1, i - 1]


# --------------------------------------------------------------------------------------------
# Operability
# --------------------------------------------------------------------------------------------

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
    p = Path(path).expanduser() if path is not None else OPERABILITY_FILE
    if not p.exists():
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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkbookError(f"could not read operability map {p.name} ({exc.__class__.__name__}: {exc}); "
                            "use a CRDS jwst_nirspec_msaoper_*.json file") from None
    raise WorkbookError(f"operability map {p.name}: unknown format {suffix!r}; use a CRDS msaoper .json, an .npz or an .ecsv")


# --------------------------------------------------------------------------------------------
# Pointing
# --------------------------------------------------------------------------------------------

def _finite(value, what):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise WorkbookError(f"{what} = {value!r} is not a number; give it in degrees") from None
    if not math.isfinite(v):
        raise WorkbookError(f"{what} = {value!r}; give a finite number of degrees")
    return v


class MSAPointing:
    """An MSA pointing: the ``NRS_FULL_MSA`` reference point on (RA, Dec) with an aperture PA.

    Parameters
    ----------
    ra, dec : float
        ICRS position (degrees) of the ``NRS_FULL_MSA`` reference point.
    apa : float
        APT's Aperture PA (degrees, east of north, of the aperture's ideal +Y axis = spatial
        direction). Any value is accepted and wrapped into [0, 360).
    filter : str
        One of `FILTERS`.

    Examples
    --------
    >>> p = MSAPointing(53.1625, -27.791417, 45.0)
    >>> ra, dec = p.shutter_sky(1, 100, 50)
    >>> t = p.locate([ra], [dec])
    >>> int(t["quadrant"][0]), int(t["i"][0]), int(t["j"][0])
    (1, 100, 50)
    """

    def __init__(self, ra, dec, apa, filter="CLEAR"):
        ra = _finite(ra, "ra")
        dec = _finite(dec, "dec")
        apa = _finite(apa, "APA")
        if not -90.0 <= dec <= 90.0:
            raise WorkbookError(f"dec = {dec:g} deg is outside [-90, 90]; check the value and its sign")
        self.ra = ra % 360.0
        self.dec = dec
        self.apa = apa % 360.0
        self.filter = _check_filter(filter)
        ap = _siaf()[REFERENCE_APERTURE]
        self.v2ref, self.v3ref = float(ap.V2Ref), float(ap.V3Ref)
        self.v3idlyangle = float(ap.V3IdlYAngle)
        rotations = _import_pysiaf().utils.rotations

        self.attitude = np.asarray(rotations.attitude(self.v2ref, self.v3ref, self.ra, self.dec, self.v3pa))

    def __repr__(self):
        return f"MSAPointing(ra={self.ra:.7f}, dec={self.dec:.7f}, apa={self.apa:.4f}, filter={self.filter!r})"

    # --- angles -----------------------------------------------------------------------------
    @property
    def v3pa(self):
        """Position angle of V3 at the ``NRS_FULL_MSA`` reference point, degrees (APA - V3IdlYAngle)."""
        return (self.apa - self.v3idlyangle) % 360.0

    @property
    def v3pa_v1(self):
        """Position angle of V3 at the V1 axis (the observatory roll APT reports as V3PA), degrees."""
        rotations = _import_pysiaf().utils.rotations

        return float(rotations.posangle(self.attitude, 0.0, 0.0)) % 360.0

    @classmethod
    def from_v3pa(cls, ra, dec, v3pa, filter="CLEAR"):
        """Pointing from the V3 position angle at the reference point (degrees)."""
        ap = _siaf()[REFERENCE_APERTURE]
        return cls(ra, dec, _finite(v3pa, "V3PA") + float(ap.V3IdlYAngle), filter=filter)

    @classmethod
    def from_attitude(cls, attitude, filter="CLEAR"):
        """Pointing from a 3x3 attitude matrix (``pysiaf.utils.rotations.attitude``)."""
        rotations = _import_pysiaf().utils.rotations

        att = np.asarray(attitude, dtype=float)
        if att.shape != (3, 3):
            raise WorkbookError(f"attitude matrix has shape {att.shape}; it must be 3 x 3")
        ap = _siaf()[REFERENCE_APERTURE]
        ra, dec = rotations.pointing(att, float(ap.V2Ref), float(ap.V3Ref))
        v3pa = rotations.posangle(att, float(ap.V2Ref), float(ap.V3Ref))
        return cls(float(ra), float(dec), float(v3pa) + float(ap.V3IdlYAngle), filter=filter)

    def offset(self, dx_idl=0.0, dy_idl=0.0):
        """A new pointing whose reference point sits at ideal (dx, dy) arcsec of this one.

        The attitude is carried over exactly (a small slew), so ``offset(0, pitch)`` is the
        nod that moves the sources by one shutter along the slitlet.
        """
        rotations = _import_pysiaf().utils.rotations

        ap = _siaf()[REFERENCE_APERTURE]
        v2, v3 = ap.idl_to_tel(float(dx_idl), float(dy_idl))
        ra, dec = rotations.pointing(self.attitude, float(v2), float(v3))
        v3pa = rotations.posangle(self.attitude, float(v2), float(v3))
        return MSAPointing(float(ra), float(dec), float(v3pa) + self.v3idlyangle, filter=self.filter)

    def nod_pointings(self):
        """The three pointings of the standard 3-shutter slitlet nod (`NOD_PATTERN`)."""
        pitch = float(np.median(get_model(self.filter).pitch_spat))
        return [self.offset(0.0, -k * pitch) for k in NOD_PATTERN]

    # --- conversions ------------------------------------------------------------------------
    def v2v3_to_sky(self, v2, v3):
        """V2, V3 (arcsec) to RA, Dec (degrees) with this pointing's attitude (vectorised)."""
        v2 = np.asarray(v2, dtype=float)
        vec = _unit(v2.ravel() / 3600.0, np.asarray(v3, dtype=float).ravel() / 3600.0)
        ra, dec = _lonlat(self.attitude @ vec)
        return (ra % 360.0).reshape(v2.shape), dec.reshape(v2.shape)

    def sky_to_v2v3(self, ra, dec):
        """RA, Dec (degrees) to V2, V3 (arcsec) with this pointing's attitude (vectorised)."""
        ra = np.asarray(ra, dtype=float)
        vec = _unit(ra.ravel(), np.asarray(dec, dtype=float).ravel())
        v2, v3 = _lonlat(self.attitude.T @ vec)
        return (v2 * 3600.0).reshape(ra.shape), (v3 * 3600.0).reshape(ra.shape)

    def shutter_sky(self, quadrant=None, i=None, j=None):
        """RA, Dec (degrees) of shutter centres; all 249,660 (shape (4, 171, 365)) if no index given."""
        m = get_model(self.filter)
        if quadrant is None and i is None and j is None:
            ra, dec = _lonlat(self.attitude @ m.unit_v2v3)
            return (ra % 360.0).reshape(SHAPE), dec.reshape(SHAPE)
        q, i, j = _as_index_arrays(quadrant, i, j)
        flat = np.ravel_multi_index((q - 1, j - 1, i - 1), SHAPE)
        ra, dec = _lonlat(self.attitude @ m.unit_v2v3[:, flat.ravel()])
        return (ra % 360.0).reshape(q.shape), dec.reshape(q.shape)

    def shutter_corners_sky(self, quadrant, i, j, which="open"):
        """RA, Dec (degrees) of the corners of the given shutters, shape ``(..., 4)``."""
        v2, v3 = shutter_corners_v2v3(quadrant, i, j, filter=self.filter, which=which)
        return self.v2v3_to_sky(v2, v3)

    def outlines_sky(self):
        """Outlines on the sky: the four quadrants, the fixed slits and the IFU.

        Returns
        -------
        dict
            name -> (ra, dec) arrays (degrees) of a closed polygon. Quadrants come from this
            model's grid edges (``Q1``..``Q4``); slits and IFU from the SIAF apertures' corners
            (see `outlines_v2v3`).
        """
        return {name: self.v2v3_to_sky(v2, v3) for name, (v2, v3) in outlines_v2v3(self.filter).items()}

    # --- sources ----------------------------------------------------------------------------
    def locate_arrays(self, ra=None, dec=None, operability=None, unit=None):
        """`locate` as a dict of numpy arrays (no Table): the fast path for widgets.

        ``unit`` may give the sources' ICRS unit vectors (3, N) instead of ``ra, dec``
        (precompute them once with ``helpers.msa.sky_unit(ra, dec)`` when sources do not move).
        """
        if unit is None:
            ra = np.atleast_1d(np.asarray(ra, dtype=float)).ravel()
            dec = np.atleast_1d(np.asarray(dec, dtype=float)).ravel()
            if ra.shape != dec.shape:
                raise WorkbookError(f"ra and dec have different lengths ({ra.size} and {dec.size}); give one of each per source")
            unit = _unit(ra, dec)
        v2, v3 = _lonlat(self.attitude.T @ unit)
        v2 *= 3600.0
        v3 *= 3600.0
        res = locate_v2v3(v2, v3, self.filter)
        if operability is None:
            operability = default_operability()
        inside = res["quadrant"] > 0
        state = np.full(v2.shape, -1, dtype=np.int8)
        qi, ii, jj = res["quadrant"][inside], res["i"][inside], res["j"][inside]
        state[inside] = operability.state[qi - 1, jj - 1, ii - 1]
        adx = np.abs(res["dx_disp"])
        ady = np.abs(res["dy_spat"])
        with np.errstate(invalid="ignore"):
            for name, xh, yh, _ in CENTERING_CONSTRAINTS:
                res[_zone_column(name)] = inside & (adx <= xh) & (ady <= yh)
        res.update(state=state, v2=v2, v3=v3, operability=operability)
        return res

    def locate(self, ra, dec, operability=None):
        """Which shutter each source falls in, and where in it.

        Parameters
        ----------
        ra, dec : array_like
            Source positions, degrees (ICRS).
        operability : Operability, optional
            Adds the shutter's state (default: the shipped map).

        Returns
        -------
        `~astropy.table.Table`
            One row per source: ``quadrant, i, j`` (1-based; 0 outside the grid, including
            the gaps between quadrants), ``dx_disp, dy_spat`` (arcsec, offset of the source
            from the shutter centre along the dispersion (+i) and spatial (+j) directions),
            ``in_open`` (inside the 78 x 178 um open area), ``zone_<constraint>`` (bool, one
            column per centering constraint, e.g. ``zone_midpoint``), ``best_zone`` (tightest
            constraint satisfied, '' if none), ``state`` (operability code of the shutter,
            -1 outside) and ``v2, v3`` (arcsec).
        """
        from astropy.table import Table

        res = self.locate_arrays(ra, dec, operability=operability)
        operability = res["operability"]
        names = np.array([""] + constraint_names())
        level = np.zeros(res["quadrant"].shape, dtype=np.intp)
        for k, name in enumerate(constraint_names(), start=1):
            level[res[_zone_column(name)]] = k
        cols = {"quadrant": res["quadrant"], "i": res["i"], "j": res["j"], "dx_disp": res["dx_disp"],
                "dy_spat": res["dy_spat"], "in_open": res["in_open"]}
        cols.update({_zone_column(name): res[_zone_column(name)] for name in constraint_names()})
        cols.update({"best_zone": names.take(level), "state": res["state"], "v2": res["v2"], "v3": res["v3"]})
        t = Table(cols, copy=False)
        for c in ("dx_disp", "dy_spat", "v2", "v3"):
            t[c].unit = "arcsec"
        t.meta["pointing"] = {"ra": self.ra, "dec": self.dec, "apa": self.apa, "filter": self.filter}
        t.meta["operability"] = operability.source
        return t


@functools.lru_cache(maxsize=None)
def outlines_v2v3(filter="CLEAR"):
    """Outlines in V2/V3 (arcsec, cached): quadrants ``Q1..Q4`` from the shutter grid's outer
    edges, fixed slits and IFU from the SIAF apertures' corners. name -> (v2, v3)."""
    out = {}
    m = get_model(filter)
    for q in range(1, 5):
        out[f"Q{q}"] = m.outline_v2v3(q)
    siaf = _siaf()
    for name in SLIT_APERTURES + (IFU_APERTURE,):
        v2, v3 = siaf[name].corners("tel")
        out[name] = (np.asarray(v2, float), np.asarray(v3, float))
    return out


def _zone_column(name):
    return "zone_" + name.lower().replace(" ", "_")


@functools.lru_cache(maxsize=1)
def default_operability():
    """The shipped operability map (cached)."""
    return load_operability(None)


_NEAR_BOX_ARCSEC = 250.0


def locate_v2v3(v2, v3, filter="CLEAR"):
    """Vectorised shutter look-up from V2, V3 (arcsec); the core of `MSAPointing.locate`.

    Returns
    -------
    dict of ndarray
        ``quadrant, i, j`` (0 outside), ``fi, fj`` (offset in units of the pitch along i, j),
        ``dx_disp, dy_spat`` (arcsec), ``in_open`` (bool), ``x, y`` (MSA plane, m).
    """
    v2 = np.asarray(v2, dtype=float).ravel()
    v3 = np.asarray(v3, dtype=float).ravel()
    # Only sources near the MSA go through the optics polynomials (wide catalogs: most do not).
    # The grid lies within 150" of the NRS_FULL_MSA reference point; 250" is a safe box.
    m = get_model(filter)
    near = (np.abs(v2 - m.v2_centre) < _NEAR_BOX_ARCSEC) & (np.abs(v3 - m.v3_centre) < _NEAR_BOX_ARCSEC)
    if near.all():
        x, y = v2v3_to_msa_xy(v2, v3, filter)
    else:
        x = np.full(v2.shape, np.nan)
        y = np.full(v2.shape, np.nan)
        x[near], y[near] = v2v3_to_msa_xy(v2[near], v3[near], filter)
    origin, _, inv, open_um = _grid()
    # The quadrants tile the MSA plane around its origin: Q1 (-,-), Q2 (-,+), Q3 (+,-), Q4 (+,+).
    qidx = (2 * (x > 0) + (y > 0)).astype(np.intp)
    m4 = inv.reshape(N_QUADRANTS, 4)
    dx = x - origin[:, 0].take(qidx)
    dy = y - origin[:, 1].take(qidx)
    a = m4[:, 0].take(qidx) * dx + m4[:, 1].take(qidx) * dy   # i - 1 (fractional)
    b = m4[:, 2].take(qidx) * dx + m4[:, 3].take(qidx) * dy   # j - 1
    ia = np.rint(a)
    jb = np.rint(b)
    hit = (ia >= 0) & (ia < N_COLUMNS) & (jb >= 0) & (jb < N_ROWS)
    quad = np.where(hit, qidx + 1, 0).astype(np.int16)
    ii = np.where(hit, ia + 1, 0).astype(np.int16)
    jj = np.where(hit, jb + 1, 0).astype(np.int16)
    fi = np.where(hit, a - ia, np.nan)
    fj = np.where(hit, b - jb, np.nan)
    # local sky pitch of the shutter each source is in (index 0 where outside: masked below)
    with np.errstate(invalid="ignore"):
        flat = np.where(hit, (qidx * N_ROWS + jb.astype(np.intp)) * N_COLUMNS + ia.astype(np.intp), 0)
    dx_disp = fi * m.pitch_disp.ravel().take(flat)
    dy_spat = fj * m.pitch_spat.ravel().take(flat)
    _, jac, _, _ = _grid()
    half_i = 0.5e-6 * open_um[0] / np.hypot(jac[:, 0, 0], jac[:, 1, 0])
    half_j = 0.5e-6 * open_um[1] / np.hypot(jac[:, 0, 1], jac[:, 1, 1])
    with np.errstate(invalid="ignore"):
        in_open = hit & (np.abs(fi) <= half_i.take(qidx)) & (np.abs(fj) <= half_j.take(qidx))
    return {"quadrant": quad, "i": ii, "j": jj, "fi": fi, "fj": fj, "dx_disp": dx_disp,
            "dy_spat": dy_spat, "in_open": in_open, "x": x, "y": y}


def slitlet_rows(j, n=3):
    """Rows of an ``n``-shutter slitlet centred on row ``j`` (spatial direction); e.g. j-1, j, j+1."""
    half = n // 2
    return np.asarray(j)[..., None] + np.arange(-half, half + 1)


def slitlet_ok(quadrant, i, j, operability=None, n=3):
    """True where every shutter of the ``n``-shutter slitlet around (q, i, j) exists and can open."""
    if operability is None:
        operability = default_operability()
    q = np.atleast_1d(np.asarray(quadrant))
    i = np.atleast_1d(np.asarray(i))
    rows = slitlet_rows(np.atleast_1d(np.asarray(j)), n)
    valid = (q[:, None] > 0) & (rows >= 1) & (rows <= N_ROWS)
    qq = np.clip(q[:, None], 1, 4) - 1
    ii = np.clip(i[:, None], 1, N_COLUMNS) - 1
    rr = np.clip(rows, 1, N_ROWS) - 1
    st = operability.state[np.broadcast_to(qq, rr.shape), rr, np.broadcast_to(ii, rr.shape)]
    return np.all(valid & (st != STATE_FAILED_CLOSED), axis=-1)


def footprint_overlap(pointing, wcs, shape, step=8):
    """Fraction of the MSA's shutters that fall on an image (0 = no overlap).

    Parameters
    ----------
    pointing : MSAPointing
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image.
    shape : tuple
        Image shape (ny, nx).
    step : int
        Use every ``step``-th shutter along each axis (speed).

    Returns
    -------
    float
    """
    q, j, i = np.indices(SHAPE)[:, :, ::step, ::step]
    ra, dec = pointing.shutter_sky(q.ravel() + 1, i.ravel() + 1, j.ravel() + 1)
    x, y = wcs.all_world2pix(ra, dec, 0)
    ny, nx = shape[:2]
    ok = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
    return float(ok.mean())


def require_overlap(pointing, wcs, shape):
    """Raise a one-line `WorkbookError` when the MSA footprint misses the image entirely."""
    frac = footprint_overlap(pointing, wcs, shape)
    if frac == 0.0:
        raise WorkbookError(
            f"the MSA at RA {pointing.ra:.5f}, Dec {pointing.dec:.5f}, APA {pointing.apa:.1f} does not overlap the image; "
            "move the pointing towards the image centre (offsets of a few arcmin at most)")
    return frac


def idt_table_path(quadrant):
    """Path of pysiaf's NIRSpec IDT per-shutter table for one quadrant (the validation data)."""
    pysiaf = _import_pysiaf()

    return (Path(pysiaf.__file__).parent / "source_data" / "NIRSpec" / "delivery" / "test_data"
            / "apertures_testData" / f"sky_fpa_projectionMSA_Q{int(quadrant)}.fits")


def validate_against_idt(filter="CLEAR"):
    """Compare every shutter of the model with the NIRSpec IDT table shipped in pysiaf.

    The IDT table (``sky_fpa_projectionMSA_Q{1..4}.fits``; CLEAR, 2 um) lists each shutter's
    MSA-plane position and its V2, V3 (``XPOSSKY, YPOSSKY``, degrees). Only its MSA-plane
    columns went into ``data/msa/msa_grid.ecsv``; the sky columns are an independent check of
    the SIAF-polynomial projection.

    Returns
    -------
    `~astropy.table.Table`
        One row per quadrant: ``n`` shutters, ``max_mas``, ``rms_mas`` (V2/V3 error) and
        ``max_msa_um`` (MSA-plane grid error).
    """
    from astropy.io import fits
    from astropy.table import Table

    rows = []
    for q in range(1, 5):
        d = fits.getdata(idt_table_path(q))
        v2, v3 = shutter_v2v3(d["Q"], d["I"], d["J"], filter=filter)
        err = 1000.0 * np.hypot(v2 - 3600.0 * d["XPOSSKY"], v3 - 3600.0 * d["YPOSSKY"])
        x, y = msa_xy_from_index(d["Q"], d["I"], d["J"])
        err_um = 1e6 * np.hypot(x - d["XPOSMSA"], y - d["YPOSMSA"])
        rows.append((q, len(d), err.max(), np.sqrt(np.mean(err ** 2)), err_um.max()))
    t = Table(rows=rows, names=("quadrant", "n", "max_mas", "rms_mas", "max_msa_um"))
    for c in ("max_mas", "rms_mas", "max_msa_um"):
        t[c].info.format = ".3f"
    t.meta["filter"] = filter
    return t
