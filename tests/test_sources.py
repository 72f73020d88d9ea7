"""helpers.sources on simulated images with known truth.

Every accuracy claim (precision against the Cramér–Rao bound, pull calibration, bias, point/extended,
the bound drawn in notebook 02) is made on the drizzled test bed (issue #13: exposures drizzled by
STScI's ``drizzle`` into drc / i2d products, ``tests/conftest.py``'s ``bed_*`` fixtures), against the
exposures' Cramér–Rao bound: the information drizzling cannot add. The direct renderer
(``simulate.make_image`` without ``drizzled=True``: white noise, the true PSF supplied) stays for what
it is good at: the estimator itself under ideal conditions (said in each test's docstring), and the
schema, flags, tiling, FITS input and bad input.
"""


import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from helpers import simulate
from helpers import sources
from helpers.errors import WorkbookError

CENTER = (53.16, -27.79)
SNR_BINS = [(8, 20), (20, 60), (60, 180), (180, 450)]


@pytest.fixture(scope="module")
def sim():
    truth = simulate.make_truth(center=CENTER, size_arcsec=1536 * 0.05, n_stars=700, n_galaxies=40, n_pairs=15,
                                n_saturated=3, star_snr=(8, 450), seed=21)
    return simulate.make_image(truth, simulate.ImageSpec(shape=(1536, 1536), center=CENTER, seed=4))


@pytest.fixture(scope="module")
def cat_psf(sim):
    return sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight, psf=sim.psf)


@pytest.fixture(scope="module")
def cat_fast(sim):
    return sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight, use_psf_fit=False)


def _match(cat, truth, radius=1.0):
    tree = cKDTree(np.column_stack([cat["x"], cat["y"]]))
    d, j = tree.query(np.column_stack([truth["x"], truth["y"]]))
    return d < radius, j


def _isolated_stars(cat, sim):
    m, j = _match(cat, sim.truth)
    kind = np.asarray(sim.truth["kind"]).astype(str)
    sel = m & (kind == "star")
    c = cat[j[sel]]
    t = sim.truth[sel]
    # Unflagged and point-like: an unresolved blend of two stars (a few per image by chance
    # alignment) looks extended and is not an isolated star.
    clean = (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]) == "point")
    return c[clean], t[clean]


def _stats(c, t, xcol="x", ycol="y", excol="x_err", eycol="y_err"):
    out = []
    snr = np.asarray(t["snr"])
    for lo, hi in SNR_BINS:
        b = (snr >= lo) & (snr < hi)
        dx = np.asarray(c[xcol] - t["x"])[b]
        dy = np.asarray(c[ycol] - t["y"])[b]
        ratio = np.sqrt((np.mean((dx / t["crb_x"][b]) ** 2) + np.mean((dy / t["crb_y"][b]) ** 2)) / 2)
        pulls = np.concatenate([dx / np.asarray(c[excol])[b], dy / np.asarray(c[eycol])[b]])
        out.append(dict(n=int(b.sum()), ratio=float(ratio), pull=float(np.std(pulls)), bias_x=float(np.mean(dx)),
                        bias_y=float(np.mean(dy))))
    return out


def test_schema_units_and_meta(cat_psf):
    for col in sources.SCHEMA:
        assert col in cat_psf.colnames
    assert list(cat_psf["id"]) == list(range(1, len(cat_psf) + 1))
    assert str(cat_psf["x"].unit) == "pix" and str(cat_psf["ra_err"].unit) == "mas" and str(cat_psf["ra"].unit) == "deg"
    assert set(np.unique(cat_psf["kind"])) <= {"point", "extended"}  # no cosmic rays here: no "artifact"
    assert set(np.unique(cat_psf["method"])) <= {"psf", "windowed"}
    assert "0-based" in cat_psf.meta["pixel_convention"]
    assert cat_psf.meta["fwhm_pix"] == pytest.approx(1.98, abs=0.05)


def test_psf_fit_precision_reaches_cramer_rao(cat_psf, sim):
    """The PSF fit itself under ideal conditions (white noise, the true PSF supplied): it reaches the
    bound in every SNR bin. On real-like products: test_bed_psf_fit_reaches_the_exposures_bound."""
    c, t = _isolated_stars(cat_psf, sim)
    assert np.mean(c["method"] == "psf") > 0.6
    for (lo, hi), s in zip(SNR_BINS, _stats(c, t)):
        assert s["n"] >= 60, (lo, hi, s)
        assert s["ratio"] <= 1.12, (lo, hi, s)  # benchmark: <= 1.1 on larger samples


