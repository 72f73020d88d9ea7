"""A drizzled product's member exposures: recorded in the product, listed by MAST, found on disk (issue #13).

MAST is the real answer recorded in astroquery's test data (``products.json``: a WFPC2 association,
obsID 2003738726, with its ``_drz`` and its calibrated ``_c0m`` exposure), replayed at astroquery's HTTP
layer (:class:`helpers.archive.replay.RecordedReplay`). Local products are the drizzled test bed's
(``make_drizzled``: pipeline drc with ``D00nDATA``, HAP SVM with ``HDRTAB``, NIRCam i2d with an association
named by ``ASNTABLE``), written with their exposures as the pipelines name them.
"""

import io
import json
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from helpers import archive, config
from helpers.archive import replay as archive_replay
from helpers.errors import WorkbookError
from helpers.simulate import make_truth
from helpers.simulate.drizzled import make_drizzled

CENTER = (53.1625, -27.791417)
REC_CENTRE = (23.12, 60.645)


@pytest.fixture(scope="module")
def truth():
    return make_truth(center=CENTER, size_arcsec=10, n_stars=20, n_galaxies=0, n_pairs=0, n_saturated=0,
                      star_snr=(10, 300), seed=4)


def _bed(tmp, truth, detector="ACS/WFC", filt="F814W", layout="pipeline", exposures=True):
    tmp.mkdir(exist_ok=True)
    kw = {"layout": layout} if layout != "pipeline" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        product = make_drizzled(truth, detector, filt, shape=(96, 96), seed=1, name="tst", **kw)
    path = product.writeto(tmp / (product.filename or f"tst_{product.suffix}.fits"))
    files = [e.writeto(tmp / e.header["FILENAME"]) for e in product.exposures] if exposures else []
    return path, files


# ----------------------------------------------------------------------------------------
# what the product records
# ----------------------------------------------------------------------------------------

def test_recorded_inputs_of_pipeline_hap_and_jwst_products(tmp_path, truth):
    drc, files = _bed(tmp_path / "drc", truth)
    inputs, source = archive.recorded_inputs(drc)
    assert source == "D00nDATA" and inputs == [(f.name,) for f in files]  # '[sci,1]' stripped, drizzle order
    svm, files = _bed(tmp_path / "svm", truth, layout="hap-svm")
    inputs, source = archive.recorded_inputs(svm)
    # HAP: D00nDATA names the renamed copies (hst_..._flc), HDRTAB the archive's own file names
    assert source == "D00nDATA+HDRTAB"
    assert all(a.startswith("hst_") and a.endswith("_flc.fits") for a, _ in inputs)
    assert [b for _, b in inputs] == [f.name for f in files]
    i2d, files = _bed(tmp_path / "i2d", truth, "NIRCAM/SW", "F200W")
    assert archive.recorded_inputs(i2d) == ([], "none")
    # a JWST i2d's ASNTABLE names the association; its science members are the inputs
    asn = {"products": [{"name": "tst", "members": [{"expname": f.name, "exptype": "science"} for f in files]
                         + [{"expname": "tst_bkg_cal.fits", "exptype": "background"}]}]}
    (tmp_path / "i2d" / "tst_image3_asn.json").write_text(json.dumps(asn))
    fits.setval(i2d, "ASNTABLE", value="tst_image3_asn.json")
    inputs, source = archive.recorded_inputs(i2d)
    assert source == "ASN tst_image3_asn.json" and inputs == [(f.name,) for f in files]
    # the jwst level-3 pipeline's HDRTAB (model_blender: one row per input, FILENAME) is read first
    with fits.open(i2d, mode="append") as hdul:
        hdul.append(fits.BinTableHDU(Table({"FILENAME": [f.name.upper() for f in files[:2]]}), name="HDRTAB"))
    assert archive.recorded_inputs(i2d) == ([(f.name,) for f in files[:2]], "HDRTAB")


def test_recorded_inputs_bad_files(tmp_path):
    bad = tmp_path / "x_drc.fits"
    bad.write_bytes(b"not a fits file" * 10)
    with pytest.raises(WorkbookError, match="x_drc.fits is not a readable FITS file"):
        archive.recorded_inputs(bad)
    prod = tmp_path / "y_i2d.fits"
    fits.PrimaryHDU(header=fits.Header([("ASNTABLE", "y_asn.json")])).writeto(prod)
    (tmp_path / "y_asn.json").write_text("{not json")
    with pytest.raises(WorkbookError, match=r"y_asn.json \(the ASNTABLE of y_i2d.fits\) is not a readable"):
        archive.recorded_inputs(prod)


