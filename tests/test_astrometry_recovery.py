"""Every scatter-estimation method of helpers.astrometry recovers a known injected scatter.

Simulations with known truth (helpers.simulate): per-catalog sigma in {2, 5, 10, 20, 50} mas,
>= 200 pairs, must be recovered within 10% or 0.5 mas (whichever is larger); a known
systematic pattern must be found by the patch map. Run this file as a script to print the
recovery table (method x injected sigma -> recovered sigma with its 95% interval).
"""

import math

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from helpers import astrometry as ast
from helpers import simulate as sim
from helpers.skyplane import tangent_to_sky

SIGMAS = (2.0, 5.0, 10.0, 20.0, 50.0)
MAS_PER_DEG = 3.6e6


def tolerance(sigma):
    return max(0.10 * sigma, 0.5)


def _truth(n_stars=900, seed=7, mag=(16.5, 20.5)):
    return sim.make_truth(size_arcsec=180.0, n_stars=n_stars, n_galaxies=0, n_pairs=0, n_saturated=0,
                          star_mag_range=mag, seed=seed)


def _at_epoch(truth, epoch):
    """Truth positions moved to ``epoch`` by their proper motions (independent of the code under test)."""
    out = truth.copy()
    dt = epoch - truth.meta["ref_epoch"]
    dec = np.asarray(truth["dec"], float)
    out["dec"] = dec + np.asarray(truth["pmdec"]) * dt / MAS_PER_DEG
    out["ra"] = np.asarray(truth["ra"], float) + np.asarray(truth["pmra"]) * dt / MAS_PER_DEG / np.cos(np.radians(dec))
    out.remove_columns(["pmra", "pmdec"])
    out.meta = {"epoch": epoch}
    return out


def _distort(cat, shift_mas=(30.0, -20.0), rot_arcsec=0.4, scale_ppm=50.0):
    """Apply a known frame change (what a different image's WCS does to its catalog)."""
    ra0, dec0 = float(np.median(cat["ra"])), float(np.median(cat["dec"]))
    x, y = ast.tangent_plane_mas(cat["ra"], cat["dec"], ra0, dec0)
    t, s = math.radians(rot_arcsec / 3600.0), 1 + scale_ppm * 1e-6
    xn = s * (math.cos(t) * x - math.sin(t) * y) + shift_mas[0]
    yn = s * (math.sin(t) * x + math.cos(t) * y) + shift_mas[1]
    out = cat.copy()
    out["ra"], out["dec"] = tangent_to_sky(xn, yn, ra0, dec0, unit="mas")
    return out


