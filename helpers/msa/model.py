"""Shutter-accurate NIRSpec MSA model: every shutter in V2/V3 through the SIAF optics (notebook 04).

Every one of the 4 x 365 x 171 = 249,660 micro-shutters, placed on the sky through the
NIRSpec optics model carried by the SIAF (`MSAModel`, `shutter_v2v3`);
`helpers.msa.pointing` puts the whole grid on RA/Dec and finds, for any list of sources,
the shutter each one falls in.

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

Arrays over the whole MSA have shape ``(4, 171, 365)`` and are indexed ``[q-1, j-1, i-1]``
(the layout of the CRDS operability map); the public functions take 1-based ``quadrant, i,
j`` like APT and the IDT table, with 0 meaning "outside the grid".

This module does not import matplotlib and works without a display.
"""

import functools
import math
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array

__all__ = [
    "N_QUADRANTS", "N_COLUMNS", "N_ROWS", "N_SHUTTERS", "SHAPE", "FILTERS", "DATA_DIR", "GRID_FILE",
    "MSAModel", "get_model", "shutter_v2v3", "shutter_corners_v2v3", "msa_xy_to_v2v3", "v2v3_to_msa_xy",
    "msa_xy_from_index", "sky_unit",
]

N_QUADRANTS, N_ROWS, N_COLUMNS = 4, 171, 365
N_SHUTTERS = N_QUADRANTS * N_ROWS * N_COLUMNS  # 249,660
SHAPE = (N_QUADRANTS, N_ROWS, N_COLUMNS)

#: Filters with their own fore-optics transform in the NIRSpec SIAF (``NRS_<F>_OTEIP_MSA_L0``).
FILTERS = ("CLEAR", "F070LP", "F100LP", "F110W", "F140X", "F170LP", "F290LP")

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "msa"
GRID_FILE = DATA_DIR / "msa_grid.ecsv"


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


def _broadcast_pair(a, b, name_a, name_b):
    """``a``, ``b`` broadcast to one shape (a scalar pairs with an array), or one `WorkbookError` line."""
    try:
        return tuple(np.array(v, dtype=float) for v in np.broadcast_arrays(a, b))
    except ValueError:
        raise WorkbookError(f"{name_a} has shape {np.shape(a)} and {name_b} {np.shape(b)}; give one value per "
                            "position in each (equal-length arrays)") from None


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
    x = require_array(x, "x", ndim=None, what="MSA-plane positions in metres")
    y = require_array(y, "y", ndim=None, what="MSA-plane positions in metres")
    x, y = _broadcast_pair(x, y, "x", "y")
    xo, yo = fore.backward(x, y)
    v2, v3 = ote.backward(xo, yo)
    return v2 * 3600.0, v3 * 3600.0


def v2v3_to_msa_xy(v2, v3, filter="CLEAR"):
    """Telescope V2, V3 (arcsec) to the MSA plane (metres); inverse of `msa_xy_to_v2v3`."""
    ote, fore = _transforms(_check_filter(filter))
    v2 = require_array(v2, "v2", ndim=None, what="V2 in arcsec")
    v3 = require_array(v3, "v3", ndim=None, what="V3 in arcsec")
    v2, v3 = _broadcast_pair(v2, v3, "v2", "v3")
    xo, yo = ote.forward(v2 / 3600.0, v3 / 3600.0)
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
    q, i, j = (require_array(a, n, ndim=None, what="shutter indices", allow_nan=False)
               for a, n in ((quadrant, "quadrant"), (i, "i"), (j, "j")))
    try:
        q, i, j = np.broadcast_arrays(q, i, j)
    except ValueError:
        raise WorkbookError("quadrant, i and j must have the same shape (or be scalars)") from None
    # i is APT's shutter_row (1-365, dispersion), j its shutter_column (1-171, spatial)
    apt = {"quadrant": "shutter_quadrant", "i": "shutter_row", "j": "shutter_column"}
    for name, arr, hi in (("quadrant", q, N_QUADRANTS), ("i", i, N_COLUMNS), ("j", j, N_ROWS)):
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0)):
            raise WorkbookError(f"{name} must be whole numbers (1-based); got {arr.ravel()[:3]}")
        if arr.size and (arr.min() < 1 or arr.max() > hi):
            raise WorkbookError(f"{name} must be between 1 and {hi} (APT's {apt[name]}, 1-based); "
                                f"got values from {arr.min()} to {arr.max()}")
    return q.astype(np.intp), i.astype(np.intp), j.astype(np.intp)


def msa_xy_from_index(quadrant, i, j):
    """MSA-plane centre (metres) of shutter (quadrant, i, j); fractional i, j allowed."""
    origin, jac, _, _ = _grid()
    q = require_array(quadrant, "quadrant", ndim=None, what="quadrants 1-4", allow_nan=False)
    if q.size and (np.any(q != np.round(q)) or q.min() < 1 or q.max() > N_QUADRANTS):
        raise WorkbookError(f"quadrant must be whole numbers 1-{N_QUADRANTS}; got {q.ravel()[:3]}")
    q = q.astype(np.intp) - 1
    di = require_array(i, "i", ndim=None, what="shutter rows") - 1.0
    dj = require_array(j, "j", ndim=None, what="shutter columns") - 1.0
    try:
        np.broadcast_shapes(q.shape, di.shape, dj.shape)
    except ValueError:
        raise WorkbookError(f"quadrant, i and j have shapes {q.shape}, {di.shape}, {dj.shape}; give one value "
                            "(or equal-length arrays) per shutter") from None
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
    ra = require_array(ra, "ra", ndim=None, what="RA in degrees").ravel()
    dec = require_array(dec, "dec", ndim=None, what="Dec in degrees").ravel()
    if ra.size != dec.size:
        raise WorkbookError(f"ra has {ra.size} values and dec {dec.size}; give one dec per ra")
    return _unit(ra, dec)


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