# ----------------------------------------------------------------------------------------
# on disk, beside a local product
# ----------------------------------------------------------------------------------------

def test_local_members_found_missing_other_filter_and_none(tmp_path, truth):
    drc, files = _bed(tmp_path / "drc", truth)
    found, lines = archive.local_members(drc)
    assert found == files and lines == [f"tst_drc.fits: 4 of the 4 exposures its D00nDATA records found in "
                                        f"{drc.parent}"]
    files[1].unlink()  # a member missing on disk: named, the rest used
    with fits.open(files[2], mode="update") as hdul:  # a member of another filter: left out, named
        for h in (hdu.header for hdu in hdul):
            for key in ("FILTER1", "FILTER2", "PHOTMODE"):
                if "F814W" in str(h.get(key, "")):
                    h[key] = str(h[key]).replace("F814W", "F606W")
    found, lines = archive.local_members(drc)
    assert found == [files[0], files[3]]
    assert "2 of the 4" in lines[0] and "missing: tst02_flc.fits (the fit uses the rest)" in lines[0]
    assert lines[1:] == ["tst03_flc.fits: left out, it is filter F606W, the product F814W"]
    files[3].unlink()
    found, lines = archive.local_members(drc)
    assert found == [files[0]] and lines[0].endswith("fewer than 2: the joint fit on the exposures is skipped for it")
    # found elsewhere: the directories given
    svm, svm_files = _bed(tmp_path / "svm", truth, layout="hap-svm", exposures=False)
    found, lines = archive.local_members(svm, search=[tmp_path / "drc"])
    assert [f.name for f in found] == ["tst01_flc.fits"]  # HDRTAB's names, in another directory
    # a product that records no inputs
    plain = tmp_path / "plain_drz.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(plain)
    assert archive.local_members(plain) == ([], ["plain_drz.fits: the product records no input exposures (no "
                                                 "D00nDATA, HDRTAB or ASN table); give notebook 02 exposure_files by "
                                                 "hand to refine it on its exposures"])


# ----------------------------------------------------------------------------------------
# MAST (recorded answers)
# ----------------------------------------------------------------------------------------

def _drz_bytes(inputs=None, filt="F555W"):
    primary = fits.PrimaryHDU()
    h = primary.header
    h["TELESCOP"], h["INSTRUME"], h["FILTNAM1"] = "HST", "WFPC2", filt
    for k, name in enumerate(inputs or [], start=1):
        h[f"D{k:03d}DATA"] = f"{name}[sci,1]"
    buf = io.BytesIO()
    fits.HDUList([primary, fits.ImageHDU(np.zeros((8, 8), np.float32), name="SCI")]).writeto(buf, checksum=True)
    return buf.getvalue()


def _c0m_bytes(filt="F555W"):
    """A c0m of exactly the size MAST announces for u9o40504m_c0m.fits (10,307,520 bytes: 2 header blocks and a
    1022 x 2520 float32 plane), so the download's size check passes."""
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"], primary.header["INSTRUME"], primary.header["FILTNAM1"] = "HST", "WFPC2", filt
    buf = io.BytesIO()
    fits.HDUList([primary, fits.ImageHDU(np.zeros((1022, 2520), np.float32), name="SCI")]).writeto(buf)
    assert len(buf.getvalue()) == 10307520
    return buf.getvalue()


@pytest.fixture
def recorded_field(monkeypatch, tmp_path):
    monkeypatch.setattr(archive.mast, "_sleep", lambda s: None)
    cfg = config.create_field("rec", ra=REC_CENTRE[0], dec=REC_CENTRE[1], workspace_root=tmp_path, live=True)

    def products(files):
        archive_replay.RecordedReplay(files=files).install(monkeypatch)
        ranked = Table({"rank": [1], "product_id": ["U9O40504M"], "obsid": ["2003738726"], "instrument": ["WFPC2"],
                        "filter": ["F555W"], "epoch": [2006.1], "pixel_scale": [0.1], "coverage": [1.0],
                        "gaia_aligned": ["possible"], "n_exposures": [-1]})
        ranked.meta.update({"live": True, "source": "MAST"})
        prods = archive.select_products(ranked, max_products=1)
        prods["size"][0] = 0  # these stand-in files are not the recorded drz's 27 MB
        return prods, archive.download(prods, cfg, progress=False)

    return cfg, products


