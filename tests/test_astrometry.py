"""helpers.astrometry: matching, transform fit, bootstrap, verdict bands, consequence model, bad input."""

import json
import math

import numpy as np
import pytest
from astropy.table import Table

from helpers import astrometry as ast
from helpers.errors import WorkbookError


def _field(n=600, seed=0, size_deg=0.05, ra0=53.16, dec0=-27.79):
    rng = np.random.default_rng(seed)
    return Table({"ra": ra0 + rng.uniform(-size_deg / 2, size_deg / 2, n) / math.cos(math.radians(dec0)),
                  "dec": dec0 + rng.uniform(-size_deg / 2, size_deg / 2, n)}, meta={"epoch": 2010.0})


def _jitter(t, sigma, seed, shift_mas=(0.0, 0.0)):
    rng = np.random.default_rng(seed)
    out = t.copy()
    cosd = np.cos(np.radians(np.asarray(t["dec"])))
    out["ra"] = np.asarray(t["ra"]) + (rng.normal(0, sigma, len(t)) + shift_mas[0]) / 3.6e6 / cosd
    out["dec"] = np.asarray(t["dec"]) + (rng.normal(0, sigma, len(t)) + shift_mas[1]) / 3.6e6
    return out


def one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.strip(), msg
    return msg


# ----------------------------------------------------------------------------- matching and fit
def test_match_is_one_to_one_and_respects_max_sep():
    a = _field(500)
    b = _jitter(a, 20.0, 1)
    b.add_row({"ra": a["ra"][0] + 0.05 / 3600, "dec": a["dec"][0]})  # a second candidate near source 0
    pairs = ast.match(a, b, max_sep=0.3)
    assert len(set(pairs["idx_cat"])) == len(pairs) == len(set(pairs["idx_ref"]))
    assert np.all(pairs["sep"] <= 300.0)
    assert len(pairs) >= 495


def test_fit_recovers_known_shift_rotation_scale():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-9e4, 9e4, 2000), rng.uniform(-9e4, 9e4, 2000)
    th, s = math.radians(30.0 / 3600), 1 + 80e-6  # 30" x 90" = 13 mas at the edge
    xr = s * (math.cos(th) * x - math.sin(th) * y) + 25.0 + rng.normal(0, 3, x.size)
    yr = s * (math.sin(th) * x + math.cos(th) * y) - 12.0 + rng.normal(0, 3, x.size)
    xr[:20] += 500.0  # outliers are clipped
    t, dx, dy, used = ast.fit_transform(x, y, xr, yr, fit="shift+rotation+scale")
    assert t.shift_mas == pytest.approx((25.0, -12.0), abs=0.3)
    assert t.rotation_arcsec == pytest.approx(30.0, abs=0.6)  # 3 sigma of 3 mas / (73" sqrt(2000))
    assert t.scale_ppm == pytest.approx(80.0, abs=3.0)
    assert not used[:20].any() and used[20:].mean() > 0.99
    assert ast.robust_sigma(dx[used]) == pytest.approx(3.0, rel=0.08)
    t6, *_ = ast.fit_transform(x, y, xr, yr, fit="affine")
    assert t6.rotation_arcsec == pytest.approx(30.0, abs=0.8)


def test_compare_reports_per_axis_radial_and_intervals():
    a = _field(2000)
    rng_sig = (4.0, 8.0)  # different scatter per axis
    rng = np.random.default_rng(5)
    b = a.copy()
    cosd = np.cos(np.radians(np.asarray(a["dec"])))
    b["ra"] = np.asarray(a["ra"]) + rng.normal(0, rng_sig[0], len(a)) / 3.6e6 / cosd
    b["dec"] = np.asarray(a["dec"]) + rng.normal(0, rng_sig[1], len(a)) / 3.6e6
    res = ast.compare_catalogs(b, a, ref_err=None)
    assert res.sigma_diff == pytest.approx(rng_sig, rel=0.08)
    for (lo, hi), s in zip(res.sigma_diff_ci, res.sigma_diff):
        assert lo < s < hi
    assert res.p90_diff_ci[0] < res.p90_diff < res.p90_diff_ci[1]
    assert res.sigma_cat is None and res.cat_method == "upper bound"
    assert res.n_pairs >= 1990
    assert "sigma_E" in res.report()
    summary = json.loads(json.dumps(res.summary()))
    assert summary["n_pairs"] == res.n_pairs


