"""Where each target's spectrum lands on NRS1/NRS2, the detector gap, and which spectra overlap.

A first-order model of the NIRSpec spectrograph along the dispersion, built from:

* **pysiaf** (shipped data, ``source_data/NIRSpec/delivery/test_data/apertures_testData/
  sky_fpa_projectionMSA_Q{1..4}.fits``): for every shutter, the detector pixel of its undispersed
  (MIRROR) image on SCA491 = NRS1 (``IPOS491``, ``JPOS491``) and SCA492 = NRS2 (``IPOS492``).
  The two detectors share one axis along the dispersion: ``IPOS491 + IPOS492`` is the same constant
  (4243.22 px) for all 249,660 shutters, so we use one coordinate ``s`` in NRS1 pixels (1-based),
  running from the blue end of NRS1 (s = 0.5) through the gap (2048.5 < s < 4243.22 - 2048.5)
  onto NRS2, whose own x is ``4243.22 - s``. The gap width (146.2 px) is derived, not assumed.
* **JDox** ("NIRSpec Dispersers and Filters"): the wavelength range each disperser/filter pair puts
  on the detectors and the nominal dispersion of each grating (Å per pixel, converted to µm/px).
* **two numbers per grating**, the wavelength that lands on the shutter's MIRROR-image position at
  the middle detector row and its drift with the row (`ROW_DRIFT_PX`),
  and for the PRISM the pixel offsets of its two ends from that position: taken from the per-shutter
  cut-offs jwst-vmpt 1.8.0 ships (``vmpt/data/dispersion_cutoffs.npz``, derived there from the
  pipeline's dispersion polynomials via msaviz): fitted over all shutters by
  ``tests/data/planning/fit_vmpt_anchors.py`` (gratings) and medians (PRISM). The per-shutter behaviour (how edges and gap
  move across the MSA) comes from pysiaf and JDox alone, and the test compares it with vMPT's
  table shutter by shutter.

Model: ``s(λ) = s_image + drift·(row - 1024.5) + (λ - λ_anchor) / D`` for the gratings (linear
dispersion, D from JDox; λ_anchor and the row drift fitted to vMPT's table, `ROW_DRIFT_PX`),
``s ∈ [s_image + b_blue + drift_b·(row - 1024.5), s_image + b_red + drift_r·(row - 1024.5)]``
for the PRISM (non-linear dispersion: only the pixel
extent and the detectors are modelled, not λ(s)).

Overlap rule (as APT/vMPT's conflict rule): two chosen targets' spectra overlap when their
detector rows are closer than the slitlet height (``slitlet`` shutters x the spatial pitch in
detector pixels, derived from pysiaf) and their extents along the dispersion intersect.
"""

from functools import lru_cache
import os

import numpy as np

from ..errors import WorkbookError
from ..msa.pointing import shutter_index_arrays
from ..validate import require_array

__all__ = ["DISPERSERS", "disperser_pairs", "detector_layout", "spectrum_extents", "find_overlaps",
           "drop_overlaps"]

#: Disperser/filter pairs APT offers for MOS: (λ_min, λ_max) µm reaching the detectors (JDox
#: "NIRSpec Dispersers and Filters", extended ranges as the pipeline reference files give them),
#: D = nominal dispersion µm/px (JDox: G140M 6.36 Å/px, G235M 10.6, G395M 17.9, G140H 2.35,
#: G235H 3.96, G395H 6.65; None for the PRISM), and the anchor (see module docstring):
#: λ at the MIRROR-image position (µm) for gratings, (b_blue, b_red) px offsets for the PRISM.
DISPERSERS = {
    "PRISM/CLEAR": (0.60, 5.30, None, (-309.7, 87.2)),
    "G140M/F070LP": (0.70, 1.27, 6.36e-4, 1.46905),
    "G140M/F100LP": (0.97, 1.89, 6.36e-4, 1.46913),
    "G235M/F170LP": (1.66, 3.17, 1.06e-3, 2.44873),
    "G395M/F290LP": (2.87, 5.27, 1.79e-3, 4.04957),
    "G140H/F070LP": (0.70, 1.27, 2.35e-4, 1.16237),
    "G140H/F100LP": (0.97, 1.89, 2.35e-4, 1.16319),
    "G235H/F170LP": (1.66, 3.17, 3.96e-4, 1.94943),
    "G395H/F290LP": (2.87, 5.27, 6.65e-4, 3.29480),
}

