"""An MSA pointing on RA/Dec and the shutter each source falls in (notebook 04).

Pointing: ``pysiaf.utils.rotations.attitude(V2Ref, V3Ref, ra, dec, V3PA)`` for the
``NRS_FULL_MSA`` reference point, with ``V3PA = APA - V3IdlYAngle`` (APT's aperture PA is
the position angle of the aperture's ideal Y axis), applied with numpy to all shutters.

Also here: the shutter look-up from V2/V3 (`locate_v2v3`), slitlets, the centering zones
and the overlap of the MSA footprint with an image. This module does not import matplotlib
and works without a display.
"""

import functools
import math

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array, require_number
from ..nirspec import CENTERING_CONSTRAINTS, canonical_constraint, constraint_names, in_zone
from .model import (N_COLUMNS, N_QUADRANTS, N_ROWS, SHAPE, _as_index_arrays, _check_filter, _grid,
                    _import_pysiaf, _lonlat, _siaf, _unit, get_model, shutter_corners_v2v3, v2v3_to_msa_xy)
from .aberration import check_va_factor, velocity_aberration_factor
from .operability import STATE_FAILED_CLOSED, STATE_OK, default_operability

__all__ = [
    "REFERENCE_APERTURE", "SLIT_APERTURES", "IFU_APERTURE", "NOD_PATTERN", "MSAPointing",
    "outlines_v2v3", "locate_v2v3", "shutter_id", "counted_mask", "slitlet_rows", "slitlet_ok", "footprint_overlap", "require_overlap",
]

#: SIAF aperture whose reference point an MSA pointing places on (RA, Dec).
REFERENCE_APERTURE = "NRS_FULL_MSA"

#: Fixed slits and the IFU aperture in the NIRSpec SIAF (outlines only).
SLIT_APERTURES = ("NRS_S200A1_SLIT", "NRS_S200A2_SLIT", "NRS_S400A1_SLIT", "NRS_S1600A1_SLIT",
                  "NRS_S200B1_SLIT")
IFU_APERTURE = "NRS_FULL_IFU"

#: Standard 3-shutter slitlet and 3-point nod: the source sits in the central shutter, then
#: the telescope moves by one shutter pitch along the slitlet (spatial direction) each way.
NOD_PATTERN = (0, 1, -1)


def _constraint(name):
    canonical = canonical_constraint(name)  # one-line WorkbookError listing the five otherwise
    return next(c for c in CENTERING_CONSTRAINTS if c[0] == canonical)


def shutter_id(row, column):
    """APT / jwst-pipeline shutter id within a quadrant: ``row + (column - 1) * 365`` (1-based).

    ``row`` is APT's ``shutter_row`` (1-365, along the dispersion; this package's ``i``) and
    ``column`` its ``shutter_column`` (1-171, spatial; this package's ``j``).
    """
    row = require_array(row, "row", ndim=None, what="shutter rows", allow_nan=False).astype(int)
    column = require_array(column, "column", ndim=None, what="shutter columns", allow_nan=False).astype(int)
    if row.shape != column.shape and row.ndim and column.ndim:
        raise WorkbookError(f"row has shape {row.shape}, column {column.shape}; give one column per row")
    return np.where((row > 0) & (column > 0), row + (column - 1) * N_COLUMNS, 0)