def test_bootstrap_counts_trick_equals_plain_resampling():
    rng = np.random.default_rng(0)
    a, b = np.abs(rng.normal(size=501)), rng.uniform(size=501)
    fast = ast._bootstrap_order_stats([a, b], [0.5, 0.9], 30, seed=4)
    draws = np.random.default_rng(4)
    for k in range(30):
        idx = draws.integers(0, a.size, a.size)
        assert fast[0, k] == pytest.approx(np.quantile(a[idx], 0.5))
        assert fast[1, k] == pytest.approx(np.quantile(b[idx], 0.9))


def test_bootstrap_interval_covers_truth_about_95_percent():
    hits = 0
    for seed in range(40):
        x = np.random.default_rng(seed).normal(0, 5.0, 300)
        boot = ast._bootstrap_order_stats([np.abs(x - np.median(x))], [0.5], 200, seed) * ast.MAD_TO_SIGMA
        lo, hi = ast._ci(boot[0])
        hits += lo <= 5.0 <= hi
    assert 33 <= hits <= 40


def test_propagate_reference_moves_stars_and_grows_errors():
    g = Table({"source_id": [1, 2], "ra": [53.0, 53.0], "dec": [-27.0, -27.0], "ra_error": [0.5, 0.5],
               "dec_error": [0.5, 0.5], "pmra": [10.0, np.nan], "pmdec": [-5.0, np.nan],
               "pmra_error": [0.5, np.nan], "pmdec_error": [0.5, np.nan], "ref_epoch": [2016.0, 2016.0]})
    p = ast.propagate_reference(g, 2005.0)
    x, y = ast.tangent_plane_mas(p["ra"], p["dec"], 53.0, -27.0)
    assert x[0] == pytest.approx(-110.0, abs=0.01) and y[0] == pytest.approx(55.0, abs=0.01)
    assert p["ra_err"][0] == pytest.approx(math.hypot(0.5, 5.5), rel=1e-6)  # REFERENCE: G=20 ~6.5 mas at 2005
    assert not p["pm_ok"][1] and np.isnan(p["ra_err"][1])
    assert p.meta["n_without_pm"] == 1 and "pmra_applied" in p.colnames


def test_three_cornered_hat_separates_unequal_catalogs():
    base = _field(3000, seed=9, size_deg=0.08)
    cats = [_jitter(base, s, k) for k, s in enumerate((3.0, 6.0, 12.0))]
    hat = ast.three_cornered_hat(cats, labels=["a", "b", "c"], max_sep=0.3, n_boot=100)
    for lab, s in zip("abc", (3.0, 6.0, 12.0)):
        assert hat["sigma_1d"][lab] == pytest.approx(s, abs=max(0.1 * s, 0.5))
        lo, hi = hat["sigma_1d_ci"][lab]
        assert lo < hat["sigma_1d"][lab] < hi


def test_error_budget_reports_snr_table():
    t = Table({"ra_err": [2.0, 4.0, 20.0], "dec_err": [2.0, 4.0, 20.0], "snr": [300.0, 50.0, 5.0]})
    b = ast.error_budget(t, n_boot=50)
    assert b["by_snr"]["n"].sum() == 3
    assert b["frac_le_5"] == pytest.approx(2 / 3)
    assert ast.error_budget(t, calibration=2.0, n_boot=0)["sigma_1d"] == pytest.approx(2 * b["sigma_1d"])


def test_patch_map_counts_patches():
    rng = np.random.default_rng(1)
    t = Table({"xi": rng.uniform(0, 9e4, 900), "eta": rng.uniform(0, 6e4, 900), "dx": rng.normal(0, 3, 900),
               "dy": rng.normal(0, 3, 900)})
    p = ast.patch_map(t, patch_arcsec=30)
    assert len(p) == 6 and p["n"].sum() == 900


# ----------------------------------------------------------------------------- verdict
@pytest.mark.parametrize("sigma,band", [(0.0, "optimal"), (5.0, "optimal"), (5.01, "meets 5-10 mas"),
                                        (10.0, "meets 5-10 mas"), (10.5, "marginal"), (20.0, "marginal"),
                                        (20.1, "degraded"), (50.0, "degraded"), (50.1, "SDSS-like or worse"),
                                        (300.0, "SDSS-like or worse")])
