"""Reference catalogs and perturbations: a Gaia DR3-like catalog of the truth's stars, and
copies of a catalog with known Gaussian position scatter."""

import numpy as np
from astropy.table import Table

from ..errors import WorkbookError
from ..validate import require_array, require_number, require_text
from ._checks import require_numeric_columns, require_seed, require_table
from .presets import MAS_PER_DEG


def gaia_like_catalog(truth, g_limit=21.0, seed=3, bright_limit=12.0):
    """A Gaia DR3-like catalog of the truth's stars, with G-dependent errors.

    Position and proper-motion errors follow the shape of Lindegren et al. (2021, A&A 649, A2,
    table 4) for 5-parameter solutions: about 0.02 mas at G < 15 rising to ~0.5 mas (position)
    and ~0.5 mas/yr (proper motion) at G = 20 and ~1.5 mas / 1.4 mas/yr at G = 21. Positions are
    at epoch 2016.0 (the DR3 reference epoch) and scattered by those errors.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`make_truth` (``mag`` used as G).
    g_limit : float
        Faintest G kept.
    seed : int

    Returns
    -------
    gaia : `~astropy.table.Table`
        Columns as in the Gaia archive: ``source_id, ra, dec, ra_error, dec_error`` (mas),
        ``pmra, pmdec, pmra_error, pmdec_error`` (mas/yr), ``parallax, parallax_error`` (mas),
        ``phot_g_mean_mag``, ``ref_epoch`` (yr), ``astrometric_params_solved``.
    """
    hint = "give the truth table make_truth returned"
    require_table(truth, "truth", ("kind", "mag", "ra", "dec", "pmra", "pmdec"), hint)
    require_numeric_columns(truth, "truth", ("ra", "dec", "pmra", "pmdec"), hint)
    require_numeric_columns(truth, "truth", ("mag",), hint, allow_nan=True)
    g_limit = require_number(g_limit, "g_limit", minimum=-5.0, maximum=40.0, example="21.0")
    bright_limit = require_number(bright_limit, "bright_limit", minimum=-5.0, maximum=40.0, example="12.0")
    rng = np.random.default_rng(require_seed(seed))
    stars = truth[(np.asarray(truth["kind"]).astype(str) != "galaxy")]
    g = np.asarray(stars["mag"], float)
    keep = (g < g_limit) & (g > bright_limit)
    stars = stars[keep]
    g = g[keep]
    # Lindegren+2021-like error curve (mas), 2016.0 positions.
    pos_err = 0.02 + 0.5 * 10 ** (0.4 * (g - 20.0) * 1.2) * (g > 13)
    pos_err = np.clip(pos_err, 0.02, None)
    pm_err = np.clip(0.025 + 0.5 * 10 ** (0.4 * (g - 20.0) * 1.2), 0.025, None)
    n = len(stars)
    ra_err = pos_err * rng.uniform(0.9, 1.1, n)
    dec_err = pos_err * rng.uniform(0.9, 1.1, n)
    pmra_err = pm_err * rng.uniform(0.9, 1.1, n)
    pmdec_err = pm_err * rng.uniform(0.9, 1.1, n)
    cosd = np.cos(np.radians(np.asarray(stars["dec"], float)))
    gaia = Table()
    gaia["source_id"] = np.int64(4_600_000_000_000_000_000) + np.asarray(stars["id"], np.int64)
    gaia["ra"] = np.asarray(stars["ra"], float) + rng.normal(0, 1, n) * ra_err / MAS_PER_DEG / cosd
    gaia["dec"] = np.asarray(stars["dec"], float) + rng.normal(0, 1, n) * dec_err / MAS_PER_DEG
    gaia["ra_error"] = ra_err
    gaia["dec_error"] = dec_err
    gaia["pmra"] = np.asarray(stars["pmra"], float) + rng.normal(0, 1, n) * pmra_err
    gaia["pmdec"] = np.asarray(stars["pmdec"], float) + rng.normal(0, 1, n) * pmdec_err
    gaia["pmra_error"] = pmra_err
    gaia["pmdec_error"] = pmdec_err
    gaia["parallax"] = rng.normal(0.2, 0.1, n)
    gaia["parallax_error"] = pos_err * 1.2
    gaia["phot_g_mean_mag"] = g
    gaia["ref_epoch"] = np.full(n, 2016.0)
    gaia["astrometric_params_solved"] = np.full(n, 31, dtype=np.int16)
    gaia["truth_id"] = np.asarray(stars["id"])
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("ra_error", "mas"), ("dec_error", "mas"),
                      ("pmra", "mas/yr"), ("pmdec", "mas/yr"), ("pmra_error", "mas/yr"), ("pmdec_error", "mas/yr"),
                      ("parallax", "mas"), ("parallax_error", "mas"), ("phot_g_mean_mag", "mag"), ("ref_epoch", "yr")):
        gaia[col].unit = unit
    gaia.meta.update({"catalog": "Gaia DR3 (simulated replay)", "ref_epoch": 2016.0,
                      "generator": "helpers.simulate.gaia_like_catalog"})
    return gaia


def perturb_catalog(table, sigma_mas, seed=0, ra_col="ra", dec_col="dec"):
    """Copy of a catalog with known Gaussian position scatter added per axis.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Must have RA/Dec columns in degrees.
    sigma_mas : float or array
        1σ scatter per axis (along RA·cos Dec and Dec), mas; an array gives one σ per row.
    seed : int

    Returns
    -------
    out : `~astropy.table.Table`
        With ``ra_err, dec_err`` (mas) set to ``sigma_mas`` and ``meta['injected_sigma_mas']``.
    """
    ra_col, dec_col = require_text(ra_col, "ra_col"), require_text(dec_col, "dec_col")
    hint = f"give a Table with RA/Dec columns {ra_col!r}, {dec_col!r} in degrees"
    require_table(table, "table", (ra_col, dec_col), hint)
    require_numeric_columns(table, "table", (ra_col, dec_col), hint, allow_nan=True)  # missing rows stay missing
    sigma = require_array(sigma_mas, "sigma_mas", what="scatter in mas", allow_nan=False)
    if (sigma < 0).any() or sigma.size not in (1, len(table)):
        raise WorkbookError(f"sigma_mas has {sigma.size} value(s) (min {sigma.min() if sigma.size else 'none'}); "
                            f"give one non-negative scatter in mas, or one per row ({len(table)})")
    rng = np.random.default_rng(require_seed(seed))
    out = table.copy()
    n = len(out)
    sigma = np.broadcast_to(sigma if np.ndim(sigma_mas) else sigma[0], (n,))
    dec = np.asarray(out[dec_col], float)
    out[ra_col] = (np.asarray(out[ra_col], float)
                   + rng.normal(0, 1, n) * sigma / MAS_PER_DEG / np.cos(np.radians(dec))) % 360.0
    out[dec_col] = dec + rng.normal(0, 1, n) * sigma / MAS_PER_DEG
    out[ra_col].unit = "deg"
    out[dec_col].unit = "deg"
    out["ra_err"] = np.array(sigma)
    out["dec_err"] = np.array(sigma)
    out["ra_err"].unit = "mas"
    out["dec_err"].unit = "mas"
    out.meta["injected_sigma_mas"] = float(np.median(sigma))
    return out