def recover(method, sigma, seed=0):
    """Run one method on a simulation with injected per-catalog ``sigma``; return (recovered, ci, n)."""
    if method == "repeatability (2 equal catalogs)":
        truth = _at_epoch(_truth(n_stars=800, seed=seed + 1), 2004.8)
        a = sim.perturb_catalog(truth, sigma, seed=seed + 10)
        b = _distort(sim.perturb_catalog(truth, sigma, seed=seed + 11))
        res = ast.compare_catalogs(a, b, equal=True, max_sep=0.6, ref_err=None, n_boot=200)
        return res.sigma_cat_1d, res.sigma_cat_1d_ci, res.n_pairs
    if method == "three-cornered hat":
        truth = _at_epoch(_truth(n_stars=1500, seed=seed + 2), 2004.8)
        cats = [sim.perturb_catalog(truth, sigma, seed=seed + 20),
                _distort(sim.perturb_catalog(truth, 0.8 * sigma, seed=seed + 21)),
                _distort(sim.perturb_catalog(truth, 1.2 * sigma, seed=seed + 22), (-15, 40), -0.3, -30)]
        hat = ast.three_cornered_hat(cats, labels=["A", "B", "C"], max_sep=0.8, n_boot=200)
        return hat["sigma_1d"]["A"], hat["sigma_1d_ci"]["A"], hat["n_triples"]
    if method == "Gaia DR3 (propagated)":
        truth = _truth(n_stars=700, seed=seed + 3)
        gaia = sim.gaia_like_catalog(truth, g_limit=20.5, seed=seed + 4)
        image_epoch = 2019.5
        cat = sim.perturb_catalog(_at_epoch(truth, image_epoch), sigma, seed=seed + 30)
        cat = _distort(cat, (12.0, -8.0), 0.1, 10.0)
        res = ast.compare_catalogs(cat, gaia, max_sep=0.5, n_boot=200)
        return res.sigma_cat_1d, res.sigma_cat_1d_ci, res.n_pairs
    if method == "HSC-like (known reference sigma 3 mas)":
        truth = _at_epoch(_truth(n_stars=800, seed=seed + 5), 2004.8)
        hsc = sim.perturb_catalog(truth, 3.0, seed=seed + 40)
        hsc.remove_columns(["ra_err", "dec_err"])
        cat = _distort(sim.perturb_catalog(truth, sigma, seed=seed + 41))
        res = ast.compare_catalogs(cat, hsc, max_sep=0.5, ref_err=3.0, n_boot=200)
        return res.sigma_cat_1d, res.sigma_cat_1d_ci, res.n_pairs
    if method == "error budget (per-source errors)":
        return _error_budget_case(sigma, seed)
    if method == "injection-recovery":
        out = _injection_case(sigma, seed)
        return out["sigma_1d"], out["sigma_1d_ci"], out["n_recovered"]
    if method == "injection-recovery (pull x error budget)":
        return _injection_on_image_case(sigma, seed)
    if method == "injection sigma(SNR) model -> catalog":
        out = _injection_case(sigma, seed)
        model = ast.injection_sigma_model(out, n_boot=50)
        snr = np.geomspace(20, 2000, 400)  # a catalog's SNRs
        got, ci = ast.predicted_catalog_sigma(model, snr)
        return got, ci, out["n_recovered"]
    raise ValueError(method)


def _error_budget_case(sigma, seed):
    """Heterogeneous per-source errors (sigma_i ~ 1/SNR); the budget's prediction must match the
    robust scatter actually present (measured against the truth)."""
    rng = np.random.default_rng(seed + 50)
    n = 800
    snr = 10 ** rng.uniform(1, 2.5, n)
    sig_i = 30.0 / snr
    sig_i *= sigma / float(ast._mixture_sigma(sig_i))  # scale so the catalog's scatter is `sigma`
    truth = _at_epoch(_truth(n_stars=n, seed=seed + 6), 2004.8)
    cat = sim.perturb_catalog(truth, sig_i, seed=seed + 51)
    cat["snr"] = snr
    x0, y0 = ast.tangent_plane_mas(truth["ra"], truth["dec"], 53.16, -27.79)
    x1, y1 = ast.tangent_plane_mas(cat["ra"], cat["dec"], 53.16, -27.79)
    actual = math.sqrt(0.5 * (ast.robust_sigma(x1 - x0) ** 2 + ast.robust_sigma(y1 - y0) ** 2))
    budget = ast.error_budget(cat, n_boot=200)
    return budget["sigma_1d"], budget["sigma_1d_ci"], budget["n"], actual


def _injection_case(sigma, seed, size=600, scale_arcsec=0.05):
    """Noise image + a Gaussian PSF; a stand-in extractor (real detection + windowed centroid +
    a known extra scatter ``sigma``) until helpers.sources lands."""
    from photutils.psf import CircularGaussianPRF

    rng = np.random.default_rng(seed + 60)
    image = rng.normal(0.0, 1.0, (size, size))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [53.16, -27.79]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    psf = CircularGaussianPRF(fwhm=3.0)
    extractor = StandInExtractor(extra_sigma_pix=sigma / 1000.0 / scale_arcsec, seed=seed + 61)
    return ast.injection_recovery(image, wcs, psf, extract=extractor, error=np.ones_like(image), n_inject=300,
                                  snr_range=(300.0, 3000.0), seed=seed, n_boot=200,
                                  match_pix=max(1.5, 5 * extractor.extra))