def test_verdict_bands_match_reference(sigma, band):
    v = ast.verdict(sigma, 30)
    assert v.band == band
    assert "\n" not in v.sentence and v.sentence.endswith(".")


def test_verdict_needs_thirty_pairs_but_still_reports_value():
    v = ast.verdict(4.0, 29, ci=(3.1, 5.2))
    assert v.band == "not verifiable"
    assert "4.0 mas" in v.sentence and "29" in v.sentence
    v2 = ast.verdict((4.0, 9.0), 100, ci=(8.0, 11.0))  # the worse axis is judged; interval straddles a band edge
    assert v2.band == "meets 5-10 mas" and "spans" in v2.sentence


def test_combine_methods_flags_disagreement():
    ok = ast.combine_methods({"a": {"sigma": 7.0, "ci": (6.0, 8.0), "n": 300},
                              "b": {"sigma": 7.5, "ci": (6.5, 8.5), "n": 500},
                              "c": {"sigma": 6.8, "ci": (5.5, 8.1), "n": 100}})
    assert ok["agree"] and ok["backed"] and ok["n_methods"] == 3 and ok["n_pairs"] == 500
    bad = ast.combine_methods({"a": {"sigma": 7.0, "ci": (6.8, 7.2), "n": 300},
                               "b": {"sigma": 20.0, "ci": (19.0, 21.0), "n": 300}})
    assert not bad["agree"] and bad["outliers"] and not bad["backed"]
    # one failing method is set aside, the three that agree carry the verdict
    three = ast.combine_methods({"a": {"sigma": 7.0, "ci": (6.5, 7.5), "n": 300},
                                 "b": {"sigma": 7.4, "ci": (6.6, 8.2), "n": 300},
                                 "c": {"sigma": 6.8, "ci": (6.0, 7.6), "n": 300},
                                 "d": {"sigma": 2.0, "ci": (1.8, 2.2), "n": 900}})
    assert three["outliers"] == ["d"] and three["backed"] and 6.5 < three["sigma"] < 7.5


# ----------------------------------------------------------------------------- consequence
def test_slit_throughput_model_is_sane():
    grid = ast.slit_throughput_grid((1.0, 5.0))
    thr = grid["throughput"]
    iy, ix = np.argmin(np.abs(grid["dy"])), np.argmin(np.abs(grid["dx"]))
    centred = thr[:, iy, ix]
    assert 0.8 < centred[0] < 0.95 and 0.5 < centred[1] < centred[0]  # more diffraction loss at 5 um
    assert thr[0].max() == pytest.approx(centred[0], abs=2e-3)  # best when centred
    assert np.allclose(thr[0], thr[0][::-1, ::-1], atol=0.02)  # nearly symmetric PSF
    # a point source on the dispersion-direction edge loses about half of its light
    ie = np.argmin(np.abs(grid["dx"] - 0.1))
    assert 0.35 < thr[0, iy, ie] / centred[0] < 0.6


def test_consequence_degrades_with_sigma_and_marks_zones():
    c = ast.slit_throughput_consequence([1.0, 10.0, 50.0, 100.0], n_mc=4000)
    rel = c["relative_mean"]
    assert np.all(np.diff(rel, axis=1) < 0)
    assert c["sigma_ta_mas"][1] == pytest.approx(20.0, abs=1.0)  # ~20 mas MSATA for a 5-10 mas catalog
    zones = c["zone_probability"]
    names = list(zones)
    assert zones[names[0]][0] > zones[names[-1]][0]  # tighter zones are harder to stay in
    assert zones["Unconstrained"][0] > 0.99
    p = ast.zone_probabilities([5.0, 50.0], [5.0, 50.0], planned="uniform")
    assert p["Constrained"][0] > p["Constrained"][1]


