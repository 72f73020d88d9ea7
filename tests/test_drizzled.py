"""The drizzled test bed (issue #13 item 1): exposures combined by STScI's drizzle engine into
HST drc and JWST i2d products laid out as the pipelines write them, the exposures' Cramér–Rao
bound (checked by the joint exposure fit that reaches it), cosmic-ray rejection, correlated noise,
and the extraction's figures on the products (reduced size; benchmarks/bench_drizzled.py runs
the full size)."""

import warnings

import numpy as np
import pytest
from astropy.io import fits

from helpers.errors import WorkbookError
from helpers.simulate import make_truth
from helpers.simulate.drizzled import isolated, make_drizzled
from helpers.simulate.limits import joint_exposure_fit, score_catalog

CENTER = (53.1625, -27.791417)


def _truth(side_arcsec, native, n_stars, seed, n_saturated=0, n_galaxies=0):
    truth = make_truth(center=CENTER, size_arcsec=side_arcsec, n_stars=n_stars, n_galaxies=n_galaxies, n_pairs=0,
                       n_saturated=n_saturated, star_snr=(10, 300), seed=seed)
    return isolated(truth, 12 * native)


@pytest.fixture(scope="module")
def acs():
    """ACS/WFC F814W, 4-point box, 0.04"/px (HAP's scale), pixfrac 0.8, EXP weights."""
    return make_drizzled(_truth(23.0, 0.05, 180, 3, n_saturated=1), "ACS/WFC", "F814W", shape=(512, 512),
                         out_scale=0.04, pixfrac=0.8, exptime=500.0, sky=0.08, seed=1, name="tb_acs")


@pytest.fixture(scope="module")
def acs_native():
    """ACS/WFC F814W at its native scale, pixfrac 1.0."""
    return make_drizzled(_truth(23.0, 0.05, 180, 4), "ACS/WFC", "F814W", shape=(512, 512), out_scale=0.05,
                         pixfrac=1.0, exptime=500.0, sky=0.08, seed=2, name="tb_acs1")


@pytest.fixture(scope="module")
def nircam():
    """NIRCam F200W (SW, 0.031"/px) at its native scale, pixfrac 1.0, an i2d."""
    return make_drizzled(_truth(14.5, 0.031, 180, 5), "NIRCAM/SW", "F200W", shape=(512, 512), out_scale=0.031,
                         pixfrac=1.0, exptime=500.0, sky=0.2, seed=3, name="tb_nrc")