def _sky_array(values, what):
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    except (TypeError, ValueError):
        first = np.atleast_1d(np.asarray(values, dtype=object)).ravel()[:1]
        raise WorkbookError(f"{what} values such as {first[0]!r} are not numbers; give decimal degrees "
                            "(convert sexagesimal with helpers.targets or astropy SkyCoord first)") from None
    return arr


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
    epoch : str, float or `~astropy.time.Time`, optional
        Observation date; with it the differential velocity aberration is derived
        (:func:`helpers.msa.aberration.velocity_aberration_factor`).
    velocity_aberration : bool or float
        ``True`` (default, as APT): apply the factor derived from ``epoch`` -- without an epoch
        the factor is 1 and `velocity_aberration_note` says so; ``False``: off (factor 1); a
        number in 0.999-1.001: that factor. V2/V3 offsets from the reference point are scaled by
        the factor on the way to the sky, as the jwst pipeline's ``assign_wcs`` does.

    Examples
    --------
    >>> p = MSAPointing(53.1625, -27.791417, 45.0)
    >>> ra, dec = p.shutter_sky(1, 100, 50)
    >>> t = p.locate([ra], [dec])
    >>> int(t["quadrant"][0]), int(t["i"][0]), int(t["j"][0])
    (1, 100, 50)
    """

    def __init__(self, ra, dec, apa, filter="CLEAR", epoch=None, velocity_aberration=True):
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
        self.epoch = epoch
        self._va_setting = velocity_aberration
        if velocity_aberration is True:
            if epoch is None:
                self.va_factor = 1.0
                self.velocity_aberration_note = ("velocity aberration not applied: no observation epoch given "
                                                 "(pass epoch=... to apply it, ~1e-4 scale)")
            else:
                self.va_factor = check_va_factor(velocity_aberration_factor(self.ra, self.dec, epoch))
                self.velocity_aberration_note = f"velocity aberration factor {self.va_factor:.7f} (epoch {epoch})"
        elif velocity_aberration is False or velocity_aberration is None:
            self.va_factor = 1.0
            self.velocity_aberration_note = "velocity aberration switched off"
        else:
            self.va_factor = check_va_factor(velocity_aberration)
            self.velocity_aberration_note = f"velocity aberration factor {self.va_factor:.7f} (given)"

    def _v2v3_apparent(self, v2, v3):
        # sky -> instrument: undo the pipeline's V2/V3 scaling about the reference point
        if self.va_factor == 1.0:
            return v2, v3
        return self.v2ref + (v2 - self.v2ref) / self.va_factor, self.v3ref + (v3 - self.v3ref) / self.va_factor

    def _v2v3_true(self, v2, v3):
        # instrument -> sky: scale V2/V3 offsets from the reference point (jwst assign_wcs dva_corr)
        if self.va_factor == 1.0:
            return v2, v3
        return self.v2ref + (v2 - self.v2ref) * self.va_factor, self.v3ref + (v3 - self.v3ref) * self.va_factor

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
        return MSAPointing(float(ra), float(dec), float(v3pa) + self.v3idlyangle, filter=self.filter,
                           epoch=self.epoch, velocity_aberration=self._va_setting)

    def nod_pointings(self):
        """The three pointings of the standard 3-shutter slitlet nod (`NOD_PATTERN`)."""
        pitch = float(np.median(get_model(self.filter).pitch_spat))
        return [self.offset(0.0, -k * pitch) for k in NOD_PATTERN]

    # --- conversions ------------------------------------------------------------------------
    def v2v3_to_sky(self, v2, v3):
        """V2, V3 (arcsec) to RA, Dec (degrees) with this pointing's attitude (vectorised)."""
        v2, v3 = self._v2v3_true(np.asarray(v2, dtype=float), np.asarray(v3, dtype=float))
        vec = _unit(v2.ravel() / 3600.0, v3.ravel() / 3600.0)
        ra, dec = _lonlat(self.attitude @ vec)
        return (ra % 360.0).reshape(v2.shape), dec.reshape(v2.shape)

    def sky_to_v2v3(self, ra, dec):
        """RA, Dec (degrees) to V2, V3 (arcsec) with this pointing's attitude (vectorised)."""
        ra = np.asarray(ra, dtype=float)
        vec = _unit(ra.ravel(), np.asarray(dec, dtype=float).ravel())
        v2, v3 = _lonlat(self.attitude.T @ vec)
        v2, v3 = self._v2v3_apparent(v2 * 3600.0, v3 * 3600.0)
        return v2.reshape(ra.shape), v3.reshape(ra.shape)

    def shutter_sky(self, quadrant=None, i=None, j=None):
        """RA, Dec (degrees) of shutter centres; all 249,660 (shape (4, 171, 365)) if no index given."""
        m = get_model(self.filter)
        if self.va_factor != 1.0:
            if quadrant is None and i is None and j is None:
                return self.v2v3_to_sky(m.v2, m.v3)
            q, i, j = _as_index_arrays(quadrant, i, j)
            return self.v2v3_to_sky(m.v2[q - 1, j - 1, i - 1], m.v3[q - 1, j - 1, i - 1])
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
            ra = _sky_array(ra, "ra")
            dec = _sky_array(dec, "dec")
            if ra.shape != dec.shape:
                raise WorkbookError(f"ra and dec have different lengths ({ra.size} and {dec.size}); give one of each per source")
            unit = _unit(ra, dec)
        v2, v3 = _lonlat(self.attitude.T @ unit)
        v2, v3 = self._v2v3_apparent(v2 * 3600.0, v3 * 3600.0)
        res = locate_v2v3(v2, v3, self.filter)
        if operability is None:
            operability = default_operability()
        inside = res["quadrant"] > 0
        state = np.full(v2.shape, -1, dtype=np.int8)
        qi, ii, jj = res["quadrant"][inside], res["i"][inside], res["j"][inside]
        state[inside] = operability.state[qi - 1, jj - 1, ii - 1]
        # The one zone definition (helpers.nirspec.in_zone): offsets in units of the local pitch,
        # compared with 0.5 - margin / nominal pitch, as vMPT's _check_centration does.
        for name in constraint_names():
            res[_zone_column(name)] = inside & in_zone(res["fi"], res["fj"], name)
        res.update(state=state, v2=v2, v3=v3, operability=operability)
        return res

    def count(self, ra, dec, constraint="Midpoint", slitlet=3, operability=None, unit=None):
        """Number of sources inside a centering zone whose whole slitlet is operable.

        The one counting rule of the workbook (widget, figure titles, summary card, optimizer):
        a source counts when it lies inside the ``constraint`` zone of its shutter
        (:func:`helpers.nirspec.in_zone`) and every shutter of the ``slitlet``-shutter slitlet
        centred on it (spatial direction) exists and is not failed closed (`slitlet_ok`).

        Parameters
        ----------
        ra, dec : array_like
            Source positions, degrees (ICRS). Ignored when ``unit`` is given.
        constraint : str
            One of APT's five centering constraints (`constraint_names`).
        slitlet : int
            Shutters per slitlet along the spatial direction (1, 3, 5 ...).
        operability : Operability, optional
            Default: the shipped map.
        unit : ndarray, optional
            Precomputed ICRS unit vectors (3, N) of the sources (``helpers.msa.sky_unit``).

        Returns
        -------
        int

        Examples
        --------
        >>> from helpers.msa import SHAPE, Operability
        >>> all_open = Operability(np.zeros(SHAPE, np.int8), "all operable")
        >>> p = MSAPointing(53.1625, -27.791417, 45.0)
        >>> ra, dec = p.shutter_sky(1, 100, 50)
        >>> p.count([ra], [dec], "Tightly Constrained", operability=all_open)
        1
        """
        return int(self.count_mask(ra, dec, constraint, slitlet, operability, unit).sum())

    def count_mask(self, ra, dec, constraint="Midpoint", slitlet=3, operability=None, unit=None):
        """Boolean per source: the sources `count` counts."""
        name = canonical_constraint(constraint)  # fail on a bad name before any work
        return counted_mask(self.locate_arrays(ra, dec, operability=operability, unit=unit), name, slitlet)

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
            One row per source: ``shutter_quadrant`` (1-4), ``shutter_row`` (1-365, along the
            dispersion), ``shutter_column`` (1-171, spatial) and ``shutter_id`` (``row +
            (column - 1) * 365``) as APT's MSA metadata and the jwst pipeline name them (0
            outside the grid, including the gaps between quadrants); the same indices as
            ``quadrant, i, j`` (i = row, j = column; kept for code), ``dx_disp, dy_spat`` (arcsec, offset of the source
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
        cols = {"shutter_quadrant": res["quadrant"], "shutter_row": res["i"], "shutter_column": res["j"],
                "shutter_id": shutter_id(res["i"], res["j"]).astype(np.int32),
                "quadrant": res["quadrant"], "i": res["i"], "j": res["j"], "dx_disp": res["dx_disp"],
                "dy_spat": res["dy_spat"], "in_open": res["in_open"]}
        cols.update({_zone_column(name): res[_zone_column(name)] for name in constraint_names()})
        cols.update({"best_zone": names.take(level), "state": res["state"], "v2": res["v2"], "v3": res["v3"]})
        t = Table(cols, copy=False)
        for c in ("dx_disp", "dy_spat", "v2", "v3"):
            t[c].unit = "arcsec"
        t.meta["pointing"] = {"ra": self.ra, "dec": self.dec, "apa": self.apa, "filter": self.filter}
        t.meta["operability"] = operability.source
        t.meta["velocity_aberration"] = self.velocity_aberration_note
        return t


def counted_mask(located, constraint="Midpoint", slitlet=3, operability=None):
    """The counting rule of `MSAPointing.count` applied to `MSAPointing.locate_arrays` output.

    A source counts when it is inside the ``constraint`` zone and every shutter of its
    ``slitlet``-shutter slitlet exists and is operable (neither failed closed nor failed open:
    a failed-open shutter contaminates the spectrum; vMPT's evaluator treats both as inoperable).
    Callers that already located the sources (the widget scene) use this instead of locating
    twice. ``operability`` defaults to the map ``located`` was computed with (the
    ``"operability"`` entry of `MSAPointing.locate_arrays`); a `MSAPointing.locate` table
    carries only its name, so pass the map with it.
    """
    name = canonical_constraint(constraint)
    if operability is None:
        operability = located["operability"]
    try:
        n = int(slitlet)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n != slitlet:
        raise WorkbookError(f"slitlet = {slitlet!r}; give the number of shutters per slitlet (1, 3, 5 ...)")
    if not (isinstance(located, dict) or hasattr(located, "colnames")) or "quadrant" not in located.keys():
        raise WorkbookError(f"located is a {type(located).__name__}, not the table MSAPointing.locate returned; "
                            "pass pointing.locate(ra, dec)")
    ok = np.asarray(located[_zone_column(name)], bool).copy()
    if ok.any():
        ok[ok] = slitlet_ok(np.asarray(located["quadrant"])[ok], np.asarray(located["i"])[ok], np.asarray(located["j"])[ok],
                            operability,
                            n=n, require_ok=True)
    return ok


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


_NEAR_BOX_ARCSEC = 250.0


def locate_v2v3(v2, v3, filter="CLEAR"):
    """Vectorised shutter look-up from V2, V3 (arcsec); the core of `MSAPointing.locate`.

    Returns
    -------
    dict of ndarray
        ``quadrant, i, j`` (0 outside), ``fi, fj`` (offset in units of the pitch along i, j),
        ``dx_disp, dy_spat`` (arcsec), ``in_open`` (bool), ``x, y`` (MSA plane, m).
    """
    v2 = require_array(v2, "v2", ndim=None, what="V2 in arcsec").ravel()
    v3 = require_array(v3, "v3", ndim=None, what="V3 in arcsec").ravel()
    if v2.size != v3.size:
        raise WorkbookError(f"v2 has {v2.size} values and v3 {v3.size}; give one v3 per v2")
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
    n = require_number(n, "n", minimum=1, maximum=N_ROWS, integer=True, example="3")
    half = n // 2
    j = require_array(j, "j", ndim=None, what="shutter columns", allow_nan=False)
    if np.any(j != np.round(j)):
        raise WorkbookError("j must be whole numbers (shutter_column, 1-based); round them")
    return j.astype(int)[..., None] + np.arange(-half, half + 1)


def shutter_index_arrays(quadrant, i, j, ndim=1, per="source"):
    """Shutter indices (1-based quadrant, i, j, as `MSAPointing.locate` gives them) as int arrays.

    One line (`WorkbookError`) for text, NaN, fractions or arrays of different shapes; ``ndim``
    as `helpers.validate.require_array` (None: any shape); ``per`` names what each index is of.
    """
    q, i, j = (require_array(a, name, ndim=ndim, what="shutter indices", allow_nan=False)
               for a, name in ((quadrant, "quadrant"), (i, "i"), (j, "j")))
    if any(np.any(a != np.round(a)) for a in (q, i, j)):
        raise WorkbookError("quadrant, i and j must be whole numbers (1-based, from MSAPointing.locate); round them")
    q, i, j = q.astype(int), i.astype(int), j.astype(int)
    if not (q.shape == i.shape == j.shape):
        raise WorkbookError(f"quadrant, i and j have different lengths; give one of each per {per}")
    return q, i, j


def slitlet_ok(quadrant, i, j, operability=None, n=3, require_ok=False):
    """True where every shutter of the ``n``-shutter slitlet around (q, i, j) exists and can open
    (with ``require_ok``: and none is failed open either -- the rule of `counted_mask`)."""
    if operability is None:
        operability = default_operability()
    q, i, j = shutter_index_arrays(quadrant, i, j)
    rows = slitlet_rows(j, n)
    valid = (q[:, None] > 0) & (rows >= 1) & (rows <= N_ROWS)
    qq = np.clip(q[:, None], 1, 4) - 1
    ii = np.clip(i[:, None], 1, N_COLUMNS) - 1
    rr = np.clip(rows, 1, N_ROWS) - 1
    st = operability.state[np.broadcast_to(qq, rr.shape), rr, np.broadcast_to(ii, rr.shape)]
    usable = (st == STATE_OK) if require_ok else (st != STATE_FAILED_CLOSED)
    return np.all(valid & usable, axis=-1)


def _check_overlap_inputs(pointing, wcs, shape):
    """One line for a pointing, WCS or image shape of the wrong kind (footprint_overlap, require_overlap)."""
    if not isinstance(pointing, MSAPointing):
        raise WorkbookError(f"pointing is a {type(pointing).__name__}, not an MSAPointing; build one with "
                            "helpers.msa.MSAPointing(ra, dec, apa)")
    if not hasattr(wcs, "all_world2pix") or not getattr(wcs, "has_celestial", False):
        raise WorkbookError("wcs is not a celestial astropy WCS; pass the image's WCS (helpers.sources.read_image)")
    if (not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) < 2
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in shape[:2])):
        raise WorkbookError(f"shape = {shape!r:.40} is not an image shape; give (ny, nx), e.g. image.shape")


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
    _check_overlap_inputs(pointing, wcs, shape)
    step = int(require_number(step, "step", minimum=1, maximum=64, integer=True, example="8"))
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