def test_pulls_calibrated_per_snr_bin(cat_psf, sim):
    """The PSF fit's error model itself, ideal conditions (white noise, true PSF). On real-like
    products: test_bed_pulls_calibrated_per_snr_bin."""
    c, t = _isolated_stars(cat_psf, sim)
    for (lo, hi), s in zip(SNR_BINS, _stats(c, t)):
        assert 0.88 <= s["pull"] <= 1.12, (lo, hi, s)


def test_bias_isolated_stars(cat_psf, sim):
    """The PSF fit itself, ideal conditions (the true PSF). On real-like products: test_bed_bias_isolated_stars."""
    c, t = _isolated_stars(cat_psf, sim)
    bright = np.asarray(t["snr"]) > 20
    assert abs(np.mean(c["x"][bright] - t["x"][bright])) <= 0.01
    assert abs(np.mean(c["y"][bright] - t["y"][bright])) <= 0.01


def test_windowed_fast_path_errors_are_calibrated(cat_fast, sim):
    """The windowed centroid's error formula itself on white noise. On real-like products:
    test_bed_pulls_calibrated_per_snr_bin[*-fast-*]."""
    assert set(np.unique(cat_fast["method"])) == {"windowed"}
    c, t = _isolated_stars(cat_fast, sim)
    for (lo, hi), s in zip(SNR_BINS, _stats(c, t)):
        assert 0.85 <= s["pull"] <= 1.15, (lo, hi, s)


def test_sky_errors_follow_pixel_errors(cat_psf, sim):
    scale_mas = 50.0  # ACS/WFC default 0.05"/px, no rotation
    np.testing.assert_allclose(cat_psf["ra_err"], cat_psf["x_err"] * scale_mas, rtol=1e-3)
    np.testing.assert_allclose(cat_psf["dec_err"], cat_psf["y_err"] * scale_mas, rtol=1e-3)
    ra, dec = sim.wcs.pixel_to_world_values(cat_psf["x"][:5], cat_psf["y"][:5])
    np.testing.assert_allclose(cat_psf["ra"][:5], ra)
    np.testing.assert_allclose(cat_psf["dec"][:5], dec)


def test_flags_saturated_pairs_edge_and_mask(sim, cat_psf):
    truth = sim.truth
    m, j = _match(cat_psf, truth, radius=1.5)
    sat = m & np.asarray(truth["saturated"])
    assert sat.sum() >= 1
    assert np.all(cat_psf["flags"][j[sat]] & sources.FLAG_SATURATED)
    # no unsaturated isolated star is flagged saturated
    kind = np.asarray(truth["kind"]).astype(str)
    stars = m & (kind == "star") & ~np.asarray(truth["saturated"])
    assert np.mean(cat_psf["flags"][j[stars]] & sources.FLAG_SATURATED) < 0.01
    # close pairs (< 1.5 FWHM) that were split are flagged as blended
    close = cat_psf["nn_dist"] < 1.5 * cat_psf.meta["fwhm_pix"]
    assert np.all(cat_psf["flags"][close] & sources.FLAG_BLENDED)
    # a masked box: sources inside get flag 8
    mask = np.zeros(sim.data.shape, bool)
    mask[600:700, 600:700] = True
    cat_m = sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight, mask=mask,
                                    use_psf_fit=False)
    near = (cat_m["x"] > 597) & (cat_m["x"] < 703) & (cat_m["y"] > 597) & (cat_m["y"] < 703)
    assert np.all(cat_m["flags"][near] & sources.FLAG_MASKED)
    # sources near the zero-weight border are flagged edge
    border = min(int(0.004 * 1536), 10)
    at_edge = (cat_psf["x"] < border + 2) | (cat_psf["y"] < border + 2)
    assert np.all(cat_psf["flags"][at_edge] & sources.FLAG_EDGE)


def test_point_and_extended(cat_psf, sim):
    """The classifier with the true PSF, ideal conditions. On real-like products: test_bed_point_and_extended."""
    truth = sim.truth
    m, j = _match(cat_psf, truth, radius=1.5)
    kind = np.asarray(truth["kind"]).astype(str)
    gal = m & (kind == "galaxy")
    stars = m & (kind == "star") & (np.asarray(truth["snr"]) > 20)
    assert np.mean(cat_psf["kind"][j[stars]] == "point") > 0.95
    assert np.mean(cat_psf["kind"][j[gal]] == "extended") > 0.8


def test_tiles_join_without_duplicates_or_losses(sim, cat_fast):
    tiled = sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight, use_psf_fit=False,
                                    tile_size=512, tile_overlap=64, progress=False)
    assert tiled.meta["n_tiles"] == 9
    good = cat_fast["snr"] > 10
    tree = cKDTree(np.column_stack([tiled["x"], tiled["y"]]))
    d, _ = tree.query(np.column_stack([cat_fast["x"][good], cat_fast["y"][good]]))
    assert np.mean(d < 0.05) > 0.98  # no losses
    assert abs(len(tiled) - len(cat_fast)) <= 0.01 * len(cat_fast)
    pairs = tree.query_pairs(0.5)
    assert len(pairs) == 0  # no duplicates from the overlaps