_NPIX = 2048
#: Reference pixels along each edge of the NIRSpec H2RG detectors (2048 px, 2040 light-sensitive;
#: JDox "NIRSpec Detectors"). vMPT's gap wavelengths end 4 px before the physical edge, as this says.
REFERENCE_PX = 4
#: Detector row (NRS1 y, 1-based) about which `ROW_DRIFT_PX` is defined: the middle of the detector.
ROW_CENTRE = 1024.5
#: Drift (px along the dispersion per detector row) of the grating spectra against the shutter's
#: MIRROR image: the anchor wavelength lands at ``s_image + drift * (row - ROW_CENTRE)``. Without it
#: the model's gap wavelengths sat ~25 px (M) / ~52 px (H) off vMPT's, with opposite signs in the
#: upper and lower quadrants. Fitted with the anchors to vMPT 1.8.0's full table
#: (``tests/data/planning/fit_vmpt_anchors.py``): gap wavelengths then agree to 1-2 px (M) and
#: 6-9 px (H) median, 2.6-5.5 / 15-28 px at the 95th percentile (the H gratings' dispersion is
#: not linear enough over two detectors for one JDox D).
ROW_DRIFT_PX = {"G140M/F070LP": 0.03944, "G140M/F100LP": 0.04149, "G235M/F170LP": 0.04129, "G395M/F290LP": 0.04072,
                "G140H/F070LP": 0.08632, "G140H/F100LP": 0.09042, "G235H/F170LP": 0.09014, "G395H/F290LP": 0.09065}
#: The PRISM's blue and red ends drift with the detector row too (px per row; same fit, vMPT's
#: 10 x 10 grid per quadrant): ends then agree to ~5 px median.
PRISM_ROW_DRIFT_PX = (-0.13262, -0.12646)


def disperser_pairs():
    """The valid disperser/filter names, e.g. ``"G395M/F290LP"``."""
    return list(DISPERSERS)


def _pair(disperser):
    key = str(disperser).strip().upper().replace("_", "/").replace("+", "/")
    if key == "PRISM":
        key = "PRISM/CLEAR"
    if key not in DISPERSERS:
        raise WorkbookError(f"unknown disperser/filter {disperser!r}; use one of: {', '.join(DISPERSERS)}")
    return key


@lru_cache(maxsize=1)
def _image_positions():
    """Per-shutter MIRROR-image position (s, row) in NRS1 pixels, shape (4, 171, 365) [q-1, j-1, i-1]."""
    from astropy.io import fits

    from ..msa.model import _import_pysiaf

    pysiaf = _import_pysiaf()
    base = os.path.join(os.path.dirname(pysiaf.__file__), "source_data", "NIRSpec", "delivery", "test_data",
                        "apertures_testData")
    s_img = np.full((4, 171, 365), np.nan)
    row = np.full((4, 171, 365), np.nan)
    sums = []
    for q in range(1, 5):
        path = os.path.join(base, f"sky_fpa_projectionMSA_Q{q}.fits")
        if not os.path.exists(path):
            raise WorkbookError(f"pysiaf's NIRSpec projection table {path} is missing; reinstall pysiaf")
        d = fits.getdata(path, 1)
        s_img[q - 1, d["J"] - 1, d["I"] - 1] = d["IPOS491"]
        row[q - 1, d["J"] - 1, d["I"] - 1] = d["JPOS491"]
        sums.append(np.median(d["IPOS491"] + d["IPOS492"]))
    pitch_row = float(np.nanmedian(np.abs(np.diff(row, axis=1))))
    return s_img, row, float(np.median(sums)), pitch_row


def detector_layout():
    """NRS1/NRS2 along the dispersion in the shared coordinate ``s`` (NRS1 pixels, 1-based).

    Returns
    -------
    dict
        ``nrs1`` (s range, px), ``nrs2`` (s range, px), ``gap`` (s range, px), ``gap_px`` (width),
        ``nrs2_x_plus_s`` (NRS2 x = this - s), ``row_pitch_px`` (detector rows per shutter, spatial);
        ``reference_px`` (4: the reference-pixel border of each H2RG, which sees no light) and the
        light-sensitive ranges ``nrs1_active``, ``nrs2_active``, ``gap_active`` (the physical gap
        plus the reference pixels either side), which `spectrum_extents` clips to.
    """
    _, _, total, pitch_row = _image_positions()
    nrs2_lo = total - (_NPIX + 0.5)
    ref = REFERENCE_PX
    return {"nrs1": (0.5, _NPIX + 0.5), "nrs2": (nrs2_lo, total - 0.5), "gap": (_NPIX + 0.5, nrs2_lo),
            "gap_px": nrs2_lo - (_NPIX + 0.5), "nrs2_x_plus_s": total, "row_pitch_px": pitch_row,
            "reference_px": ref, "nrs1_active": (0.5 + ref, _NPIX + 0.5 - ref),
            "nrs2_active": (nrs2_lo + ref, total - 0.5 - ref), "gap_active": (_NPIX + 0.5 - ref, nrs2_lo + ref)}