def test_centering_constraints_come_from_one_table():
    zones = ast.centering_constraints()
    assert list(zones)[0] == "Unconstrained"
    # the zones notebook 03 shows are the ones msa counts with: margins inset from the pitch
    assert zones["Tightly Constrained"][0] == pytest.approx(0.2679 / 2 - 0.091, abs=1e-6)
    assert zones["Tightly Constrained"][1] == pytest.approx(0.5294 / 2 - 0.091, abs=1e-6)
    from helpers import msa
    assert [(n, x, y) for n, x, y, _ in msa.CENTERING_CONSTRAINTS] == [(n, *v) for n, v in zones.items()]


# ----------------------------------------------------------------------------- bad input
def test_no_overlap_is_one_line_error():
    a, b = _field(100), _field(100, ra0=54.0)
    with pytest.raises(WorkbookError) as e:
        ast.compare_catalogs(a, b)
    assert "do not overlap" in one_line(e)


def test_few_pairs_still_measure_but_are_not_verifiable():
    a = _field(20)
    res = ast.compare_catalogs(_jitter(a, 5.0, 1), a, ref_err=None, n_boot=50)
    assert res.n_pairs == 20
    assert res.verdict.band == "not verifiable"
    assert res.sigma_diff_1d > 0


def test_missing_epoch_for_proper_motion_reference_is_asked_for():
    a = _field(100)
    a.meta.clear()
    g = a.copy()
    g["pmra"], g["pmdec"] = 1.0, 1.0
    g["ref_epoch"] = 2016.0
    with pytest.raises(WorkbookError) as e:
        ast.compare_catalogs(a, g)
    assert "epoch" in one_line(e) and "pass epoch=" in str(e.value)
    ast.compare_catalogs(a, g, epoch=2016.0, n_boot=10)  # given the epoch, it works


def test_pm_reference_without_reference_epoch_is_asked_for():
    g = _field(50)
    g.meta.clear()
    g["pmra"], g["pmdec"] = 1.0, 1.0
    with pytest.raises(WorkbookError) as e:
        ast.propagate_reference(g, 2010.0)
    assert "ref_epoch" in one_line(e)


def test_misaligned_catalogs_are_aligned_automatically_or_refused_with_align_false():
    a = _field(4000, size_deg=0.03)
    b = _jitter(a, 5.0, 2, shift_mas=(1500.0, 800.0))  # misaligned by ~1.7", dense field
    with pytest.raises(WorkbookError) as e:
        ast.compare_catalogs(b, a, max_sep=0.5, align=False)
    assert "pre-align" in one_line(e)
    res = ast.compare_catalogs(b, a, max_sep=0.5, ref_err=None, n_boot=20)
    al = res.alignment
    assert al is not None and any(n.startswith("coarse alignment:") for n in res.notes)
    # catalog b is moved onto a: the shift is minus the injected one (small field: rotation/scale ~ 0)
    assert (al.shift_east_mas, al.shift_north_mas) == pytest.approx((-1500.0, -800.0), abs=5 * al.shift_err_mas + 1)
    assert res.sigma_diff_1d == pytest.approx(5.0, rel=0.1)
    off = ast.coarse_offset(b, a)
    assert off == pytest.approx((1500.0, 800.0), abs=40.0)
    res = ast.compare_catalogs(b, a, max_sep=0.5, offset_mas=off, ref_err=None, n_boot=20)
    assert res.alignment is None and res.sigma_diff_1d == pytest.approx(5.0, rel=0.1)


def test_nan_positions_are_refused_or_dropped():
    a = _field(200)
    b = _jitter(a, 5.0, 3)
    b["ra"][[3, 7]] = np.nan
    with pytest.raises(WorkbookError) as e:
        ast.compare_catalogs(b, a)
    assert "NaN" in one_line(e) and "drop_nan=True" in str(e.value)
    res = ast.compare_catalogs(b, a, drop_nan=True, ref_err=None, n_boot=10)
    assert res.n_matched == 198


@pytest.mark.parametrize("call,needle", [
    (lambda a: ast.compare_catalogs(a, a, fit="cubic"), "fit="),
    (lambda a: ast.compare_catalogs(a, a, max_sep=-1), "max_sep"),
    (lambda a: ast.match(a, Table({"x": [1.0]})), "ra/dec"),
    (lambda a: ast.three_cornered_hat([a, a]), "exactly 3"),
    (lambda a: ast.verdict(float("nan"), 100), "sigma_mas"),
    (lambda a: ast.error_budget(a), "ra_err"),
    (lambda a: ast.match(Table({"ra": a["ra"], "dec": a["dec"]}, meta={"frame": "fk4"}), a), "ICRS"),
])
def test_bad_parameters_are_one_line_errors(call, needle):
    with pytest.raises(WorkbookError) as e:
        call(_field(50))
    assert needle in one_line(e)