def test_huge_image_is_tiled_automatically(sim):
    cat = sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight, use_psf_fit=False,
                                  auto_tile_pixels=1000 * 1000, progress=False)
    assert cat.meta["n_tiles"] == 1  # default tile 4096 > image
    cat = sources.extract_sources(sim.data[:1200, :1200], sim.wcs, use_psf_fit=False, auto_tile_pixels=1000 * 1000,
                                  tile_size=None, progress=False)
    assert cat.meta["tile_size"] == 4096


def test_empirical_psf_path(sim):
    """The ePSF builder itself from a white-noise image (the bed's products use it by default:
    test_bed_pulls_calibrated_per_snr_bin)."""
    cat = sources.extract_sources(sim.data, sim.wcs, error=sim.error, weight=sim.weight)
    assert cat.meta["psf_model"].startswith("ePSF")
    c, t = _isolated_stars(cat, sim)
    for (lo, hi), s in zip(SNR_BINS, _stats(c, t)):
        assert 0.8 <= s["pull"] <= 1.25, (lo, hi, s)
        assert s["ratio"] <= 1.3, (lo, hi, s)


def test_fits_products_hst_and_jwst(tmp_path):
    truth = simulate.make_truth(center=CENTER, size_arcsec=40, n_stars=60, n_galaxies=10, n_pairs=0, n_saturated=0,
                                star_snr=(20, 200), seed=3)
    for spec in (simulate.ImageSpec(shape=(700, 700), center=CENTER, seed=1, name="hst_test_drc"),
                 simulate.ImageSpec(instrument="NIRCAM", filter="F277W", shape=(640, 640), center=CENTER,
                                    pixel_scale=0.063, orientat=20.0, epoch=2023.8, seed=2, chip_gap=False,
                                    name="jw_test_i2d")):
        img = simulate.make_image(truth, spec)
        path = tmp_path / f"{spec.name}.fits"
        img.writeto(path)
        cat = sources.extract_sources_fits(path, psf=img.psf)
        ref = sources.extract_sources(img.data, img.wcs, error=img.error, weight=img.weight, psf=img.psf)
        assert abs(len(cat) - len(ref)) <= 1
        assert cat.meta["instrument"] in ("ACS/WFC", "NIRCAM")
        assert cat.meta["filter"] == spec.filter
        assert cat.meta["epoch"] == pytest.approx(spec.epoch, abs=0.01)
        assert cat.meta["pixel_scale"] == pytest.approx(spec.pixel_scale or 0.05, rel=1e-3)
        tiled = sources.extract_sources_fits(path, psf=img.psf, tile_size=256, progress=False)
        assert abs(len(tiled) - len(ref)) <= 0.02 * len(ref) + 1
        out = sources.write_catalog(cat, tmp_path / f"sources_{spec.name}.ecsv")
        back = Table.read(out)
        assert back.colnames[: len(sources.SCHEMA)] == list(sources.SCHEMA)
        assert back.meta["filter"] == spec.filter


# ---------------------------------------------------------------------------------------------
# Bad input: one-line WorkbookError messages
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    truth = simulate.make_truth(center=CENTER, size_arcsec=15, n_stars=15, n_galaxies=0, n_pairs=0, n_saturated=0,
                                star_snr=(20, 100), seed=2)
    return simulate.make_image(truth, simulate.ImageSpec(shape=(256, 256), center=CENTER, seed=2))


def _one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg and ";" in msg
    return msg


def test_bad_no_celestial_wcs(small):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(small.data, None)
    assert "no WCS" in _one_line(exc)
    linear = WCS(naxis=2)
    linear.wcs.ctype = ["LINEAR", "LINEAR"]
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(small.data, linear)
    assert "celestial" in _one_line(exc)


def test_bad_not_2d(small):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(np.stack([small.data, small.data]), small.wcs)
    assert "2-D" in _one_line(exc)


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_bad_all_nan_or_zero(small, fill):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(np.full(small.data.shape, fill), small.wcs)
    assert "no valid pixels" in _one_line(exc)


def test_bad_zero_weight(small):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(small.data, small.wcs, weight=np.zeros(small.data.shape))
    assert "weight map is zero" in _one_line(exc)


def test_bad_shape_mismatch(small):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources(small.data, small.wcs, error=small.error[:10])
    assert "shape" in _one_line(exc)