def _index_arrays(quadrant, i, j):
    q, i, j = (a.ravel() for a in shutter_index_arrays(quadrant, i, j, ndim=None, per="target"))
    bad = (q < 1) | (q > 4) | (i < 1) | (i > 365) | (j < 1) | (j > 171)
    if bad.any():
        raise WorkbookError(f"{int(bad.sum())} shutter index(es) outside quadrant 1-4, i 1-365, j 1-171; "
                            "pass only targets that fall in a shutter (quadrant > 0 from MSAPointing.locate)")
    return q, i, j


def spectrum_extents(quadrant, i, j, disperser="PRISM/CLEAR"):
    """Each shutter's spectrum along the dispersion on NRS1/NRS2.

    Parameters
    ----------
    quadrant, i, j : array_like of int
        Shutter (1-based; ``i`` along the dispersion, ``j`` spatial), e.g. from
        ``MSAPointing.locate``.
    disperser : str
        A pair from `disperser_pairs` (``"G395M/F290LP"``; ``"PRISM"`` means PRISM/CLEAR).

    Returns
    -------
    `~astropy.table.Table`
        ``quadrant, i, j``; ``s_blue, s_red`` (px, shared NRS1 coordinate, clipped to the
        detectors); ``row`` (px, NRS1 y of the spectrum trace); ``on_nrs1, on_nrs2`` (bool);
        ``nrs1_x_lo, nrs1_x_hi, nrs2_x_lo, nrs2_x_hi`` (px, each detector's own x, NaN if not on
        it); ``lambda_blue, lambda_red`` (µm on the detectors) and ``gap_lo, gap_hi`` (µm lost in
        the gap, NaN if the spectrum does not span it; both NaN for the PRISM, whose λ(s) is not
        modelled).

    Raises
    ------
    WorkbookError
        Unknown disperser (the message lists the valid pairs), or indices outside the MSA.
    """
    from astropy.table import Table

    key = _pair(disperser)
    q, i, j = _index_arrays(quadrant, i, j)
    lam_min, lam_max, disp, anchor = DISPERSERS[key]
    s_img_all, row_all, total, _ = _image_positions()
    s_img = s_img_all[q - 1, j - 1, i - 1]
    row = row_all[q - 1, j - 1, i - 1]
    lay = detector_layout()
    det_lo, det_hi = lay["nrs1_active"][0], lay["nrs2_active"][1]
    gap_lo_s, gap_hi_s = lay["gap_active"]
    if disp is None:
        drow = row - ROW_CENTRE
        s_blue_raw = s_img + anchor[0] + PRISM_ROW_DRIFT_PX[0] * drow
        s_red_raw = s_img + anchor[1] + PRISM_ROW_DRIFT_PX[1] * drow
        s_anchor = s_img
    else:
        # where the anchor wavelength lands: the MIRROR image, drifting with the detector row
        s_anchor = s_img + ROW_DRIFT_PX[key] * (row - ROW_CENTRE)
        s_blue_raw = s_anchor + (lam_min - anchor) / disp
        s_red_raw = s_anchor + (lam_max - anchor) / disp
    s_blue = np.clip(s_blue_raw, det_lo, det_hi)
    s_red = np.clip(s_red_raw, det_lo, det_hi)
    # an end that falls in the gap: the light on the detectors starts (ends) at the gap's far (near) side
    in_gap_b = (s_blue > gap_lo_s) & (s_blue < gap_hi_s)
    in_gap_r = (s_red > gap_lo_s) & (s_red < gap_hi_s)
    s_blue = np.where(in_gap_b, gap_hi_s, s_blue)
    s_red = np.where(in_gap_r, gap_lo_s, s_red)
    visible = s_red_raw > det_lo
    visible &= s_blue_raw < det_hi
    on1 = visible & (s_blue < gap_lo_s)
    on2 = visible & (s_red > gap_hi_s)
    nan = np.full(q.shape, np.nan)
    nrs1_lo = np.where(on1, s_blue, nan)
    nrs1_hi = np.where(on1, np.minimum(s_red, gap_lo_s), nan)
    # NRS2's own x runs against s (the detectors face each other across the gap).
    nrs2_lo = np.where(on2, total - s_red, nan)
    nrs2_hi = np.where(on2, total - np.maximum(s_blue, gap_hi_s), nan)
    if disp is None:
        lam_blue = lam_red = gap_lo = gap_hi = nan
    else:
        def lam(s):
            return anchor + (s - s_anchor) * disp

        lam_blue = np.where(visible, lam(s_blue), nan)
        lam_red = np.where(visible, lam(s_red), nan)
        spans = on1 & on2
        gap_lo = np.where(spans, lam(np.full(q.shape, gap_lo_s)), nan)
        gap_hi = np.where(spans, lam(np.full(q.shape, gap_hi_s)), nan)
    t = Table({"quadrant": q, "i": i, "j": j, "s_blue": np.where(visible, s_blue, nan),
               "s_red": np.where(visible, s_red, nan), "row": row, "on_nrs1": on1, "on_nrs2": on2,
               "nrs1_x_lo": nrs1_lo, "nrs1_x_hi": nrs1_hi, "nrs2_x_lo": nrs2_lo, "nrs2_x_hi": nrs2_hi,
               "lambda_blue": lam_blue, "lambda_red": lam_red, "gap_lo": gap_lo, "gap_hi": gap_hi})
    for c in ("s_blue", "s_red", "row", "nrs1_x_lo", "nrs1_x_hi", "nrs2_x_lo", "nrs2_x_hi"):
        t[c].unit = "pix"
    for c in ("lambda_blue", "lambda_red", "gap_lo", "gap_hi"):
        t[c].unit = "um"
    t.meta["disperser"] = key
    t.meta["gap_px"] = lay["gap_px"]
    return t