def _injection_on_image_case(sigma, seed, tmp=None, size=900, scale_arcsec=0.05):
    """The notebook's path: a FITS image and its catalog whose errors are reported 2x too small;
    the extractor's scatter is `sigma` and it also under-reports by 2: pull ~2, estimate ~sigma."""
    import tempfile
    from pathlib import Path

    from astropy.io import fits

    rng = np.random.default_rng(seed + 70)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [53.16, -27.79], [size / 2, size / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    tmp = Path(tmp or tempfile.mkdtemp())
    path = tmp / "img_drc.fits"
    hdr = wcs.to_header()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(0, 1, (size, size)), hdr, name="SCI"),
                  fits.ImageHDU(np.ones((size, size)), hdr, name="ERR")]).writeto(path, overwrite=True)
    n = 30  # a sparse field: injected stars keep away from these
    cat = Table({"x": rng.uniform(0, size, n), "y": rng.uniform(0, size, n), "ra_err": np.full(n, sigma / 2),
                 "dec_err": np.full(n, sigma / 2), "snr": np.full(n, 500.0)},
                meta={"instrument": "none", "fwhm_pix": 3.0})
    extractor = StandInExtractor(extra_sigma_pix=sigma / 1000.0 / scale_arcsec, seed=seed + 71, report_factor=0.5)
    out = ast.injection_on_image(cat, {"path": str(path)}, n_inject=600, snr_range=(300.0, 3000.0),
                                 extract=extractor, n_boot=100, seed=seed, match_pix=max(1.5, 5 * extractor.extra))
    e = out["estimate"]
    return e["sigma"], e["ci"], e["n"]


class StandInExtractor:
    """Tiny extractor with the helpers.sources call signature: local maxima above 10 sigma,
    iterative Gaussian-windowed centroids, plus a known Gaussian scatter (for the recovery test).
    It reports ``report_factor`` x the true scatter as its error."""

    def __init__(self, extra_sigma_pix=0.0, seed=0, window_sigma=1.3, report_factor=1.0):
        self.extra, self.seed, self.ws, self.report = extra_sigma_pix, seed, window_sigma, report_factor

    def __call__(self, image, wcs, error=None, **kwargs):
        from scipy.ndimage import maximum_filter

        noise = 1.0 if error is None else float(np.median(error))
        peaks = (image == maximum_filter(image, size=7)) & (image > 10 * noise)
        ys, xs = np.nonzero(peaks)
        keep = (xs > 8) & (ys > 8) & (xs < image.shape[1] - 9) & (ys < image.shape[0] - 9)
        xs, ys = xs[keep].astype(float), ys[keep].astype(float)
        yy, xx = np.mgrid[-6:7, -6:7].astype(float)
        cx, cy = xs.copy(), ys.copy()
        for _ in range(10):
            for i in range(xs.size):
                ix, iy = int(round(cx[i])), int(round(cy[i]))
                stamp = image[iy - 6:iy + 7, ix - 6:ix + 7]
                gx, gy = xx + ix - cx[i], yy + iy - cy[i]
                w = np.exp(-(gx ** 2 + gy ** 2) / (2 * self.ws ** 2)) * stamp
                cx[i] += 2 * np.sum(w * gx) / np.sum(w)
                cy[i] += 2 * np.sum(w * gy) / np.sum(w)
        rng = np.random.default_rng(self.seed)
        cx += rng.normal(0, self.extra, cx.size) if self.extra else 0.0
        cy += rng.normal(0, self.extra, cy.size) if self.extra else 0.0
        err = np.full(cx.size, max(self.extra * self.report, 1e-3))
        return Table({"x": cx, "y": cy, "x_err": err, "y_err": err})


METHODS = ("repeatability (2 equal catalogs)", "three-cornered hat", "Gaia DR3 (propagated)",
           "HSC-like (known reference sigma 3 mas)", "error budget (per-source errors)", "injection-recovery",
           "injection-recovery (pull x error budget)", "injection sigma(SNR) model -> catalog")