def test_injection_recovery_reports_extractor_failure():
    from astropy.wcs import WCS
    from photutils.psf import CircularGaussianPRF

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cdelt = [-1e-5, 1e-5]

    def broken(image, wcs, error=None):
        raise RuntimeError("boom")

    with pytest.raises(WorkbookError) as e:
        ast.injection_recovery(np.zeros((200, 200)) + np.random.default_rng(0).normal(size=(200, 200)), w,
                               CircularGaussianPRF(fwhm=2.5), extract=broken)
    assert "extractor failed" in one_line(e)


def test_write_summary_is_json(tmp_path):
    a = _field(100)
    res = ast.compare_catalogs(_jitter(a, 5, 1), a, ref_err=None, n_boot=20, equal=True)
    path = ast.write_summary({"result": res, "verdict": res.verdict, "arr": np.arange(3)}, tmp_path / "s.json")
    data = json.loads(path.read_text())
    assert data["result"]["n_pairs"] == 100 and data["verdict"]["band"] == "not verifiable" or data["verdict"]


# ----------------------------------------------------------------------------- notebook plumbing
def _kinds_catalog(n=1200, seed=0, epoch=2004.8, sigma=4.0, pm=0.0):
    base = _field(n, seed=11, size_deg=0.06)
    rng = np.random.default_rng(seed)
    kind = np.where(np.arange(n) % 2 == 0, "point", "extended")
    moving = (kind == "point") * pm * (epoch - 2004.8)  # stars drift, galaxies do not
    t = _jitter(base, sigma, seed, shift_mas=(0.0, 0.0))
    t["ra"] = np.asarray(t["ra"]) + moving * rng.normal(0, 1, n) / 3.6e6
    t["kind"] = kind
    t["ra_err"] = t["dec_err"] = np.full(n, sigma)
    t.meta["epoch"] = epoch
    return t


def test_repeatability_compares_other_epochs_on_galaxies_only():
    cats = {"a": _kinds_catalog(seed=1), "b": _kinds_catalog(seed=2),
            "c": _kinds_catalog(seed=3, epoch=2023.8, pm=5.0)}  # stars moved by ~95 mas
    out = ast.repeatability(cats, "a", n_boot=50, max_sep=0.5)
    assert any("extended sources only" in n for n in out["notes"])
    assert out["hat"] is not None and out["estimate"]["what"] == "three-cornered hat"
    assert out["estimate"]["sigma"] == pytest.approx(4.0, rel=0.15)
    kinds = np.asarray(cats["a"]["kind"])[out["results"]["c"].pairs["idx_cat"]]
    assert set(kinds) == {"extended"}  # indices map back to the full catalog


def test_catalog_equivalent_scales_from_matched_subset():
    t = Table({"ra_err": np.r_[np.full(100, 1.0), np.full(300, 10.0)],
               "dec_err": np.r_[np.full(100, 1.0), np.full(300, 10.0)]})
    s, ci, f = ast.catalog_equivalent(2.0, (1.8, 2.2), t, np.arange(100))
    assert f == pytest.approx(float(ast._mixture_sigma(np.asarray(t["ra_err"]))), rel=1e-6)
    assert s == pytest.approx(2.0 * f) and ci[0] == pytest.approx(1.8 * f)
    assert ast.catalog_equivalent(2.0, (1.8, 2.2), Table({"ra": [1.0]}), [0])[2] == 1.0


def test_select_gaia_and_hsc_reference():
    g = Table({"ra": [1.0, 1.0, 1.0], "dec": [0.0, 0.0, 0.0], "pmra": [1.0, np.nan, 1.0], "pmdec": [1.0, np.nan, 1.0],
               "ruwe": [1.0, 1.0, 2.5]})
    usable, why = ast.select_gaia(g)
    assert len(usable) == 1 and sum(why.values()) == 2
    h = Table({"MatchRA": [1.0, np.nan], "MatchDec": [0.0, 0.0], "DSigma": [8.0, 8.0], "NumImages": [4, 4]})
    ref = ast.hsc_reference(h)
    assert len(ref) == 1 and ref["ra_err"][0] == pytest.approx(8.0 / np.sqrt(3))  # error of the mean of 4 (#15)
    with pytest.raises(WorkbookError) as e:
        ast.hsc_reference(Table({"x": [1.0]}))
    one_line(e)