def test_no_sources_gives_empty_catalog_with_warning(small):
    noise = np.random.default_rng(0).normal(0, 1, small.data.shape)
    with pytest.warns(sources.SourceExtractionWarning, match="no sources"):
        cat = sources.extract_sources(noise, small.wcs, threshold=50.0)
    assert len(cat) == 0
    for col in sources.SCHEMA:
        assert col in cat.colnames


def test_missing_fits_file(tmp_path):
    with pytest.raises(WorkbookError) as exc:
        sources.extract_sources_fits(tmp_path / "nope.fits")
    assert "does not exist" in _one_line(exc)


def test_crb_curve_matches_simulation(sim):
    """crb_curve computes the bound the simulator computes (same PSF, white noise): the formula
    itself. On real-like products: test_bed_precision_figure_bound_line."""
    t = sim.truth
    stars = (np.asarray(t["kind"]).astype(str) == "star") & (np.asarray(t["snr"]) < 30)
    predicted = sources.crb_curve(sim.psf, np.asarray(t["snr"])[stars])
    ratio = np.median(np.asarray(t["crb_x"])[stars] / predicted)
    assert 0.9 < ratio < 1.1


def test_sky_errors_through_a_rotated_wcs():
    spec = simulate.ImageSpec(shape=(200, 200), center=CENTER, pixel_scale=0.063, orientat=30.0)
    wcs = simulate._build_wcs(spec, CENTER, 0.063)
    x = np.array([100.0])
    y = np.array([100.0])
    # error along x only: splits onto RA and Dec by the rotation angle
    _, _, ra_err, dec_err = sources._sky_columns(wcs, x, y, np.array([0.1]), np.array([0.0]), np.array([0.0]))
    total = np.hypot(ra_err, dec_err)
    np.testing.assert_allclose(total, 0.1 * 63.0, rtol=1e-4)
    np.testing.assert_allclose(ra_err / total, abs(np.cos(np.radians(30.0))), rtol=1e-3)
    # isotropic errors stay isotropic
    _, _, ra_err, dec_err = sources._sky_columns(wcs, x, y, np.array([0.1]), np.array([0.1]), np.array([0.0]))
    np.testing.assert_allclose([ra_err[0], dec_err[0]], [6.3, 6.3], rtol=1e-4)


def test_field_images_skip_an_unusable_file(tmp_path, small):
    from astropy.io import fits

    from helpers import config

    cfg = config.create_field("srcfield", ra=CENTER[0], dec=CENTER[1], workspace_root=tmp_path, live=False)
    good = tmp_path / "good_drc.fits"
    small.writeto(good)
    bad = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.ones((64, 64), np.float32)).writeto(bad)
    images = [{"path": str(good), "product_id": "good", "instrument": "ACS/WFC", "filter": "F814W", "epoch": 2004.8,
               "pixel_scale": 0.05, "wcsname": "X"},
              {"path": str(bad), "product_id": "nowcs", "instrument": "ACS/WFC", "filter": "F814W", "epoch": 2004.8,
               "pixel_scale": 0.05, "wcsname": "X"}]
    cfg.update(extra={"images": images})
    found, simulated = sources.field_images(cfg)
    assert not simulated and len(found) == 2
    with pytest.warns(sources.SourceExtractionWarning, match="skipped nowcs"):
        summary, catalogs = sources.extract_field_images(cfg, found, use_psf_fit=False)
    assert list(summary["product_id"]) == ["good"]
    assert (cfg.path / "catalogs" / "sources_good.ecsv").exists()
    assert config.load_field("srcfield", tmp_path).extra["source_catalogs"][0]["product_id"] == "good"


def test_inputs_are_not_modified(small):
    data = small.data.copy()
    data[:5] = np.nan
    before = data.copy()
    err, wht = small.error.copy(), small.weight.copy()
    sources.extract_sources(data, small.wcs, error=err, weight=wht, use_psf_fit=False)
    np.testing.assert_array_equal(data, before)
    np.testing.assert_array_equal(err, small.error)
    np.testing.assert_array_equal(wht, small.weight)