@pytest.mark.parametrize("sigma", SIGMAS)
def test_repeatability_recovers_injected_sigma(sigma):
    got, ci, n = recover("repeatability (2 equal catalogs)", sigma)
    assert n >= 200
    assert abs(got - sigma) <= tolerance(sigma), (got, ci)
    assert ci[0] < got < ci[1]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_three_cornered_hat_recovers_injected_sigma(sigma):
    got, ci, n = recover("three-cornered hat", sigma)
    assert n >= 200
    assert abs(got - sigma) <= tolerance(sigma), (got, ci)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_gaia_recovers_injected_sigma_after_removing_gaia_errors(sigma):
    got, ci, n = recover("Gaia DR3 (propagated)", sigma)
    assert n >= 200
    assert abs(got - sigma) <= tolerance(sigma), (got, ci)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_hsc_like_recovers_injected_sigma(sigma):
    got, ci, n = recover("HSC-like (known reference sigma 3 mas)", sigma)
    assert n >= 200
    assert abs(got - sigma) <= tolerance(sigma), (got, ci)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_error_budget_predicts_actual_scatter(sigma):
    got, ci, n, actual = _error_budget_case(sigma, 0)
    assert n >= 200
    assert abs(actual - sigma) <= tolerance(sigma)  # the simulation did inject `sigma`
    assert abs(got - actual) <= tolerance(actual), (got, actual)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_injection_recovery_measures_extractor_scatter(sigma):
    out = _injection_case(sigma, 0)
    assert out["n_recovered"] >= 200
    assert abs(out["sigma_1d"] - sigma) <= tolerance(sigma), out["sigma_1d"]
    model = ast.injection_sigma_model(out, n_boot=20)
    got, ci = ast.predicted_catalog_sigma(model, np.geomspace(20, 2000, 400))
    assert abs(got - sigma) <= tolerance(sigma), (got, model)
    # reported errors equal the injected scatter here, so pulls are ~1
    assert all(abs(p - 1) < 0.15 for p in out["pull"])
    assert out["by_snr"]["n_recovered"].sum() == out["n_recovered"]


@pytest.mark.parametrize("sigma", (2.0, 10.0, 50.0))
def test_injection_on_image_calibrates_under_reported_errors(sigma, tmp_path):
    got, ci, n = _injection_on_image_case(sigma, 0, tmp=tmp_path)
    assert n >= 200
    assert abs(got - sigma) <= tolerance(sigma), (got, ci)


def _systematic_case(kind, amp=10.0, sigma=4.0, seed=0):
    """Catalog vs truth with a known spatial systematic, as simulate injects it in an image."""
    truth = _at_epoch(_truth(n_stars=3000, seed=seed + 8), 2004.8)
    cat = sim.perturb_catalog(truth, sigma, seed=seed + 80)
    scale = 0.06
    ra0, dec0 = float(np.median(truth["ra"])), float(np.median(truth["dec"]))
    x, y = ast.tangent_plane_mas(cat["ra"], cat["dec"], ra0, dec0)
    nx = 3000
    spec = sim.ImageSpec(shape=(nx, nx), systematic=kind, systematic_mas=amp, systematic_scale_arcsec=90.0)
    px, py = x / 1000.0 / scale + nx / 2, y / 1000.0 / scale + nx / 2
    sx, sy = sim._systematic_offsets(spec, px, py, scale)
    cat["ra"], cat["dec"] = tangent_to_sky(x + sx * scale * 1000, y + sy * scale * 1000, ra0, dec0, unit="mas")
    res = ast.compare_catalogs(cat, truth, ref_err=None, n_boot=50)
    return res, (x, y, sx * scale * 1000, sy * scale * 1000)


