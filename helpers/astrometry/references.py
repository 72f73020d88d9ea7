"""Reference catalogs: Gaia DR3 propagated to the image epoch with its errors (method 3,
:func:`propagate_reference`), the Gaia stars usable as a reference (:func:`select_gaia`) and the
Hubble Source Catalog v3 as a reference with per-source errors (method 4, :func:`hsc_reference`).

Units: RA/Dec in degrees; errors in mas; proper motions in mas/yr; epochs in decimal years.
"""

import warnings

import numpy as np

from ..errors import WorkbookError
from .inputs import _DEC_NAMES, _RA_NAMES, _col_values, _find, _radec, _require_table
from ..validate import require_number

__all__ = [
    "propagate_reference",
    "select_gaia",
    "hsc_reference",
]


# --------------------------------------------------------------------------- Gaia propagation
def propagate_reference(ref, epoch, ref_epoch=None, max_err_mas=None):
    """Propagate a Gaia-like reference catalog to ``epoch`` with its proper motions and errors.

    Positions move with `astropy.coordinates.SkyCoord.apply_space_motion` (parallax used for the
    distance when positive; the annual parallax displacement itself, <~1 mas for faint stars, is
    not modelled). Errors per axis grow as
    sigma(t)^2 = sigma_0^2 + dt^2 sigma_pm^2 + 2 dt rho sigma_0 sigma_pm (Gaia DR3 documentation,
    section 4.1.7; ``ra_pmra_corr``/``dec_pmdec_corr`` used when present). Stars without proper
    motions (Gaia's 2-parameter solutions) keep their position and get NaN errors.

    Parameters
    ----------
    ref : `~astropy.table.Table`
        ``ra, dec`` (deg), ``ra_error, dec_error`` (mas; RA error along RA*cos(Dec)),
        ``pmra, pmdec`` (mas/yr, pmra along RA*cos(Dec)), ``pmra_error, pmdec_error``,
        optional ``parallax`` (mas), ``ref_epoch`` column or meta (default 2016.0, Gaia DR3).
    epoch : float
        Target decimal year (e.g. the image's epoch).
    ref_epoch : float, optional
        Overrides the catalog's reference epoch.
    max_err_mas : float, optional
        Keep only stars whose propagated error (larger axis) is at most this.

    Returns
    -------
    propagated : `~astropy.table.Table`
        Copy with ``ra, dec`` at ``epoch``, ``ra_err, dec_err`` (mas, propagated), ``pm_ok``;
        ``meta['epoch'] = epoch``, ``meta['propagated_from']``, ``meta['n_without_pm']``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> g = Table({"ra": [10.0], "dec": [0.0], "ra_error": [0.1], "dec_error": [0.1], "pmra": [10.0],
    ...            "pmdec": [0.0], "pmra_error": [0.5], "pmdec_error": [0.5], "ref_epoch": [2016.0]})
    >>> p = propagate_reference(g, 2026.0)
    >>> round(float((p["ra"][0] - 10.0) * 3.6e6), 1), round(float(p["ra_err"][0]), 2)
    (100.0, 5.0)
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, Distance
    from astropy.time import Time

    _require_table(ref, "ref")
    if epoch is None:
        raise WorkbookError("no epoch to propagate the reference to; pass epoch=<decimal year of the image>")
    epoch = require_number(epoch, "epoch", example=2012.75)
    if not 1900 <= epoch <= 2100:
        raise WorkbookError(f"epoch = {epoch!r} is not a decimal year; give e.g. 2012.75")
    if ref_epoch is None:
        if "ref_epoch" in ref.colnames:
            ref_epochs = _col_values(ref, "ref_epoch")
            ref_epoch = float(np.nanmedian(ref_epochs)) if np.isfinite(ref_epochs).any() else None
        if ref_epoch is None:
            ref_epoch = ref.meta.get("ref_epoch", ref.meta.get("epoch"))
        if ref_epoch is None:
            if "source_id" in ref.colnames:
                ref_epoch = 2016.0  # Gaia DR3 reference epoch (Gaia Collaboration, Vallenari et al. 2023)
            else:
                raise WorkbookError("the reference has proper motions but no reference epoch; pass ref_epoch= "
                                    "(e.g. 2016.0 for Gaia DR3) or add a 'ref_epoch' column")
    ref_epoch = float(ref_epoch)
    ra, dec, good = _radec(ref, "the reference catalog", drop_nan=True)
    out = ref.copy(copy_data=True)
    pmra, pmdec = _col_values(ref, "pmra", u.mas / u.yr), _col_values(ref, "pmdec", u.mas / u.yr)
    pm_ok = good & np.isfinite(pmra) & np.isfinite(pmdec)
    dt = epoch - ref_epoch
    new_ra, new_dec = ra.copy(), dec.copy()
    if pm_ok.any() and dt != 0:
        plx = _col_values(ref, "parallax", u.mas) if "parallax" in ref.colnames else np.full(len(ref), np.nan)
        plx = np.where(np.isfinite(plx) & (plx > 0.01), plx, 0.01)  # tiny parallax: no effect on the motion
        c = SkyCoord(ra=ra[pm_ok] * u.deg, dec=dec[pm_ok] * u.deg, pm_ra_cosdec=pmra[pm_ok] * u.mas / u.yr,
                     pm_dec=pmdec[pm_ok] * u.mas / u.yr, distance=Distance(parallax=plx[pm_ok] * u.mas),
                     obstime=Time(ref_epoch, format="jyear"), frame="icrs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved = c.apply_space_motion(new_obstime=Time(epoch, format="jyear"))
        new_ra[pm_ok], new_dec[pm_ok] = moved.ra.deg, moved.dec.deg

    def err(pos, pm, corr):
        e0 = _col_values(ref, pos, u.mas) if pos in ref.colnames else np.full(len(ref), np.nan)
        ep = _col_values(ref, pm, u.mas / u.yr) if pm in ref.colnames else np.full(len(ref), np.nan)
        rho = _col_values(ref, corr) if corr in ref.colnames else np.zeros(len(ref))
        rho = np.where(np.isfinite(rho), rho, 0.0)
        var = e0 ** 2 + (dt * ep) ** 2 + 2 * dt * rho * e0 * ep
        return np.where(pm_ok, np.sqrt(np.maximum(var, 0)), np.nan)

    out["ra"], out["dec"] = new_ra, new_dec
    out["ra"].unit = out["dec"].unit = u.deg
    out["ra_err"] = err("ra_error", "pmra_error", "ra_pmra_corr")
    out["dec_err"] = err("dec_error", "pmdec_error", "dec_pmdec_corr")
    out["ra_err"].unit = out["dec_err"].unit = u.mas
    out["pm_ok"] = pm_ok
    out.meta.update(epoch=epoch, propagated_from=ref_epoch, n_without_pm=int((good & ~pm_ok).sum()))
    if max_err_mas is not None:
        keep = pm_ok & (np.fmax(out["ra_err"], out["dec_err"]) <= max_err_mas)
        out = out[keep]
    for name in ("pmra", "pmdec"):  # motion applied: do not apply it again downstream
        out.rename_column(name, name + "_applied")
    return out


def select_gaia(gaia, max_ruwe=1.4, min_g=None):
    """Gaia stars usable as an astrometric reference: 5/6-parameter solutions with proper
    motions, RUWE <= ``max_ruwe`` (Lindegren et al. 2021: above ~1.4 the single-star model fits
    poorly), optionally fainter than ``min_g`` (saturated in the image).

    Returns
    -------
    usable : `~astropy.table.Table`
    reasons : dict
        Counts of stars dropped per reason.
    """
    _require_table(gaia, "gaia")
    max_ruwe = require_number(max_ruwe, "max_ruwe", minimum=0.0, allow_none=True, example=1.4)
    min_g = require_number(min_g, "min_g", allow_none=True, example=12.0)
    keep = np.ones(len(gaia), bool)
    reasons = {}
    if "pmra" in gaia.colnames:
        ok = np.isfinite(_col_values(gaia, "pmra"))
        reasons["no proper motion (2-parameter solution)"] = int((keep & ~ok).sum())
        keep &= ok
    if "ruwe" in gaia.colnames and max_ruwe is not None:
        ruwe = _col_values(gaia, "ruwe")
        ok = ~(ruwe > max_ruwe)
        reasons[f"RUWE > {max_ruwe:g}"] = int((keep & ~ok).sum())
        keep &= ok
    if min_g is not None and "phot_g_mean_mag" in gaia.colnames:
        ok = _col_values(gaia, "phot_g_mean_mag") >= min_g
        reasons[f"G < {min_g:g} (saturated)"] = int((keep & ~ok).sum())
        keep &= ok
    return gaia[keep], reasons


def hsc_reference(hsc):
    """Hubble Source Catalog v3 rows as a reference: ``ra, dec`` from ``MatchRA, MatchDec`` and
    per-source errors of the *mean* position, ``DSigma / sqrt(NumImages - 1)`` (mas; ``DSigma`` is the
    scatter of the matched detections about their mean, taken per axis; a single detection has no
    error estimate: NaN). HSC's relative astrometry also carries alignment errors of a few mas
    (Whitmore et al. 2016, AJ 151, 134) that this does not include. Without ``NumImages``, ``DSigma``
    itself (conservative) is used and ``meta['ref_err_kind']`` says so.

    Returns
    -------
    ref : `~astropy.table.Table`
    """
    from astropy.table import Table

    _require_table(hsc, "hsc")
    ra_n, dec_n = _find(hsc, _RA_NAMES), _find(hsc, _DEC_NAMES)
    if ra_n is None or dec_n is None:
        raise WorkbookError("the HSC table has no MatchRA/MatchDec columns; re-run notebook 01 to fetch it")
    import astropy.units as u

    out = Table({"ra": _col_values(hsc, ra_n, u.deg), "dec": _col_values(hsc, dec_n, u.deg)},
                meta={"name": "HSC v3", "frame": "icrs"})
    if "DSigma" in hsc.colnames:
        dsigma = _col_values(hsc, "DSigma", u.mas)
        if "NumImages" in hsc.colnames:
            # the reference position is the mean of NumImages detections: its error is DSigma (their scatter
            # about the mean, per axis) / sqrt(n - 1) -- removing DSigma itself drove a 5 mas catalog to 0 mas
            n_img = _col_values(hsc, "NumImages")
            with np.errstate(divide="ignore", invalid="ignore"):
                err = dsigma / np.sqrt(n_img - 1.0)
            err = np.where(np.isfinite(err) & (n_img >= 2) & (dsigma > 0), err, np.nan)
            out.meta["ref_err_kind"] = "error of the mean: DSigma / sqrt(NumImages - 1)"
        else:
            err = np.where(np.isfinite(dsigma) & (dsigma > 0), dsigma, np.nan)
            out.meta["ref_err_kind"] = "DSigma (no NumImages column: the scatter of one detection, conservative)"
        out["ra_err"], out["dec_err"] = err, err
    keep = np.isfinite(out["ra"]) & np.isfinite(out["dec"])
    return out[keep]