def test_empirical_psf_errors_calibrated_at_high_snr_undersampled():
    """Ideal conditions (white noise; on real-like products:
    test_bed_epsf_errors_calibrated_at_high_snr_undersampled). Bright stars on an undersampled image
    (ACS/WFC F606W at 0.06"/px, FWHM ~1.6 px) fitted with the image's own ePSF: the ePSF's position error must be in the reported errors (pull std ≤ 1.15;
    it was 1.16 with the split-half estimate alone on this simulation) without inflating
    them (≥ 0.85)."""
    truth = simulate.make_truth(center=CENTER, size_arcsec=1024 * 0.06, n_stars=500, n_galaxies=30, n_pairs=0,
                                n_saturated=0, star_snr=(300, 900), seed=101)
    img = simulate.make_image(truth, simulate.ImageSpec(instrument="ACS/WFC", filter="F606W", pixel_scale=0.06,
                                                        shape=(1024, 1024), center=CENTER, seed=102))
    cat = sources.extract_sources(img.data, img.wcs, error=img.error, weight=img.weight)
    assert cat.meta["psf_model"].startswith("ePSF")
    c, t = _isolated_stars(cat, img)
    t_xy = np.column_stack([t["x"], t["y"]])
    d_nn, _ = cKDTree(np.column_stack([img.truth["x"], img.truth["y"]])).query(t_xy, k=2)
    iso = d_nn[:, 1] > 4 * img.fwhm_pix
    c, t = c[iso], t[iso]
    assert len(c) > 200
    pulls = np.concatenate([np.asarray(c["x"] - t["x"]) / np.asarray(c["x_err"]),
                            np.asarray(c["y"] - t["y"]) / np.asarray(c["y_err"])])
    assert 0.85 <= np.std(pulls) <= 1.15, np.std(pulls)


def test_flag_summary_counts_each_flag():
    from astropy.table import Table

    from helpers import sources

    cat = Table({"flags": [0, 1, 4, 5, 16, 0], "kind": ["point", "point", "extended", "point", "point", "extended"]})
    row = sources.flag_summary({"img": cat})[0]
    assert (row["sources"], row["point"], row["unflagged"]) == (6, 4, 2)
    assert (row["saturated"], row["edge"], row["blended"], row["masked"], row["psf failed"]) == (2, 0, 2, 0, 1)


# ---------------------------------------------------------------------------------------------
# Accuracy on the drizzled test bed (issue #13): products made as real ones are, extracted with
# defaults, against the exposures' Cramér–Rao bound (fixtures in tests/conftest.py)
# ---------------------------------------------------------------------------------------------
BED_SNR_BINS = ((10.0, 30.0), (30.0, 100.0), (100.0, 300.0))


def _bed_cases(*cases):
    """The bed cases as parameters, each in its own xdist group (``make test`` runs ``--dist loadgroup``),
    so that one worker makes and extracts a case's fields once."""
    return [pytest.param(case, id=case, marks=pytest.mark.xdist_group(case)) for case in cases]


def _bed_pooled(fields, which="cat", edge_pix=15.0):
    """One catalog and one truth of a case's fields (each field's x offset by 10^5 px, so that one
    match and one binning see them all), edge stars left out."""
    from astropy.table import vstack

    cats, truths = [], []
    for k, f in enumerate(fields):
        ny, nx = f["shape"]
        t = f["truth"]
        t = t[(t["x"] > edge_pix) & (t["y"] > edge_pix) & (t["x"] < nx - 1 - edge_pix) & (t["y"] < ny - 1 - edge_pix)]
        c, t = f[which].copy(), t.copy()
        for col in ("x", "x_win"):
            c[col] = c[col] + 1e5 * k
        t["x"] = t["x"] + 1e5 * k
        c.meta, t.meta = {}, {}
        cats.append(c)
        truths.append(t)
    return vstack(cats, metadata_conflicts="silent"), vstack(truths, metadata_conflicts="silent")


#: Positions and 1σ columns of each estimator the tests score: the full path's PSF fits (stars it kept
#: the fit for) and windowed centroids, the catalog's chosen positions (PSF or windowed per star, what
#: notebook 02 hands on), and the fast path's (use_psf_fit=False) windowed centroids.
BED_PATHS = {"psf": ("cat", "x", "y", "x_err", "y_err"), "windowed": ("cat", "x_win", "y_win", "x_win_err", "y_win_err"),
             "catalog": ("cat", "x", "y", "x_err", "y_err"), "fast": ("fast", "x", "y", "x_err", "y_err")}


