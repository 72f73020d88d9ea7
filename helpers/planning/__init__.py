"""Plan the pointing (issue #16, phase 1): allowed APA by date and a robust pointing optimizer.

Computing only (no matplotlib); downstream of ``helpers.msa``. The figure is
``helpers.plotting.planning.plot_apa_windows``.

API for the notebook/widget integration (phase 2)
-------------------------------------------------
``apa_windows(ra, dec, start, end, step_days=1, *, live=False) -> Table``
    Per day: ``date, mjd, visible, sun_angle, apa_nominal, apa_min, apa_max, roll_max,
    in_jwst_ephemeris`` (deg; APA of ``NRS_FULL_MSA`` = V3PA + V3IdlYAngle). Offline for any
    date (astropy solar ephemeris, JWST at L2, jwst_gtvt 1.2's field-of-regard and roll rules);
    ``live=True`` runs jwst_gtvt. Warns `EphemerisWarning` for dates outside the JWST ephemeris;
    raises `WorkbookError` naming the visibility windows when the target is never visible.
``check_apa(apa, window)``
    Raises `WorkbookError` unless the APA is allowed on some day of the window; returns the
    per-day boolean mask.
``visible_periods(ra, dec, start, days=366)``
    ``[(first, last), ...]`` ISO dates.
``optimize_pointing(targets, ra, dec, apa, *, d_ra_arcsec, d_dec_arcsec, d_apa_deg,
constraint="Midpoint", slitlet=3, weights=None, sigma_mas=None, msata_sigma_mas=20,
objective="expected", apa_window=None, operability=None, n_alternatives=3, margin_arcsec=None,
filter="CLEAR", epoch=None, velocity_aberration=True) -> PointingResult``
    ``ra, dec, apa, n_targets, weighted, expected, n_by_priority, expected_by_priority,
    alternatives, in_zone, probability, search_seconds, n_evaluations``.
``score_pointing(targets, ra, dec, apa, ...) -> (n_targets, expected, in_zone, probability)``
    Exact score of one pointing with the same rules.
``spectrum_extents(quadrant, i, j, disperser) -> Table``; ``find_overlaps``; ``drop_overlaps``
    Phase 2: each shutter's spectrum on NRS1/NRS2 (pysiaf image positions + JDox dispersion),
    the detector gap (``detector_layout``), overlapping pairs and an overlap-free keep mask;
    ``optimize_pointing(..., no_overlaps=True, disperser=...)`` uses them.
``zone_half_widths(constraint, margin_arcsec=None) -> (x_half, y_half)``
    The one accessor of the centering zones (``helpers.nirspec.CENTERING_CONSTRAINTS``, or
    explicit insets from the 0.2679" x 0.5294" pitch).
"""

from .optimizer import MAX_SEARCH_ARCSEC, MPT_CATALOG_RADIUS_DEG, PointingResult, optimize_pointing, score_pointing
from .visibility import (GTVT_EPHEMERIS_RANGE, MAX_SUN_ANGLE_DEG, MIN_SUN_ANGLE_DEG, EphemerisWarning,
                         apa_windows, check_apa, visible_periods)
from .spectra import DISPERSERS, detector_layout, disperser_pairs, drop_overlaps, find_overlaps, spectrum_extents
from .zones import PITCH_ARCSEC, zone_half_widths

__all__ = ["apa_windows", "check_apa", "visible_periods", "EphemerisWarning", "GTVT_EPHEMERIS_RANGE",
           "MIN_SUN_ANGLE_DEG", "MAX_SUN_ANGLE_DEG", "optimize_pointing", "score_pointing", "PointingResult",
           "MPT_CATALOG_RADIUS_DEG", "MAX_SEARCH_ARCSEC", "zone_half_widths", "PITCH_ARCSEC",
           "DISPERSERS", "disperser_pairs", "detector_layout", "spectrum_extents", "find_overlaps", "drop_overlaps"]