def find_overlaps(quadrant, i, j, disperser="PRISM/CLEAR", slitlet=3):
    """Pairs of targets whose spectra overlap on the detectors.

    Parameters
    ----------
    quadrant, i, j : array_like of int
        The chosen targets' shutters (1-based).
    disperser : str
        A pair from `disperser_pairs`.
    slitlet : int
        Shutters per slitlet along the spatial direction (3 for the standard nod).

    Returns
    -------
    ndarray of int, shape (n_pairs, 2)
        Index pairs ``(a, b)`` with ``a < b`` into the inputs.
    """
    if int(slitlet) < 1:
        raise WorkbookError(f"slitlet must be a positive number of shutters, got {slitlet!r}")
    ext = spectrum_extents(quadrant, i, j, disperser)
    height = int(slitlet) * detector_layout()["row_pitch_px"]
    row = np.asarray(ext["row"], float)
    lo = np.asarray(ext["s_blue"], float)
    hi = np.asarray(ext["s_red"], float)
    with np.errstate(invalid="ignore"):
        close = np.abs(row[:, None] - row[None, :]) < height
        cross = (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None])
    hit = np.triu(close & cross, k=1)
    return np.argwhere(hit)


def drop_overlaps(quadrant, i, j, disperser="PRISM/CLEAR", slitlet=3, priority=None, weights=None):
    """Which targets to keep so that no two kept spectra overlap (priority wins).

    Greedy in order of priority (1 = most wanted), then weight (largest first), then input order:
    a target is kept unless its spectrum overlaps one already kept.

    Returns
    -------
    ndarray of bool
        Keep mask over the inputs.
    """
    q, i, j = _index_arrays(quadrant, i, j)
    n = q.size
    pairs = find_overlaps(q, i, j, disperser, slitlet)
    pri = np.zeros(n) if priority is None else require_array(priority, "priority", ndim=None, what="priorities").ravel()
    w = np.zeros(n) if weights is None else require_array(weights, "weights", ndim=None, what="weights").ravel()
    if pri.size != n or w.size != n:
        raise WorkbookError("priority/weights must have one value per target")
    order = np.lexsort((np.arange(n), -w, pri))
    neighbours = [[] for _ in range(n)]
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    keep = np.zeros(n, bool)
    for k in order:
        if not any(keep[m] for m in neighbours[k]):
            keep[k] = True
    return keep