def test_find_members_from_recorded_mast_answer(recorded_field):
    cfg, products = recorded_field
    # the product records no inputs: MAST's calibrated exposures of the kind a drz is made from (WFPC2: c0m)
    prods, manifest = products({"u9o40504m_drz.fits": _drz_bytes()})
    members = archive.find_members(prods, manifest)
    assert list(members["productFilename"]) == ["u9o40504m_c0m.fits"]
    assert list(members["product_id"]) == ["U9O40504M"] and list(members["product_filter"]) == ["F555W"]
    assert members.meta["lines"] == ["U9O40504M: the product records no inputs (no D00nDATA, HDRTAB or ASN); "
                                     "taking MAST's 1 FLT/C0M file(s) of its observation"]
    summary, line = archive.members_summary(members)
    assert summary["n_exposures"][0] == 1 and summary["size_mb"][0] == pytest.approx(10307520 / 1e6, rel=1e-6)
    assert line == "1 member exposure(s), 0.01 GB in all, for 1 product(s)"


def test_find_members_matches_the_product_record(recorded_field):
    cfg, products = recorded_field
    # the product names two inputs; MAST lists one of them (the other is missing) and its c0f/c1m are not inputs
    prods, manifest = products({"u9o40504m_drz.fits": _drz_bytes(["u9o40504m_c0m.fits", "u9o40505m_c0m.fits"])})
    members = archive.find_members(prods, manifest)
    assert list(members["productFilename"]) == ["u9o40504m_c0m.fits"]
    assert members.meta["missing"] == {"U9O40504M": ["u9o40505m_c0m.fits"]}
    assert members.meta["lines"] == ["U9O40504M: 1 of the 2 exposures its D00nDATA records are in MAST; missing "
                                     "from MAST: u9o40505m_c0m.fits (the fit uses the rest)"]
    # a product whose recorded inputs MAST does not have at all
    (cfg.subdir("archive") / "u9o40504m_drz.fits").unlink()  # else the verified cache keeps the first one
    prods, manifest = products({"u9o40504m_drz.fits": _drz_bytes(["x1_flt.fits", "x2_flt.fits"])})
    members = archive.find_members(prods, manifest)
    assert len(members) == 0
    assert members.meta["lines"][0].endswith("1 other exposure(s) of the observation are not inputs of this product "
                                             "and were left out - no member exposures: the joint fit on the exposures "
                                             "is skipped for it")


def test_exposures_for_config_lists_downloads_and_records(recorded_field, capsys):
    cfg, products = recorded_field
    prods, manifest = products({"u9o40504m_drz.fits": _drz_bytes(["u9o40504m_c0m.fits", "u9o40506m_c0m.fits"]),
                                "u9o40504m_c0m.fits": _c0m_bytes()})
    # default: listed with count and size, not downloaded, nothing recorded
    members, mapping, lines = archive.exposures_for_config(cfg, prods, manifest, progress=False)
    assert mapping == {} and cfg.extra["exposure_files"] == {}
    assert any("not downloaded (download_exposures = False)" in ln for ln in lines)
    assert "u9o40504m_c0m.fits" not in {p.name for p in cfg.subdir("archive").iterdir()}
    # asked: downloaded through the verified cache; one usable file is not enough for a joint fit
    members, mapping, lines = archive.exposures_for_config(cfg, prods, manifest, download_exposures=True,
                                                           progress=False)
    assert (cfg.subdir("archive") / "u9o40504m_c0m.fits").is_file()
    assert mapping == {} and any("only 1 usable exposure" in ln for ln in lines)
    assert "u9o40506m_c0m.fits" in lines[0]  # named as missing from MAST
    out = capsys.readouterr().out
    assert "notebook 02 measures on the products only" in out
    with pytest.raises(WorkbookError, match="download_exposures = 'yes' is not True/False"):
        archive.exposures_for_config(cfg, prods, manifest, download_exposures="yes")


def test_exposures_for_config_local_products_recorded_for_notebook_02(tmp_path, truth, capsys):
    drc, files = _bed(tmp_path / "own", truth)
    cfg = config.create_field("own", ra=CENTER[0], dec=CENTER[1], workspace_root=tmp_path / "ws")
    own = [{"product_id": "tst", "path": str(drc), "filter": "F814W"}]
    members, mapping, lines = archive.exposures_for_config(cfg, own=own)
    assert members is None and mapping == {"tst": [str(f.resolve()) for f in files]}
    again = config.load_field("own", tmp_path / "ws")
    assert again.extra["exposure_files"] == mapping
    assert lines[-1].startswith("exposure_files for 1 product(s) (tst) written to") and "notebook 02" in lines[-1]
    assert lines[-1] in capsys.readouterr().out