def _patch_truth(patches, x, y, sx, sy, res):
    """Injected pattern averaged over each patch, minus what the fitted transform absorbed."""
    size = patches.meta["patch_arcsec"] * 1000
    pairs = res.pairs[res.pairs["used"]]
    xi, eta = np.asarray(pairs["xi"]), np.asarray(pairs["eta"])
    # injected offsets at the matched sources (cat index order == truth order)
    ic = np.asarray(pairs["idx_cat"])
    ox, oy = sx[ic], sy[ic]
    # remove the 4-parameter part of the pattern, as the fit did
    t, rx, ry, _ = ast.fit_transform(xi + ox, eta + oy, xi, eta, fit="shift+rotation+scale", clip_sigma=1e9)
    ix = np.floor((xi - xi.min()) / size).astype(int)
    iy = np.floor((eta - eta.min()) / size).astype(int)
    exp = []
    for row in patches:
        kx = int(round((row["xi"] - xi.min()) / size - 0.5))
        ky = int(round((row["eta"] - eta.min()) / size - 0.5))
        sel = (ix == kx) & (iy == ky)
        exp.append((np.mean(rx[sel]), np.mean(ry[sel])))
    return np.array(exp)


@pytest.mark.parametrize("kind", ["seam", "wave"])
def test_patch_map_finds_injected_systematic(kind):
    res, (x, y, sx, sy) = _systematic_case(kind)
    patches = ast.patch_map(res, patch_arcsec=30.0)
    expected = _patch_truth(patches, x, y, sx, sy, res)
    measured = np.column_stack([patches["mean_dx"], patches["mean_dy"]])
    good = patches["n"] >= 20
    r = np.corrcoef(expected[good].ravel(), measured[good].ravel())[0, 1]
    assert r > 0.8, r
    assert patches.meta["p_value"] < 1e-6
    assert patches.meta["n_flagged"] >= 3
    big = np.hypot(expected[:, 0], expected[:, 1]) > 1.5
    # flagged patches are where the (fit-residual) pattern is, not where it is absent
    assert np.all(big[np.asarray(patches["flag"])])


def test_patch_map_quiet_without_systematic():
    res, _ = _systematic_case(None, amp=0.0)
    patches = ast.patch_map(res, patch_arcsec=30.0)
    assert patches.meta["n_flagged"] <= 1
    assert patches.meta["p_value"] > 1e-3


if __name__ == "__main__":  # print the recovery table for the report
    print("| method | " + " | ".join(f"{s:g} mas" for s in SIGMAS) + " |")
    print("|---|" + "---|" * len(SIGMAS))
    for m in METHODS:
        cells = []
        for s in SIGMAS:
            out = recover(m, s)
            got, ci, n = out[:3]
            cells.append(f"{got:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] (n={n})")
        print(f"| {m} | " + " | ".join(cells) + " |")


def test_heterogeneous_errors_calibrated_and_scaled_to_whole_catalog():
    """Real catalogs have errors from 0.1 to 20 mas and are matched on different subsets (Gaia:
    bright stars). Reported errors 1.5x too small must be found (k = 1.5) by each comparison and
    the whole catalog's scatter recovered from any subset."""
    truth = _truth(n_stars=1500, seed=21, mag=(16.5, 24.0))
    snr = np.clip(10 ** (0.4 * (24.5 - np.asarray(truth["mag"]))), 5, 5000)
    true_err = np.hypot(60.0 / snr, 0.8)
    cat = sim.perturb_catalog(_at_epoch(truth, 2019.5), true_err, seed=22)
    cat["ra_err"], cat["dec_err"] = true_err / 1.5, true_err / 1.5  # under-reported
    other = sim.perturb_catalog(_at_epoch(truth, 2019.5), true_err, seed=23)
    other["ra_err"], other["dec_err"] = true_err / 1.5, true_err / 1.5
    gaia = sim.gaia_like_catalog(truth, g_limit=20.0, seed=24)
    truth_sigma = float(ast._mixture_sigma(true_err))
    for ref, kw in ((other, {"equal": True}), (gaia, {})):
        res = ast.compare_catalogs(cat, ref, max_sep=0.5, n_boot=100, **kw)
        assert res.calibration == pytest.approx((1.5, 1.5), rel=0.12), res.calibration
        est = ast.as_estimate(res, cat)
        assert est["sigma"] == pytest.approx(truth_sigma, rel=0.12), (est, truth_sigma)
    assert ast.error_budget(cat, calibration=1.5, n_boot=0)["sigma_1d"] == pytest.approx(truth_sigma, rel=1e-6)