def test_drc_is_laid_out_as_astrodrizzle_writes_it(acs, tmp_path):
    path = acs.writeto(tmp_path / "tb_acs_drc.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CTX"]  # no ERR in a drc
        h0, sci = hdul[0].header, hdul["SCI"].header
        assert sci["BUNIT"] == "ELECTRONS/S" and sci["CTYPE1"] == "RA---TAN"
        assert h0["NDRIZIM"] == 4 and h0["EXPTIME"] == pytest.approx(2000.0)
        for k in range(1, 5):
            assert h0[f"D{k:03d}PIXF"] == 0.8 and h0[f"D{k:03d}SCAL"] == 0.04 and h0[f"D{k:03d}KERN"] == "square"
        assert "final_wht_type = EXP" in str(h0["HISTORY"])
        ctx = hdul["CTX"].data
        ny, nx = ctx.shape
        assert np.median(ctx[ny // 3:2 * ny // 3, nx // 3:2 * nx // 3]) == 15  # all four exposures
    # cosmic rays rejected with the truth mask are marked 4096 in the exposures' DQ
    e = acs.exposures[0]
    assert np.all(e.dq[e.cr_mask] & 4096)


def test_drizzled_flux_is_conserved_at_another_scale(acs):
    """iscale = (0.04/0.05)²: a star's e-/s summed over output pixels is its true flux times the
    encircled energy of the PSF model in the same aperture (a wrong iscale would be 36 % off)."""
    from helpers.simulate import make_psf

    sci = acs.sci
    t = acs.truth[(acs.truth["kind"] == "star") & (acs.truth["snr"] > 100) & (acs.truth["n_exp"] == 4)]
    t = t[(t["x"] > 30) & (t["y"] > 30) & (t["x"] < sci.shape[1] - 30) & (t["y"] < sci.shape[0] - 30)]

    def aperture(image, x, y, scale):
        yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
        r = np.hypot(xx - x, yy - y) * scale  # arcsec
        annulus = np.median(image[(r > 0.8) & (r < 1.04)])
        return np.sum(image[r < 0.8]) - annulus * np.sum(r < 0.8)

    psf = make_psf("ACS/WFC", "F814W", pixel_scale=0.05)
    model = psf.evaluate(*np.mgrid[:61, :61][::-1].astype(float), flux=1.0, x_0=30.0, y_0=30.0)
    encircled = aperture(model, 30.0, 30.0, 0.05)
    ratios = [aperture(sci, row["x"], row["y"], 0.04) / row["flux"] for row in t]
    assert len(ratios) >= 5
    assert np.median(ratios) / encircled == pytest.approx(1.0, abs=0.02)


def test_wht_types_exp_and_ivm(acs):
    """EXP: weights in seconds; IVM: inverse background variance; same geometry, ratio constant."""
    ivm = make_drizzled(_truth(23.0, 0.05, 180, 3, n_saturated=1), "ACS/WFC", "F814W", shape=(512, 512),
                        out_scale=0.04, pixfrac=0.8, exptime=500.0, sky=0.08, seed=1, name="tb_acs", wht_type="IVM")
    w_exp, w_ivm = acs.extensions["WHT"], ivm.extensions["WHT"]
    ok = (w_exp > 0.8 * np.median(w_exp[w_exp > 0])) & (acs.extensions["CTX"] == 15)
    ratio = w_ivm[ok] / w_exp[ok]
    e = acs.exposures[0]
    t = e.spec.exptime
    expected = np.median(1.0 / (e.variance["background"] * e.to_e_per_s**2)) / t  # (e-/s)^-2 per second
    assert np.median(ratio) == pytest.approx(expected, rel=0.05)
    # IVM is the inverse variance of the output pixels (drizzle's weighted mean), checked on the sky:
    sky = ivm.sci[ok & (np.abs(ivm.sci) < 5 / np.sqrt(np.maximum(w_ivm, 1e-30)))]
    normalized = sky * np.sqrt(w_ivm[ok & (np.abs(ivm.sci) < 5 / np.sqrt(np.maximum(w_ivm, 1e-30)))])
    sigma = 1.4826 * np.median(np.abs(normalized - np.median(normalized)))
    assert 0.3 < sigma < 1.2  # below 1: pixfrac < 1 and small output pixels shrink the per-pixel noise


def test_i2d_is_laid_out_as_the_jwst_pipeline_writes_it(nircam, tmp_path):
    path = nircam.writeto(tmp_path / "tb_nrc_i2d.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "CON", "WHT", "VAR_POISSON", "VAR_RNOISE",
                                          "VAR_FLAT"]
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr" and hdul["SCI"].header["RESWHT"] == "ivm"
        assert hdul[0].header["INSTRUME"] == "NIRCAM" and hdul[0].header["FILTER"] == "F200W"
        err2 = np.nan_to_num(hdul["ERR"].data.astype(float)) ** 2
        var = sum(np.nan_to_num(hdul[k].data.astype(float)) for k in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"))
        assert np.allclose(err2, var, rtol=1e-4)


def test_the_bound_is_reached_by_the_joint_exposure_fit(acs):
    """The truth's Cramér–Rao bound is right: the fit on the exposures' pixels scatters as it, pulls 1."""
    t = acs.truth[(acs.truth["kind"] == "star") & (acs.truth["n_exp"] == 4) & (acs.truth["snr"] < 300)]
    ny, nx = acs.sci.shape
    t = t[(t["x"] > 20) & (t["y"] > 20) & (t["x"] < nx - 20) & (t["y"] < ny - 20)]
    x, y, sx, sy = joint_exposure_fit(acs, np.asarray(t["id"]))
    dx, dy = x - t["x"], y - t["y"]
    assert len(t) >= 60
    ratio = np.sqrt(np.mean(np.r_[dx**2, dy**2]) / np.mean(np.r_[t["crb_x"] ** 2, t["crb_y"] ** 2]))
    pull = np.std(np.r_[dx / sx, dy / sy])
    assert 0.85 < ratio < 1.15
    assert 0.85 < pull < 1.15
    assert np.median(np.r_[sx / t["crb_x"], sy / t["crb_y"]]) == pytest.approx(1.0, abs=0.03)


def test_median_cosmic_ray_rejection_finds_the_tracks():
    """AstroDrizzle's driz_cr recipe (median, blot, compare) flags ≥ 90 % of the > 5σ cosmic-ray pixels."""
    p = make_drizzled(_truth(23.0, 0.05, 120, 7), "ACS/WFC", "F814W", shape=(384, 384), pixfrac=0.8, exptime=500.0,
                      seed=5, cr_rejection="median")
    for e in p.exposures:
        flagged = (e.dq & 4096) != 0
        strong = e.cr_electrons > 5 * np.sqrt(e.variance["background"])
        assert (flagged & strong).sum() / strong.sum() > 0.9
        assert (flagged & ~e.cr_mask).mean() < 0.02


def test_without_rejection_cosmic_rays_reach_the_product():
    kwargs = dict(shape=(384, 384), pixfrac=0.8, exptime=500.0, seed=5)
    clean = make_drizzled(_truth(23.0, 0.05, 0, 7), "ACS/WFC", "F814W", cr_rejection="truth", **kwargs)
    dirty = make_drizzled(_truth(23.0, 0.05, 0, 7), "ACS/WFC", "F814W", cr_rejection="none", **kwargs)
    full = clean.extensions["CTX"] == 15  # seen by all four exposures
    sigma = 1.4826 * np.median(np.abs(clean.sci[full] - np.median(clean.sci[full])))
    assert np.mean(clean.sci[full] > 6 * sigma) < 1e-4
    assert np.mean(dirty.sci[full] > 6 * sigma) > 1e-3


def test_correlated_noise_is_what_the_noise_module_measures(acs):
    """Block-summed sky noise of a source-free drizzle (the truth of the correlation) is what
    ``helpers.sources.noise.measure_sky_noise`` measures on the product with stars."""
    from helpers.sources.noise import measure_sky_noise

    empty = make_drizzled(_truth(23.0, 0.05, 0, 3), "ACS/WFC", "F814W", shape=(512, 512), out_scale=0.04,
                          pixfrac=0.8, exptime=500.0, sky=0.08, seed=11, name="tb_empty")
    ctx = empty.extensions["CTX"]
    ys, xs = np.nonzero(ctx == 15)
    cut = (slice(ys.min() + 8, ys.max() - 8), slice(xs.min() + 8, xs.max() - 8))
    noise = empty.sci[cut].astype(float)
    sigma = np.std(noise)
    truth_ratio = {}
    for b in (2, 4, 8):
        ny, nx = (noise.shape[0] // b) * b, (noise.shape[1] // b) * b
        sums = noise[:ny, :nx].reshape(ny // b, b, nx // b, b).sum(axis=(1, 3))
        truth_ratio[b] = np.std(sums) / (b * sigma)
    assert truth_ratio[8] > 1.2  # drizzling correlates neighbouring output pixels
    w = acs.extensions["WHT"]
    normalized = np.where(w > 0, acs.sci * np.sqrt(w), 0.0)
    measured = measure_sky_noise(normalized)["correlation"]
    for b in (2, 4, 8):
        assert measured[b] == pytest.approx(truth_ratio[b], rel=0.06)
    # The per-pixel variance drizzling leaves (relative to the noise it spread) is the large-block
    # limit of the ratio: 8x8 is within 15 % of it (32x32 sums of the source-free product: 0.43, the
    # 8x8 estimate 0.49 at 0.04"/px pixfrac 0.8; the Poisson term it scales is part of the variance only).
    from helpers.sources.noise import resampled_variance_ratio

    b = 32
    ny, nx = (noise.shape[0] // b) * b, (noise.shape[1] // b) * b
    sums = noise[:ny, :nx].reshape(ny // b, b, nx // b, b).sum(axis=(1, 3))
    assert resampled_variance_ratio(measured) == pytest.approx((b * sigma / np.std(sums)) ** 2, rel=0.15)
    assert resampled_variance_ratio({2: 1.01, 4: 1.02, 8: 1.03}) == 1.0  # white noise: nothing applied


def test_position_errors_inflate_by_the_derivative_kernels_factor(acs):
    """The truth: a position estimator's weights (∂PSF/∂x, lobes of both signs) applied to the noise
    of a source-free drizzle scatter by exactly the inflation the sky autocorrelation of the product
    with stars predicts, which is below the block-sum (flux) factor."""
    from scipy import ndimage

    from helpers.sources.noise import correlation_factor, measure_sky_noise, position_correlation_factor

    empty = make_drizzled(_truth(23.0, 0.05, 0, 3), "ACS/WFC", "F814W", shape=(512, 512), out_scale=0.04,
                          pixfrac=0.8, exptime=500.0, sky=0.08, seed=12, name="tb_empty2")
    ctx = empty.extensions["CTX"]
    ys, xs = np.nonzero(ctx == 15)
    noise = empty.sci[ys.min() + 8:ys.max() - 8, xs.min() + 8:xs.max() - 8].astype(float)
    noise = (noise - noise.mean()) / noise.std()
    fwhm = 2.5
    sig = fwhm / 2.3548
    yy, xx = np.mgrid[-8:9, -8:9].astype(float)
    g = xx * np.exp(-(xx**2 + yy**2) / (2 * sig**2))
    est = ndimage.correlate(noise, g, mode="constant")[10:-10, 10:-10]
    truth_factor = np.std(est) / np.sqrt(np.sum(g * g))
    w = acs.extensions["WHT"]
    sky = measure_sky_noise(np.where(w > 0, acs.sci * np.sqrt(w), 0.0))
    predicted = position_correlation_factor(sky["autocorrelation"], fwhm)
    assert truth_factor > 1.1  # drizzling inflates position errors too
    assert predicted == pytest.approx(truth_factor, rel=0.05)
    assert predicted < correlation_factor(sky["correlation"], fwhm)
    assert position_correlation_factor(None, fwhm) is None


def test_bad_inputs_are_refused_in_one_line():
    truth = _truth(10.0, 0.05, 5, 1)
    for kwargs, match in ((dict(pixfrac=0.0), "pixfrac"), (dict(pixfrac=1.5), "pixfrac"),
                          (dict(wht_type="ERR"), "wht_type"), (dict(cr_rejection="lacosmic"), "cr_rejection"),
                          (dict(out_scale=-0.05), "out_scale"), (dict(dither=()), "dither"),
                          (dict(filter="F999W"), "unknown filter"), (dict(detector_name="WFPC1"), "unknown detector")):
        with pytest.raises(WorkbookError, match=match) as info:
            make_drizzled(truth, **{"shape": (64, 64), **kwargs})
        assert "\n" not in str(info.value)


def _extract(product, tmp_path):
    from helpers.sources import extract_sources_fits

    path = product.writeto(tmp_path / f"{product.params['n_exposures']}_{product.suffix}.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extract_sources_fits(path)


def _scores(product, tmp_path):
    cat = _extract(product, tmp_path)
    return cat, score_catalog(cat, product.truth, shape=product.sci.shape)


@pytest.mark.parametrize("which", ["acs_native", "nircam"])
def test_extraction_on_the_drizzled_products_is_calibrated_where_measured(which, request, tmp_path):
    """A regression guard on one field of each (pixfrac 1, native scale; the pooled figures are
    test_the_epsf_error_is_cross_validated_and_the_pulls_follow below and benchmarks/bench_drizzled.py):
    the drizzle correlation is measured and applied, and below SNR 100 both paths' errors are right
    within 20-25 % (pulls 1.3-1.8 before #13's noise work). The PSF path is scored on every fitted star
    (``x_psf``: on NIRCam the windowed centroid is kept at SNR > 30, its ePSF being the worse estimator),
    and the PSF fit stays within 1.3x the exposures' bound at SNR 10-30 (NIRCam SNR 30-100: 1.84x with the
    ePSF on a 4x grid from 54 stars, 1.24x on the 2x grid). One field's 30-60 stars a bin give a pull std
    to +-10-13 %, and its ePSF error estimate (two halves of 40-55 stars) to ~+-30 %, so SNR 100-300,
    where that term dominates, is checked pooled. The issue's own target is the strict xfail below."""
    product = request.getfixturevalue(which)
    cat, rows = _scores(product, tmp_path)
    assert cat.meta["noise_correlation_factor"] > 1.05  # the correlation was seen and applied
    for row in rows:
        assert row["n"] >= 15 and row["n_fit"] >= 0.8 * row["n"], row
        if row["snr_hi"] <= 100:
            assert 0.75 < row["pull_fit"] < 1.25, row
            assert 0.8 < row["pull_windowed"] < 1.2, row
    assert rows[0]["fit_over_crb"] < 1.3, rows[0]


def _bench_like_field(det, scale, side, sky, seed_truth, seed, field):
    """One of benchmarks/bench_drizzled.py's fields (512², 180 stars drawn, isolated, pixfrac 1)."""
    truth = _truth(side, scale, 180, seed_truth + 100 * field)
    return make_drizzled(truth, det, "F200W", shape=(512, 512), out_scale=scale, pixfrac=1.0, exptime=500.0, sky=sky,
                         seed=seed + 100 * field, name=f"cv_{field}")


def test_the_epsf_error_is_cross_validated_and_the_pulls_follow(tmp_path):
    """The ePSF's own position error, cross-validated between halves of its stars, is its error against
    the truth, and with it both paths' pulls are right at SNR 100-300 (NIRCam F200W i2d, pixfrac 1, three
    of the bench's fields pooled, ~110 stars). Before: a parametric bootstrap (white noise added to the
    stars' stamps) read 0.0078 px where the truth shows 0.013-0.016 px, and the windowed-minus-PSF
    excess it left was given to the windowed centroids: PSF pulls 1.51, windowed 0.76."""
    from astropy.table import vstack
    from scipy.spatial import cKDTree

    cats, truths, estimates, excess2 = [], [], [], []
    for field in range(3):
        product = _bench_like_field("NIRCAM/SW", 0.031, 14.5, 0.2, 5, 3, field)
        (tmp_path / str(field)).mkdir()
        cat = _extract(product, tmp_path / str(field))
        assert cat.meta["psf_source"] == "epsf"
        estimates.append(cat.meta["epsf_error_pix"])
        ny, nx = product.sci.shape
        t = product.truth
        t = t[(np.asarray(t["kind"]).astype(str) == "star") & (t["x"] > 15) & (t["y"] > 15) & (t["x"] < nx - 16)
              & (t["y"] < ny - 16)]
        d, i = cKDTree(np.c_[cat["x"], cat["y"]]).query(np.c_[t["x"], t["y"]])
        c, tm = cat[i[d < 1]], t[d < 1]
        bright = ((np.asarray(tm["snr"]) > 100) & (np.asarray(c["flags"]) == 0)
                  & np.isfinite(np.asarray(c["x_psf"], float)))
        e = np.r_[c["x_psf"][bright] - tm["x"][bright], c["y_psf"][bright] - tm["y"][bright]]
        # the truth's excess of the PSF fit over its noise (the exposures' bound times the product's
        # position correlation factor, ~1.3) and the drizzle's floor: the ePSF's own error
        noise2 = (np.r_[tm["crb_x"][bright], tm["crb_y"][bright]] * 1.3) ** 2
        excess2.append(np.mean(e**2) - np.mean(noise2) - cat.meta["drizzle_floor"]["psf_pix"] ** 2)
        cat = cat.copy()
        for col in ("x", "x_win", "x_psf"):
            cat[col] = cat[col] + 1e5 * field
        t = t.copy()
        t["x"] = t["x"] + 1e5 * field
        cat.meta, t.meta = {}, {}
        cats.append(cat)
        truths.append(t)
    estimate = float(np.sqrt(np.mean(np.square(estimates))))
    truth_excess = float(np.sqrt(max(np.mean(excess2), 0.0)))
    assert 0.7 * truth_excess < estimate < 1.4 * truth_excess, (estimates, truth_excess)
    rows = score_catalog(vstack(cats, metadata_conflicts="silent"), vstack(truths, metadata_conflicts="silent"))
    bright = rows[-1]
    assert bright["n"] >= 90 and bright["n_fit"] >= 90, bright
    # PSF path: 0.80 on these three fields (the ePSF error, with the windowed-minus-PSF excess the
    # windowed centroids' forward model does not explain, is conservative in field 1: 0.013 px against the
    # truth's 0.009), 1.04 on the bench's five; the old bootstrap gave 1.51
    assert 0.75 <= bright["pull_fit"] <= 1.15, bright
    assert 0.85 <= bright["pull_windowed"] <= 1.15, bright
    # the catalog keeps the better estimator: here the windowed centroid (1.3x the bound, the ePSF 2.7x)
    assert bright["catalog_over_crb"] < 0.7 * bright["fit_over_crb"], bright


@pytest.fixture(scope="module")
def acs_wide(tmp_path_factory):
    """ACS/WFC F814W drc at its native scale, pixfrac 0.8, a 1024² field of 510 isolated stars (>= 150
    matched per SNR bin: the std of a pull std from n values is ~1/sqrt(2n), ±5.7 % at 150), extracted
    with defaults."""
    truth = _truth(46.0, 0.05, 760, 21)
    product = make_drizzled(truth, "ACS/WFC", "F814W", shape=(1024, 1024), out_scale=0.05, pixfrac=0.8,
                            exptime=500.0, sky=0.08, seed=22, name="tb_wide")
    cat, rows = _scores(product, tmp_path_factory.mktemp("wide"))
    return product, cat, rows


def test_errors_are_calibrated_on_a_pixfrac_08_drc(acs_wide):
    """#13's pull target, both paths, every SNR bin, at pixfrac 0.8 (before helpers.sources.redrizzle:
    PSF pulls 1.18 / 1.92 and windowed 1.39 / 2.74 at SNR 30-100 / 100-300; measured 0.98 / 1.03 / 0.92
    (PSF) and 0.97 / 1.02 / 0.92 (windowed) at SNR 10-30 / 30-100 / 100-300. The last bin read 0.897 /
    0.900 while the floor re-drizzled square pixels, not ACS/WFC's skewed SIAF shape)."""
    _, cat, rows = acs_wide
    assert cat.meta["drizzle"]["pixfrac"] == 0.8
    for row in rows:
        assert row["n"] >= 150 and row["n_fit"] >= 0.9 * row["n"], row
    for row in rows:
        assert 0.9 <= row["pull_fit"] <= 1.1, row  # the PSF path on every fitted star
        assert 0.9 <= row["pull_windowed"] <= 1.1, row


def test_the_drizzle_floor_is_the_scatter_a_mean_psf_cannot_remove(acs_wide):
    """The floor measured by re-drizzling the library PSF (no truth) is the bright stars' PSF-fit scatter
    beyond the exposures' bound, measured against the truth: 0.017 px against a floor of 0.0179 px
    (SNR 100-300, pixfrac 0.8). A single mean PSF cannot follow each star's phases on the input grids,
    so this is a limit of any estimator with one PSF on the product: 2.5x the bound at SNR 100-300."""
    _, cat, rows = acs_wide
    bright = rows[-1]
    excess = np.sqrt(bright["psf_rms_pix"] ** 2 - bright["crb_rms_pix"] ** 2)
    assert excess == pytest.approx(cat.meta["drizzle_floor"]["psf_pix"], rel=0.25)
    assert bright["psf_over_crb"] > 1.8  # the limit is real: the strict xfail below holds the target


@pytest.mark.xfail(strict=True, reason="issue #13's scatter target is not reachable by a mean-PSF estimator on "
                   "the product alone: PSF-fit scatter (every fitted star) 1.36 / 2.79x the exposures' bound at SNR "
                   "30-100 / 100-300 (ACS pixfrac 0.8; 1.30 / 2.48x at 0.6; NIRCam 1.37 / 3.38x at 0.8, 1.24 / 2.99x "
                   "at 0.6), which the re-drizzled PSF measures as the drizzle's own 0.017-0.020 px "
                   "(helpers.sources.redrizzle): physics, the drizzle's phase error; at pixfrac 1 ACS is 1.12 / "
                   "1.37x and NIRCam 1.06 / 1.99x, where the ePSF's own (cross-validated) error is 0.009-0.012 px "
                   "from 40-60 stars, so the catalog keeps the windowed centroid (1.26x at SNR 100-300). Pulls "
                   "(ACS and NIRCam at pixfrac 1 / 0.8 / 0.6, 36 bins): 35 in 0.9-1.1; outside: NIRCam pixfrac 1 "
                   "PSF 1.14 at SNR 100-300 (benchmarks/bench_drizzled.py, 5 fields per case; re-drizzling the "
                   "detectors' SIAF pixel shape at the PA_APER angle brought ACS pixfrac 0.6 from 0.87 / 0.82 to "
                   "0.95 / 0.91 and NIRCam pixfrac 0.8 PSF from 1.11 to 1.05)")
@pytest.mark.parametrize("which", ["acs_wide", "nircam"])
def test_issue_13_target_on_the_drizzled_products(which, request, tmp_path):
    """#13: PSF-fit scatter ≤ 1.15× the exposures' bound at SNR 10–300, pulls 0.9–1.1 in every bin."""
    fixture = request.getfixturevalue(which)
    rows = fixture[2] if which == "acs_wide" else _scores(fixture, tmp_path)[1]
    for row in rows:
        assert row["fit_over_crb"] <= 1.15, row
        assert 0.9 <= row["pull_fit"] <= 1.1 and 0.9 <= row["pull_windowed"] <= 1.1, row


def test_unsigned_dq_stored_with_bzero_is_read_tile_by_tile(nircam, tmp_path):
    """JWST cal/i2d and HST flt write DQ as unsigned integers, which FITS stores as signed ones with
    BZERO; astropy refuses to memory-map scaled data. The DQ is read unscaled and offset by hand, on
    the whole-image path and the tiled one, and its high bits survive the offset."""
    from helpers.sources import extract_sources_fits

    path = nircam.writeto(tmp_path / "tb_nrc_i2d.fits")
    ny, nx = nircam.sci.shape
    dq = np.zeros((ny, nx), np.uint32)
    dq[100:110, 200:210] = 1  # DO_NOT_USE: masked
    dq[300:320, 50:60] = np.uint32(2**31)  # a high bit only (JWST 'REFERENCE_PIXEL' is 2**31): not masked
    with fits.open(path) as hdul:
        hdul.append(fits.ImageHDU(dq, name="DQ"))
        hdul.writeto(tmp_path / "with_dq.fits")
    with fits.open(tmp_path / "with_dq.fits", memmap=True) as hdul:
        assert hdul["DQ"].header["BZERO"] == 2**31  # the layout that crashed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = extract_sources_fits(tmp_path / "with_dq.fits", use_psf_fit=False)
        tiled = extract_sources_fits(tmp_path / "with_dq.fits", use_psf_fit=False, tile_size=256)
    assert whole.meta["dq_masked_pixels"] == 100
    assert len(whole) > 100 and abs(len(tiled) - len(whole)) <= 2
    near = (np.abs(whole["x"] - 205) < 8) & (np.abs(whole["y"] - 105) < 8)
    assert np.all(np.asarray(whole["flags"])[near] & 8)  # sources on the masked pixels are flagged masked