def _bed_rows(fields, path="catalog", bins=BED_SNR_BINS):
    """Per true-SNR bin, for isolated unflagged point stars seen by every exposure (matched within
    1 px, as ``helpers.simulate.limits.score_catalog``): ``n``, the rms error over both axes
    (``rms_pix``), the exposures' bound (``crb_rms_pix``), their ratio and the pull std."""
    which, xc, yc, exc, eyc = BED_PATHS[path]
    c, t = _bed_matched(fields, which)
    good = ((np.asarray(t["kind"]).astype(str) == "star") & (np.asarray(t["n_exp"]) == np.max(t["n_exp"]))
            & (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]).astype(str) == "point"))
    if path == "psf":
        good &= np.asarray(c["method"]).astype(str) == "psf"
    snr = np.asarray(t["snr"], float)
    rows = []
    for lo, hi in bins:
        b = good & (snr >= lo) & (snr < hi)
        err = np.r_[np.asarray(c[xc] - t["x"])[b], np.asarray(c[yc] - t["y"])[b]]
        sig = np.r_[np.asarray(c[exc])[b], np.asarray(c[eyc])[b]]
        crb = np.r_[np.asarray(t["crb_x"])[b], np.asarray(t["crb_y"])[b]]
        row = {"path": path, "snr": (lo, hi), "n": int(b.sum()), "rms_pix": float(np.sqrt(np.mean(err**2))),
               "crb_rms_pix": float(np.sqrt(np.mean(crb**2))), "pull": float(np.std(err / sig))}
        row["over_crb"] = row["rms_pix"] / row["crb_rms_pix"]
        rows.append(row)
    return rows


def _bed_matched(fields, which="cat", radius=1.0):
    """Truth rows (inside the edge cut) and the catalog rows matched to them within ``radius`` px."""
    cat, truth = _bed_pooled(fields, which)
    m, j = _match(cat, truth, radius)
    return cat[j[m]], truth[m]


@pytest.mark.parametrize("case", _bed_cases("bed_acs", "bed_nircam"))
def test_bed_psf_fit_reaches_the_exposures_bound(case, request):
    """Position scatter on drizzled products (ACS/WFC F814W pixfrac 1.0, NIRCam F200W pixfrac 0.8)
    against the bound of the exposures' own pixels. The PSF fit meets #13's target at SNR 10-30
    (≤ 1.15× the bound; measured 1.08 / 1.10). Above, the excess is the drizzle's own position error,
    which no fit of one mean PSF to the product removes (test_drizzled's strict xfail holds #13's target
    there): the scatter stays within 1.15× (SNR 30-100, PSF fit; measured 1.06 / 1.06) and 1.3× (SNR
    100-300, the catalog's chosen positions; measured ACS 1.24, NIRCam 1.10) of the bound and the drizzle
    floor the extraction measured without the truth (``meta['drizzle_floor']``) added in quadrature."""
    fields = request.getfixturevalue(case)
    floor = fields[0]["cat"].meta["drizzle_floor"]["psf_pix"]
    faint, mid, _ = _bed_rows(fields, "psf")
    bright = _bed_rows(fields, "catalog")[2]
    for row, limit in ((faint, 1.15), (mid, 1.15), (bright, 1.3)):
        assert row["n"] >= 150, row
        assert row["rms_pix"] <= limit * np.hypot(row["crb_rms_pix"], floor), (row, floor)
    assert faint["over_crb"] <= 1.15, faint


#: Where the bed misses #13's pull target (0.9-1.1), with what it measures (2 fields, 290-380 stars per
#: bin): strict, so that a fix shows up as an XPASS to update.
#: (case, path, SNR bin) -> why the bin misses #13's target (a strict xfail); none since the windowed
#: centroids' rejected-pixel term and the per-pixel Poisson gain (bed_acs SNR 100-300: catalog 1.20, windowed
#: 1.20, fast 1.32 before them)
_PULL_MISSES = {}


def _pull_params(bins):
    out = []
    for case in ("bed_acs", "bed_nircam"):
        for path in ("catalog", "psf", "windowed", "fast"):
            for k in bins:
                if path == "psf" and k == 2:
                    continue  # the PSF fit is kept for 17-41 % of them there: too few (bright F606W test below)
                reason = _PULL_MISSES.get((case, path, k))
                marks = [pytest.mark.xfail(strict=True, reason=f"#13 target missed on the bed: {reason}")] if reason else []
                marks.append(pytest.mark.xdist_group(case))
                out.append(pytest.param(case, path, k, marks=marks, id=f"{case}-{path}-{BED_SNR_BINS[k][0]:.0f}"))
    return out


@pytest.mark.parametrize("case, path, k", _pull_params((0, 1, 2)))
def test_bed_pulls_calibrated_per_snr_bin(case, path, k, request):
    """#13's pull target (std of error/σ 0.9-1.1) on drizzled products, per true-SNR bin, for the
    catalog's positions, the full path's PSF fits and windowed centroids, and the fast path: the
    drizzle's noise correlation (measured on the image) and the drizzle floor are in the errors
    (pulls were 1.3-1.8 before #13's noise work). ≥ 150 stars per bin (±6 % on a pull std)."""
    row = _bed_rows(request.getfixturevalue(case), path)[k]
    assert row["n"] >= 150, row
    assert 0.9 <= row["pull"] <= 1.1, row