def test_injection_sigma_model_fits_known_curve():
    rng = np.random.default_rng(0)
    snr = 10 ** rng.uniform(0.7, 2.7, 3000)
    sig = np.hypot(60.0 / snr, 1.5)
    stars = Table({"recovered": np.ones(3000, bool), "snr_inj": snr, "dx_mas": rng.normal(0, 1, 3000) * sig,
                   "dy_mas": rng.normal(0, 1, 3000) * sig})
    model = ast.injection_sigma_model({"stars": stars}, n_boot=20)
    assert model["a"] == pytest.approx(60.0, rel=0.08) and model["b"] == pytest.approx(1.5, rel=0.2)
    s, ci = ast.predicted_catalog_sigma(model, [20.0] * 50)
    assert s == pytest.approx(math.hypot(3.0, 1.5), rel=0.08) and ci[0] <= s <= ci[1]


def test_load_inputs_reports_what_is_missing(tmp_path):
    from helpers import config

    cfg = config.create_field("t-ast", ra=53.16, dec=-27.79, workspace_root=tmp_path)
    with pytest.raises(WorkbookError) as e:
        ast.load_inputs(cfg)
    assert "notebook 02" in one_line(e)
    c = _kinds_catalog(50)
    c.meta.update(image="img_a", instrument="ACS/WFC", filter="F814W")
    c.write(cfg.subdir("catalogs") / "sources_img_a.ecsv", format="ascii.ecsv")
    cfg.update(extra={"images": [{"product_id": "img_a", "path": "/nowhere/img_a_drc.fits", "rank": 1}]})
    got = ast.load_inputs(cfg)
    assert list(got["catalogs"]) == ["img_a"] and got["images"]["img_a"]["rank"] == 1
    assert got["gaia"] is None and any("gaia.ecsv absent" in m for m in got["messages"])


def test_read_image_cutout_keeps_wcs_consistent(tmp_path):
    from astropy.io import fits
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [53.16, -27.79], [200, 150], [-1e-5, 1e-5]
    data = np.arange(300 * 400, dtype=float).reshape(300, 400)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, w.to_header(), name="SCI"),
                         fits.ImageHDU(np.ones_like(data), w.to_header(), name="ERR")])
    hdus.writeto(tmp_path / "x_drc.fits")
    d, err, w2, _, (x0, y0) = ast.read_image(tmp_path / "x_drc.fits", max_size=100)
    assert d.shape == (100, 100) and err.shape == d.shape and (x0, y0) == (150, 100)
    assert d[0, 0] == data[y0, x0]
    assert np.allclose(w2.pixel_to_world_values(3, 4), w.pixel_to_world_values(x0 + 3, y0 + 4))
    with pytest.raises(WorkbookError) as e:
        ast.read_image(tmp_path / "missing.fits")
    assert "notebook 01" in one_line(e)


def test_summary_record_is_json_ready():
    est = {"1 error budget": {"sigma": 6.0, "ci": (5.5, 6.5), "n": 900, "pairs": False},
           "2 repeatability": {"sigma": 6.4, "ci": (5.9, 7.0), "n": 400}, "4 HSC v3": None}
    comb = ast.combine_methods(est)
    assert comb["n_pairs"] == 400 and comb["n_methods"] == 2 and comb["agree"] and not comb["backed"]
    rec = ast.summary_record("img", comb, est)
    assert json.loads(json.dumps(rec)) == rec
    assert rec["verdict"] == "meets 5-10 mas" and set(rec["methods"]) == {"1 error budget", "2 repeatability"}


def test_import_direction_no_matplotlib_no_msa():
    import subprocess
    import sys

    code = ("import sys, helpers.astrometry as a; a.compare_catalogs; "
            "print('matplotlib' in sys.modules, 'helpers.msa' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
