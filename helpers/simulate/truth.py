"""The true scene: stars with proper motions, close pairs, saturated stars and Sérsic galaxies,
and their positions at any epoch."""

import numpy as np
from astropy.table import Table

from ..errors import WorkbookError
from ..skyplane import tangent_to_sky
from ..validate import require_number
from ._checks import require_pair, require_seed
from .presets import MAS_PER_DEG

_REF_EPOCH = 2016.0  # Gaia DR3 reference epoch: truth positions are given at this epoch


def decimal_year_to_mjd(year):
    """Convert a decimal year (TT-ish, ~1 s accuracy) to MJD.

    Parameters
    ----------
    year : float

    Returns
    -------
    mjd : float
    """
    year = require_number(year, "year", example="2016.5")
    return 51544.5 + (year - 2000.0) * 365.25


def make_truth(center=(53.1625, -27.791417), size_arcsec=180.0, n_stars=600, n_galaxies=800,
               n_pairs=30, n_saturated=6, star_mag_range=(19.0, 28.5), galaxy_mag_range=(21.0, 27.5),
               star_snr=None, pm_sigma_mas_yr=5.0, seed=1):
    """Random but reproducible scene: stars (with proper motions), close pairs, saturated stars
    and Sérsic galaxies in a square field.

    Parameters
    ----------
    center : (float, float)
        Field centre (RA, Dec), degrees ICRS.
    size_arcsec : float
        Side of the square populated with sources, arcsec.
    n_stars, n_galaxies, n_pairs, n_saturated : int
        Numbers of isolated stars, galaxies, close pairs (two stars 1.3–3 FWHM apart, counted
        as 2 sources each) and saturated stars.
    star_mag_range, galaxy_mag_range : (float, float)
        AB magnitudes in the reference band (0.6 µm), drawn uniformly.
    star_snr : (float, float), optional
        If given, stars get an ``snr_target`` drawn log-uniformly in this range, and each image
        sets the star's flux so its optimal SNR equals the target (used to test estimators at
        chosen SNR). Saturated stars are always much brighter.
    pm_sigma_mas_yr : float
        Per-axis proper-motion dispersion of stars, mas/yr.
    seed : int
        Random seed; the same arguments always give the same truth.

    Returns
    -------
    truth : `~astropy.table.Table`
        Columns ``id, ra, dec`` (deg, at ``meta['ref_epoch']`` = 2016.0), ``pmra, pmdec``
        (mas/yr; pmra includes cos Dec), ``kind`` (star, pair, saturated, galaxy), ``mag`` (AB,
        reference band), ``color`` (mag per micron of wavelength, positive = redder),
        ``snr_target`` (NaN unless ``star_snr``), ``r_eff`` (arcsec), ``sersic_n``, ``ellip``,
        ``theta`` (rad) for galaxies.
    """
    ra0, dec0 = require_pair(center, "center")
    if not -90.0 <= dec0 <= 90.0:
        raise WorkbookError(f"center Dec = {dec0} is outside [-90, 90]; give (RA, Dec) in degrees")
    size_arcsec = require_number(size_arcsec, "size_arcsec", minimum=1e-3, maximum=36000.0, example="60")
    n_stars, n_galaxies, n_pairs, n_saturated = (
        require_number(v, k, integer=True, minimum=0, maximum=10_000_000, example="100")
        for k, v in (("n_stars", n_stars), ("n_galaxies", n_galaxies), ("n_pairs", n_pairs), ("n_saturated", n_saturated)))
    star_mag_range = require_pair(star_mag_range, "star_mag_range", example="(19.0, 28.5)")
    galaxy_mag_range = require_pair(galaxy_mag_range, "galaxy_mag_range", example="(21.0, 27.5)")
    if star_snr is not None:
        star_snr = require_pair(star_snr, "star_snr", minimum=1e-3, example="(10, 300)")
    pm_sigma_mas_yr = require_number(pm_sigma_mas_yr, "pm_sigma_mas_yr", minimum=0.0, example="5.0")
    rng = np.random.default_rng(require_seed(seed))
    half = size_arcsec / 2.0 / 3600.0
    n_single = int(n_stars) + int(n_saturated) + int(n_galaxies) + int(n_pairs)
    xi = rng.uniform(-half, half, n_single)
    eta = rng.uniform(-half, half, n_single)
    kinds = np.array(["star"] * int(n_stars) + ["saturated"] * int(n_saturated) + ["galaxy"] * int(n_galaxies)
                     + ["pair"] * int(n_pairs))
    # Second members of pairs: 0.10-0.25" away (about 1.3-3 FWHM for HST in the optical).
    sep = rng.uniform(0.10, 0.25, int(n_pairs)) / 3600.0
    pa = rng.uniform(0, 2 * np.pi, int(n_pairs))
    pair_first = np.nonzero(kinds == "pair")[0]
    xi = np.concatenate([xi, xi[pair_first] + sep * np.sin(pa)])
    eta = np.concatenate([eta, eta[pair_first] + sep * np.cos(pa)])
    kinds = np.concatenate([kinds, np.array(["pair"] * int(n_pairs))])
    n = kinds.size
    ra, dec = tangent_to_sky(xi, eta, ra0, dec0, unit="deg")
    is_star = kinds != "galaxy"
    mag = np.where(is_star, rng.uniform(*star_mag_range, n), rng.uniform(*galaxy_mag_range, n))
    mag = np.where(kinds == "saturated", rng.uniform(star_mag_range[0] - 4.0, star_mag_range[0] - 2.0, n), mag)
    color = np.where(is_star, rng.normal(0.0, 0.6, n), rng.normal(0.8, 0.6, n))
    snr_target = np.full(n, np.nan)
    if star_snr is not None:
        lo, hi = np.log10(star_snr[0]), np.log10(star_snr[1])
        sel = (kinds == "star") | (kinds == "pair")
        snr_target[sel] = 10 ** rng.uniform(lo, hi, sel.sum())
    pmra = np.where(is_star, rng.normal(0.0, pm_sigma_mas_yr, n), 0.0)
    pmdec = np.where(is_star, rng.normal(0.0, pm_sigma_mas_yr, n), 0.0)
    r_eff = np.where(is_star, 0.0, np.exp(rng.normal(np.log(0.25), 0.5, n)).clip(0.06, 1.2))
    sersic_n = np.where(is_star, 0.0, rng.choice([0.7, 1.0, 1.5, 2.5, 4.0], n))
    ellip = np.where(is_star, 0.0, rng.uniform(0.0, 0.65, n))
    theta = np.where(is_star, 0.0, rng.uniform(0, np.pi, n))
    truth = Table(
        [np.arange(1, n + 1), ra, dec, pmra, pmdec, kinds, mag, color, snr_target, r_eff, sersic_n, ellip, theta],
        names=["id", "ra", "dec", "pmra", "pmdec", "kind", "mag", "color", "snr_target", "r_eff", "sersic_n",
               "ellip", "theta"])
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("pmra", "mas/yr"), ("pmdec", "mas/yr"), ("mag", "mag"),
                      ("r_eff", "arcsec"), ("theta", "rad")):
        truth[col].unit = unit
    truth.meta.update({"ref_epoch": _REF_EPOCH, "center": [ra0, dec0], "size_arcsec": float(size_arcsec),
                       "seed": int(seed), "generator": "helpers.simulate.make_truth"})
    return truth


def _propagate(truth, epoch):
    """Positions (deg) at ``epoch`` by linear proper motion on the tangent plane (exact to µas
    over decades for mas/yr motions)."""
    dt = float(epoch) - float(truth.meta.get("ref_epoch", _REF_EPOCH))
    dec = np.asarray(truth["dec"], float) + np.asarray(truth["pmdec"], float) * dt / MAS_PER_DEG
    ra = np.asarray(truth["ra"], float) + np.asarray(truth["pmra"], float) * dt / MAS_PER_DEG / np.cos(
        np.radians(np.asarray(truth["dec"], float)))
    return ra % 360.0, dec