@pytest.mark.parametrize("case", _bed_cases("bed_acs", "bed_nircam"))
@pytest.mark.parametrize("which", ["cat", "fast"])
def test_bed_bias_isolated_stars(case, which, request):
    """No position bias on drizzled products (SNR > 20, unflagged point stars): |mean error| ≤ 0.01 px
    (0.3-0.5 mas) per axis, for the full and the fast path."""
    c, t = _bed_matched(request.getfixturevalue(case), which)
    good = ((np.asarray(t["kind"]).astype(str) == "star") & (np.asarray(t["snr"]) > 20)
            & (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]).astype(str) == "point"))
    assert good.sum() >= 500
    assert abs(np.mean(c["x"][good] - t["x"][good])) <= 0.01
    assert abs(np.mean(c["y"][good] - t["y"][good])) <= 0.01


@pytest.mark.parametrize("case", _bed_cases("bed_acs", "bed_nircam"))
@pytest.mark.parametrize("which", ["cat", "fast"])
def test_bed_point_and_extended(case, which, request):
    """Stars (SNR > 20) are classed point and Sérsic galaxies extended on drizzled products, whose
    stellar locus comes from a PSF broadened by the drizzle and cosmic-ray residues."""
    c, t = _bed_matched(request.getfixturevalue(case), which, radius=1.5)
    kind = np.asarray(t["kind"]).astype(str)
    stars = (kind == "star") & (np.asarray(t["snr"]) > 20)
    gal = kind == "galaxy"
    assert stars.sum() >= 500 and gal.sum() >= 50
    assert np.mean(np.asarray(c["kind"][stars]).astype(str) == "point") > 0.95
    assert np.mean(np.asarray(c["kind"][gal]).astype(str) == "extended") > 0.8


@pytest.mark.parametrize("case", _bed_cases("bed_acs", "bed_nircam"))
def test_bed_precision_figure_bound_line(case, request):
    """The Cramér–Rao line of notebook 02's precision figure (``meta['crb_coef']`` / the catalog's SNR,
    the background-limited bound of the product's own ePSF in white noise) against the exposures' bound
    of the same faint stars (SNR < 30, where the floor does not matter): it is never below it (drizzling
    adds no information; a line below would make a calibrated fit look inefficient) and within 1.35×
    (measured 1.25× ACS pixfrac 1, 1.16× NIRCam pixfrac 0.8: the drizzle broadens the product's PSF;
    the PSF fit's scatter there is 1.05-1.08× the exposures' bound, so it sits just below the line)."""
    fields = request.getfixturevalue(case)
    c, t = _bed_matched(fields)
    faint = ((np.asarray(t["kind"]).astype(str) == "star") & (np.asarray(t["snr"]) < 30)
             & (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]).astype(str) == "point"))
    assert faint.sum() >= 150
    line = fields[0]["cat"].meta["crb_coef"] / np.asarray(c["snr"][faint], float)
    ratio = np.median(line / np.asarray(t["crb_x"][faint]))
    assert 1.0 <= ratio <= 1.35, ratio


@pytest.mark.xdist_group("bed_acs_f606w_bright")
@pytest.mark.parametrize("path", [pytest.param("psf", marks=pytest.mark.xfail(
    strict=True, reason="#13 target missed on the bed: the PSF fit's errors are too cautious at SNR 300-1000 "
    "(pull 0.74) on this undersampled drc: the ePSF error cross-validated between halves of the stars also "
    "holds the drizzle's star-to-star part that the floor already counts (0.86 at SNR 100-300 in bench_drizzled "
    "acs06; was 1.07 with the bootstrap, which under-counted on other products)")), pytest.param("fast", marks=pytest.mark.xfail(
    strict=True, reason="#13 target missed on the bed: the fast path's windowed errors are 1.6x too small at "
    "SNR 300-1000 on an undersampled drc (its windowed drizzle floor is 0.0086 px, its scatter 0.0146 px)"))])
def test_bed_epsf_errors_calibrated_at_high_snr_undersampled(path, bed_acs_f606w_bright):
    """Bright stars (true SNR 300-1000) on the demo's undersampled layout (ACS/WFC F606W drc at 0.06"/px
    from 0.05" exposures, FWHM ~1.7 px), fitted with the image's own ePSF: the ePSF's position error and
    the drizzle floor are in the reported errors (pull std 0.85-1.15; measured 1.07 for the PSF fit,
    whose scatter, 0.007 px, is 4x the exposures' bound: the floor regime)."""
    assert str(bed_acs_f606w_bright[0]["cat"].meta["psf_model"]).startswith("ePSF")
    row = _bed_rows(bed_acs_f606w_bright, path, bins=((300.0, 1000.0),))[0]
    assert row["n"] >= 200, row
    assert 0.85 <= row["pull"] <= 1.15, row


