"""helpers.archive.local: the planner's own FITS files (issue #14, steps 1-2).

Real data: the WFPC2 HDF-South mosaic of the ``mpdaf`` 3.6 wheel (a ``test`` extra); skipped
with a message when mpdaf is not installed. Simulated images (helpers.simulate) give exact
answers for the cut-out: the section read must equal the same slice of the full array, with a
WCS that maps the same pixel to the same sky position.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers import archive, config, simulate, sources
from helpers.errors import WorkbookError


def _hdfs():
    spec = importlib.util.find_spec("mpdaf")
    if spec is None:
        pytest.skip("mpdaf (test extra: pip install -e .[test]) is not installed: no real HDF-S image")
    path = Path(spec.origin).parent / "data" / "obj" / "HST-HDFS.fits"
    if not path.exists():
        pytest.skip(f"mpdaf is installed but {path} is missing")
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    truth = simulate.make_truth((53.16, -27.78), 40.0, n_stars=30, n_galaxies=0, n_pairs=0, n_saturated=0, seed=3)
    spec = simulate.ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(400, 400), center=(53.16, -27.78),
                              epoch=2004.8, seed=3)
    path = tmp_path_factory.mktemp("local") / "mine_drc.fits"
    simulate.make_image(truth, spec).writeto(path)
    return path


def test_real_hdfs_image_is_verified_and_recorded():
    path = _hdfs()
    recs = archive.local_images([str(path)])
    (r,) = recs
    assert r["local"] and not r["replay"] and r["rank"] == 1 and r["path"] == str(path.resolve())
    assert r["instrument"].startswith("WFPC2") and abs(r["pixel_scale"] - 0.0399) < 0.001
    assert 1998.7 < r["epoch"] < 1998.8  # DATE-OBS 1998-09-28
    ra, dec = archive.image_center(path)
    with fits.open(path) as h:
        w = WCS(h["DATA"].header)
    assert np.allclose(w.pixel_to_world_values(249.5, 249.5), (ra, dec))


def test_cutout_is_the_same_pixels_and_sky(small, tmp_path):
    with fits.open(small) as h:
        full = h["SCI"].data.copy()
        w = WCS(h["SCI"].header)
    ra, dec = w.pixel_to_world_values(150.0, 260.0)
    out, info = archive.cutout_image(small, (float(ra), float(dec)), 6.0, tmp_path / "cut.fits")
    with fits.open(out) as h:
        cut = h["SCI"].data
        wc = WCS(h["SCI"].header)
        assert h[0].header["INSTRUME"] and "WHT" in h
    y0, x0 = info["y0"], info["x0"]
    assert np.array_equal(cut, full[y0:y0 + cut.shape[0], x0:x0 + cut.shape[1]])
    assert np.allclose(wc.pixel_to_world_values(150.0 - x0, 260.0 - y0), (ra, dec), atol=1e-10)
    # exports refuse to overwrite
    with pytest.raises(WorkbookError):
        archive.cutout_image(small, (float(ra), float(dec)), 6.0, tmp_path / "cut.fits")


def test_large_image_is_cut_out(small, tmp_path):
    recs = archive.local_images([small], max_pixels=100 * 100, out_dir=tmp_path, size_arcsec=5.0)
    assert recs[0]["cutout"]["shape"][0] < 400 and Path(recs[0]["path"]).exists()
    assert recs[0]["source_file"] == str(small.resolve())


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.fits", "not found"),
    (lambda d: [(d / "text.fits").write_text("hello"), d / "text.fits"][1], "not a whole number of 2880-byte"),
    (lambda d: fits.PrimaryHDU(np.ones((8, 8), np.float32)).writeto(d / "nowcs.fits") or d / "nowcs.fits",
     "has no celestial WCS"),
])
def test_bad_images_are_one_line(tmp_path, make, message):
    with pytest.raises(WorkbookError, match=message) as exc:
        archive.local_images([make(tmp_path)])
    assert "\n" not in str(exc.value)


def test_image_not_covering_the_field(small):
    with pytest.raises(WorkbookError, match="does not overlap the field"):
        archive.local_images([small], center=(53.16, -26.0))


def test_glob_is_expanded(small):
    assert archive.expand_image_paths(str(small.parent / "*_drc.fits")) == [small.resolve()]


def test_no_silent_demo_for_another_field(tmp_path):
    cfg = config.create_field("myfield", ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    with pytest.raises(WorkbookError, match=r"images=\['your.fits'\].*--image.*--live"):
        archive.require_imaging(cfg, [])
    with pytest.raises(WorkbookError, match="has no images.*--image"):
        sources.field_images(cfg)
    # nothing simulated landed in the field's workspace
    assert not any(p.is_file() for p in (cfg.path / "archive").rglob("*"))
    assert not cfg.extra.get("images")
    archive.require_imaging(cfg, [{"path": "x"}])  # with images it goes on


def test_demo_field_says_it_is_simulated(tmp_path, capsys, monkeypatch):
    cfg = config.create_field(config.DEMO_FIELD["name"], ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    archive.require_imaging(cfg, [])  # the demo may go on offline
    monkeypatch.setattr(sources.notebook, "_simulate_demo_images", lambda cfg, progress=None: [])
    images, simulated = sources.field_images(cfg)
    assert simulated and "simulated" in capsys.readouterr().out


def test_config_records_own_data(tmp_path, small):
    cfg = config.create_field("mine", ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    config.record_own_data(cfg, images=[str(small)], targets=None)
    again = config.load_field("mine", tmp_path)
    assert again.extra["own_images"] == [str(small)] and again.extra["targets_path"] is None
    with pytest.raises(WorkbookError, match="target list .* not found"):
        config.record_own_data(cfg, targets=tmp_path / "missing.ecsv")
    own, use_mast = archive.own_imaging(again)
    assert not use_mast and own[0]["local"] and own[0]["path"] == str(small.resolve())


def test_cli_centre_defaults_to_the_first_image(small, monkeypatch):
    from helpers import chain

    seen = {}
    monkeypatch.setattr(chain, "run_chain", lambda params, **kw: seen.update(params) or {})
    assert chain.main(["--field", "mine", "--image", str(small)]) == 0
    ra, dec = archive.image_center(small)
    assert abs(seen["ra"] - ra) < 1e-9 and abs(seen["dec"] - dec) < 1e-9
    assert seen["images"] == [str(small)] and seen["targets"] is None and seen["live"] is False
    assert chain.main(["--field", "mine", "--ra", "53.1", "--image", str(small)]) == 2  # --ra without --dec