def test_cutout_panels_are_legible(sim, cat_psf):
    """Notebook 02's cut-out figure: on every panel the tick labels of each axis are a character's
    height apart (four-digit positions at half-pixel steps ran into each other: 0.3 display pixels), and the panel is the cut-out (a
    magnified error ellipse larger than it is clipped, it does not widen the axes)."""
    import matplotlib.pyplot as plt

    from helpers.plotting.sources import pick_cutout_sources, plot_sources_cutouts

    far = (cat_psf["x"] > 1000) & (cat_psf["y"] > 1000)  # four-digit pixel positions, the crowded labels
    rows = np.nonzero(far)[0][pick_cutout_sources(cat_psf[far])]
    for scale in (None, 1000.0):  # the default magnification (the demo's figure), and ellipses past the panel
        fig = plot_sources_cutouts(sim.data, cat_psf, rows=rows, size=21, ellipse_scale=scale)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert len(fig.axes) == len(rows) >= 6
        for ax, r in zip(fig.axes, rows):
            for axis, gap in ((ax.xaxis, lambda a, b: b.x0 - a.x1), (ax.yaxis, lambda a, b: b.y0 - a.y1)):
                boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
                assert len(boxes) >= 2
                for a, b in zip(boxes, boxes[1:]):
                    # at least a character's height of space between neighbours (it was 0.3 display pixels)
                    assert gap(a, b) >= a.height, [t.get_text() for t in axis.get_ticklabels()]
            ix, iy = int(round(float(cat_psf["x"][r]))), int(round(float(cat_psf["y"][r])))
            assert ax.get_xlim() == pytest.approx((ix - 10.5, ix + 10.5))
            assert ax.get_ylim() == pytest.approx((iy - 10.5, iy + 10.5))
        plt.close(fig)


@pytest.mark.parametrize("case", _bed_cases("bed_acs", "bed_nircam"))
def test_precision_figure_puts_windowed_sources_at_the_bounds_snr(case, request):
    """Notebook 02's precision figure: a windowed source's ``snr`` is an aperture SNR, 0.67x the optimal
    SNR the Cramér–Rao line is written for (faint stars), so its calibrated error plotted there sat below the line (the
    "windowed points under the bound" of the demo's F814W figure). The figure puts windowed point sources
    on the PSF fits' SNR scale with the PSF-fit / aperture SNR ratio measured on the image's own PSF-fitted
    stars (no truth), and says so in the legend; against the truth that brings the median SNR of the faint
    ones (true SNR < 30) from 0.67 / 0.57 to 0.85 / 0.83x the true SNR (ACS / NIRCam; the rest: the windowed
    centroid is kept for stars whose flux came out low)."""
    from helpers.plotting.sources import _aperture_to_fit_snr, plot_sources_precision

    fields = request.getfixturevalue(case)
    raw, converted = [], []
    for field in fields:  # each image its own ratio
        factor, n_used = _aperture_to_fit_snr(field["cat"])
        assert n_used >= 50 and factor > 1.1
        c, t = _bed_matched([field])
        faint = ((np.asarray(c["method"]).astype(str) == "windowed") & (np.asarray(c["kind"]).astype(str) == "point")
                 & (np.asarray(c["flags"]) == 0) & (np.asarray(t["kind"]).astype(str) == "star")
                 & (np.asarray(t["snr"]) < 30))
        raw.append(np.asarray(c["snr"], float)[faint] / np.asarray(t["snr"], float)[faint])
        converted.append(raw[-1] * factor)
    raw, converted = np.concatenate(raw), np.concatenate(converted)
    assert raw.size >= 50
    assert np.median(raw) < 0.75  # why the conversion exists
    # 0.85 with the bootstrap ePSF error, 0.79 since the cross-validated one changed which stars keep the fit
    assert 0.75 <= np.median(converted) <= 1.05
    factor, _ = _aperture_to_fit_snr(fields[0]["cat"])
    fig = plot_sources_precision(fields[0]["cat"])
    [group] = [col for col in fig.axes[0].collections if str(col.get_label()).startswith("windowed, point")]
    assert f"× {factor:.2f}" in group.get_label()
    cat = fields[0]["cat"]
    shown = ((np.asarray(cat["method"]).astype(str) == "windowed") & (np.asarray(cat["kind"]).astype(str) == "point")
             & (np.asarray(cat["flags"]) == 0) & np.isfinite(np.asarray(cat["snr"], float)) & (np.asarray(cat["snr"]) > 0))
    np.testing.assert_allclose(np.sort(group.get_offsets()[:, 0]), np.sort(np.asarray(cat["snr"], float)[shown] * factor))
    import matplotlib.pyplot as plt

    plt.close(fig)
