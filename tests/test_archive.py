"""helpers.archive: ranking, coverage, verified downloads, provenance and every fault, offline.

MAST is replayed at astroquery's HTTP layer (``PortalAPI._request`` and
``Observations._download_file``, as astroquery's own tests do) with the real answers recorded
in ``astroquery/mast/tests/data`` (caom.json, products.json, hsc.json); faults are injected at
that layer (``requests.Session.request``) or at the file layer.
"""

import errno
import io
import json
import math
import warnings

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from helpers import archive
from helpers.archive import replay as archive_replay
from helpers.errors import WorkbookError
from helpers.skyplane import tangent_to_sky

# The recorded caom.json holds WFPC2 and HLA footprints around (23.1, +60.64).
REC_CENTRE = (23.12, 60.645)
DEMO = (53.1625, -27.791417)


# ----------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------

@pytest.fixture
def sleeps(monkeypatch):
    delays = []
    monkeypatch.setattr(archive.mast, "_sleep", delays.append)
    return delays


@pytest.fixture
def recorded(monkeypatch, sleeps):
    """Real recorded MAST answers served through astroquery's own request path."""
    return archive_replay.RecordedReplay().install(monkeypatch)


def fits_bytes(wcs=True, checksum=True, wcsname="IDC_0461802ej-FIT_REL_GAIAeDR3", shape=(40, 50),
               telescope="HST", extra=None):
    primary = fits.PrimaryHDU()
    h = primary.header
    h["TELESCOP"], h["INSTRUME"], h["DETECTOR"] = telescope, "ACS", "WFC"
    h["FILTER1"], h["FILTER2"], h["EXPTIME"], h["EXPSTART"] = "F606W", "CLEAR2L", 2000.0, 53000.0
    h["NDRIZIM"] = 4
    header = fits.Header()
    if wcs:
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = list(REC_CENTRE)
        w.wcs.crpix = [25, 20]
        w.wcs.cd = np.array([[-0.05, 0], [0, 0.05]]) / 3600.0
        header = w.to_header()
    if wcsname is not None:
        header["WCSNAME"] = wcsname
    header["RMS_RA"], header["RMS_DEC"], header["NMATCHES"] = 5.1, 4.2, 77
    for k, v in (extra or {}).items():
        header[k] = v
    sci = fits.ImageHDU(np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape), header=header, name="SCI")
    buf = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(buf, checksum=checksum)
    return buf.getvalue()


def recorded_products(replay, size=None):
    """The real products.json answer for obsid 2003738726, through select_products."""
    ranked = Table({"rank": [1], "product_id": ["U9O40504M"], "obsid": ["2003738726"], "instrument": ["WFPC2"],
                    "filter": ["F555W"], "epoch": [2006.1], "pixel_scale": [0.1], "coverage": [1.0],
                    "gaia_aligned": ["possible"], "n_exposures": [-1]})
    ranked.meta.update({"live": True, "source": "MAST"})
    products = archive.select_products(ranked, max_products=1)
    if size is not None:
        products["size"][0] = size
    return products


def cache_listing(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------------------
# footprints and coverage
# ----------------------------------------------------------------------------------------

def test_parse_s_region_polygons_circles_frames_and_garbage():
    p = archive.parse_s_region([
        "POLYGON ICRS 1 0 1.1 0 1.1 0.1 POLYGON J2000 2 0 2.1 0 2.1 0.1 2 0.1",
        "CIRCLE ICRS 10 20 0.5", "POLYGON 359.9 0 0.1 0 0.1 0.1", "nonsense", None, "POLYGON GSC1 1 2 3"])
    assert p["ring_owner"].tolist() == [0, 0, 2]
    assert np.bincount(p["ring"]).tolist() == [3, 4, 3]
    assert p["circle_owner"].tolist() == [1] and p["circle_radius"].tolist() == [0.5]
    assert p["ra"].min() >= 0 and p["ra"].max() < 360


def test_coverage_full_half_none_and_centre():
    ra0, dec0 = DEMO
    cosd = math.cos(math.radians(dec0))
    big = "POLYGON ICRS {} {} {} {} {} {} {} {}".format(
        ra0 + 0.1 / cosd, dec0 - 0.1, ra0 - 0.1 / cosd, dec0 - 0.1, ra0 - 0.1 / cosd, dec0 + 0.1, ra0 + 0.1 / cosd, dec0 + 0.1)
    east = "POLYGON ICRS {} {} {} {} {} {} {} {}".format(
        ra0 + 0.1 / cosd, dec0 - 0.1, ra0, dec0 - 0.1, ra0, dec0 + 0.1, ra0 + 0.1 / cosd, dec0 + 0.1)
    far = "POLYGON ICRS 10 10 10.1 10 10.1 10.1"
    cov, inside, _ = archive.footprint_coverage([big, east, far, "garbage"], ra0, dec0)
    assert cov[0] == pytest.approx(1.0)
    assert cov[1] == pytest.approx(0.5, abs=2e-3)  # the meridian through the centre is a great circle
    assert cov[2] == 0 and cov[3] == 0
    assert inside.tolist() == [True, False, False, False]
    # a box MSA at APA 0 inside the big footprint is fully covered as well
    cov_box, _, _ = archive.footprint_coverage([big], ra0, dec0, apa=30.0)
    assert cov_box[0] == pytest.approx(1.0)


def test_coverage_matches_spherical_geometry_on_real_footprints():
    from spherical_geometry.polygon import SphericalPolygon

    caom = json.loads(archive_replay.astroquery_test_data("caom.json").read_text())["data"]
    regions = [r["s_region"] for r in caom if r["s_region"].startswith("POLYGON")]
    ra0, dec0 = REC_CENTRE
    field, _ = archive.msa_field_geometry(ra0, dec0, apa=25.0)
    cov, _, _ = archive.footprint_coverage(regions, ra0, dec0, field=field)
    # the same field as a spherical polygon (box corners projected back to the sky)
    xy = np.asarray(field.exterior.coords)
    ra_f, dec_f = tangent_to_sky(xy[:, 0], xy[:, 1], ra0, dec0)
    sph_field = SphericalPolygon.from_radec(ra_f, dec_f, center=(ra0, dec0))
    for region, c in zip(regions, cov):
        parts = archive.parse_s_region([region])
        polys = [SphericalPolygon.from_radec(parts["ra"][parts["ring"] == k], parts["dec"][parts["ring"] == k])
                 for k in np.unique(parts["ring"])]
        exact = sum(p.intersection(sph_field).area() for p in polys) / sph_field.area()
        assert c == pytest.approx(exact, abs=2e-3)


# ----------------------------------------------------------------------------------------
# ranking
# ----------------------------------------------------------------------------------------

def _synthetic_caom(rows):
    ra0, dec0 = DEMO
    cosd = math.cos(math.radians(dec0))
    big = "POLYGON ICRS {} {} {} {} {} {} {} {}".format(
        ra0 + 0.06 / cosd, dec0 - 0.06, ra0 - 0.06 / cosd, dec0 - 0.06, ra0 - 0.06 / cosd, dec0 + 0.06,
        ra0 + 0.06 / cosd, dec0 + 0.06)
    corner = "POLYGON ICRS {} {} {} {} {} {}".format(ra0, dec0 + 0.03, ra0 - 0.05 / cosd, dec0 + 0.03,
                                                     ra0 - 0.05 / cosd, dec0 + 0.08)
    out = Table(rows=[(c, i, f, oid, str(k), 3, m, t, big if full else corner, "image", "1")
                      for k, (c, i, f, oid, m, t, full) in enumerate(rows)],
                names=("obs_collection", "instrument_name", "filters", "obs_id", "obsid", "calib_level", "t_min",
                       "t_exptime", "s_region", "dataproduct_type", "proposal_id"))
    return out


MJD_2005, MJD_2023 = 53371.0, 59945.0


def test_seed_order_of_classes():
    caom = _synthetic_caom([
        ("HST", "WFPC2/WFC", "F814W", "U2AB0101T", MJD_2005, 5000, True),
        ("HST", "WFC3/IR", "F160W", "IB1A01010", MJD_2005, 5000, True),
        ("JWST", "NIRCAM/IMAGE", "F200W", "jw01180-o001_t001_nircam_clear-f200w", MJD_2023, 5000, True),
        ("HST", "ACS/WFC", "F606W", "hst_skycell-p0123x05y06_acs_wfc_f606w_all", MJD_2005, 5000, True),
        ("HST", "WFC3/UVIS", "F606W", "hst_12345_01_wfc3_uvis_f606w_ib1a01", MJD_2005, 5000, True),
        ("HST", "ACS/WFC", "F814W", "J8PU42010", MJD_2005, 5000, True),
    ])
    ranked = archive.rank_candidates(caom, *DEMO, epoch=2027.5)
    assert list(ranked["instrument"]) == ["WFC3/UVIS", "ACS/WFC", "ACS/WFC", "NIRCAM", "WFC3/IR", "WFPC2"]
    assert list(ranked["rank_class"]) == [1, 1, 2, 3, 4, 5]
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5, 6]
    assert ranked["kind"][2] == "mvm-mosaic"
    assert "RANK" not in ranked.meta["ranking"] and "seed order" in ranked.meta["ranking"]
    assert ranked["exptime"].unit == "s" and ranked["pixel_scale"].unit == "arcsec"
    assert ranked["pixel_scale"][3] == pytest.approx(0.031)


def test_tie_breakers_depth_epoch_gaia_and_partial_coverage():
    caom = _synthetic_caom([
        ("HST", "ACS/WFC", "F606W", "J8PU42010", MJD_2005, 1000, True),   # shallow
        ("HST", "ACS/WFC", "F814W", "J8PU43010", MJD_2005, 20000, True),  # deep
        ("HST", "ACS/WFC", "F775W", "J8PU44010", MJD_2005, 50000, False),  # deepest but partial
    ])
    ranked = archive.rank_candidates(caom, *DEMO, epoch=2027.5, min_coverage=0.2)
    assert list(ranked["product_id"]) == ["J8PU43010", "J8PU42010", "J8PU44010"]
    assert "partial coverage" in ranked["rank_reason"][2]
    # same depth: the epoch closer to the planned observation wins
    caom = _synthetic_caom([
        ("HST", "WFC3/UVIS", "F606W", "IB1A01010", MJD_2005, 4000, True),
        ("HST", "WFC3/UVIS", "F606W", "IB1A02010", MJD_2023, 4000, True),
    ])
    ranked = archive.rank_candidates(caom, *DEMO, epoch=2027.5)
    assert list(ranked["product_id"]) == ["IB1A02010", "IB1A01010"]
    # a header that proves Gaia alignment lifts a product over an equal one without it
    caom = _synthetic_caom([
        ("HST", "WFC3/UVIS", "F606W", "IB1A01010", MJD_2005, 4000, True),
        ("HST", "WFC3/UVIS", "F814W", "IB1A03010", MJD_2005, 4000, True),
    ])
    ranked = archive.rank_candidates(caom, *DEMO, epoch=2027.5)
    products = Table({"product_id": ["IB1A03010", "IB1A01010"], "n_exposures": [4, 1],
                      "productFilename": ["ib1a03010_drc.fits", "ib1a01010_drc.fits"]})
    prov = Table({"file": ["ib1a03010_drc.fits", "ib1a01010_drc.fits"], "gaia": [True, False],
                  "pixel_scale": [0.04, 0.04]})
    refined = archive.refine_ranking(ranked, products, prov)
    assert list(refined["product_id"]) == ["IB1A03010", "IB1A01010"]
    assert list(refined["rank_class"]) == [1, 2]  # one exposure: not dithered
    assert list(refined["gaia_aligned"]) == ["yes", "no"]


def test_unknown_instrument_is_a_clear_error():
    with pytest.raises(WorkbookError, match="unknown instrument.*choose from"):
        archive.rank_candidates(_synthetic_caom([]), *DEMO, instruments=["MIRI"])


# ----------------------------------------------------------------------------------------
# find_imaging against the recorded MAST answers
# ----------------------------------------------------------------------------------------

def test_find_imaging_on_recorded_caom(recorded):
    ranked = archive.find_imaging(REC_CENTRE, 3.0, epoch=2027.5)
    assert recorded.requests[-1][0] == "Mast.Caom.Filtered.Position"
    assert len(ranked) == 12  # WFPC2/HLA images; GALEX and the HLA "DETECTION" sums are dropped
    assert set(ranked["instrument"]) == {"WFPC2"}
    assert not any("DETECTION" in f for f in ranked["filter"])
    assert np.all(np.diff(ranked["rank"]) == 1) and ranked["coverage"].max() <= 1
    assert ranked.meta["source"] == "MAST" and "seed order" in ranked.meta["ranking"]
    assert np.all(np.isfinite(ranked["epoch"])) and ranked["epoch"][0] == pytest.approx(1995.1, abs=0.1)
    assert ranked["pixel_scale"][ranked["product_id"] == "hst_05371_cs_wfpc2_f814w_pc"][0] == pytest.approx(0.0455)


def test_no_overlapping_imaging_says_what_to_do(recorded):
    with pytest.raises(WorkbookError, match=r"none is a usable level-3 image from .*larger radius") as err:
        archive.find_imaging((23.9, 60.2), 1.0)
    assert "\n" not in str(err.value)
    with pytest.raises(WorkbookError, match="add instruments"):
        archive.find_imaging(REC_CENTRE, 3.0, instruments=["NIRCAM"])


def test_empty_mast_answer(monkeypatch, sleeps):
    empty = {"status": "COMPLETE", "msg": "", "fields": json.loads(
        archive_replay.astroquery_test_data("caom.json").read_text())["fields"], "data": [],
        "paging": {"page": 1, "pageSize": 1, "pagesFiltered": 1, "rows": 0, "rowsFiltered": 0, "rowsTotal": 0}}
    archive_replay.RecordedReplay(overrides={"Mast.Caom.Filtered.Position": empty}).install(monkeypatch)
    with pytest.raises(WorkbookError, match="MAST has no .*larger radius"):
        archive.find_imaging(REC_CENTRE, 2.5)


def test_centre_outside_every_footprint_warns_or_raises(recorded):
    # 1.6' north of the WFPC2 footprints: overlap, but the centre is in none of them
    centre = (23.12, 60.676)
    with pytest.warns(archive.ArchiveWarning, match="outside every footprint"):
        ranked = archive.find_imaging(centre, 2.5)
    assert len(ranked) > 0 and not ranked["contains_centre"].any()
    with pytest.raises(WorkbookError, match="outside every footprint"):
        archive.find_imaging(centre, 2.5, require_centre=True)


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout("timed out"),
                                 requests.exceptions.ConnectionError("Network is unreachable")])
def test_mast_down_bounded_retries_then_one_line(monkeypatch, sleeps, exc):
    calls = []

    def down(self, method, url, *args, **kwargs):
        calls.append(url)
        raise exc

    monkeypatch.setattr(requests.Session, "request", down)
    with pytest.raises(WorkbookError) as err:
        archive.find_imaging(REC_CENTRE, 2.5)
    message = str(err.value)
    assert "\n" not in message and "failed after 3 attempts" in message and "live=False" in message
    assert len(calls) == 3 and sleeps == list(archive.RETRY_DELAYS_S)


def test_mast_error_status_is_not_retried(monkeypatch, sleeps):
    bad = {"status": "ERROR", "msg": "Request failed", "fields": [], "data": []}
    archive_replay.RecordedReplay(overrides={"Mast.Caom.Filtered.Position": bad}).install(monkeypatch)
    with pytest.raises(WorkbookError, match="MAST observation query failed .*RemoteServiceError"):
        archive.find_imaging(REC_CENTRE, 2.5)
    assert sleeps == []


def test_offline_elsewhere_than_the_demo_names_live(sleeps):
    with pytest.raises(WorkbookError, match="only the demo field .*set live=True"):
        archive.find_imaging(REC_CENTRE, 2.5, live=False)


def test_bad_radius():
    with pytest.raises(WorkbookError, match="radius"):
        archive.find_imaging(DEMO, 0.0, live=False)


# ----------------------------------------------------------------------------------------
# products and downloads
# ----------------------------------------------------------------------------------------

def test_select_products_prefers_drizzled_and_counts_exposures(recorded):
    products = recorded_products(recorded)
    assert list(products["productFilename"]) == ["u9o40504m_drz.fits"]
    assert products["n_exposures"][0] == 1 and products["size"][0] == 27227520
    assert recorded.requests[-1] == ("Mast.Caom.Products", {"obsid": "2003738726"})


def test_download_verifies_caches_and_skips(recorded, tmp_path):
    good = fits_bytes()
    recorded.files["u9o40504m_drz.fits"] = good
    products = recorded_products(recorded, size=len(good))
    man = archive.download(products, tmp_path)
    assert list(man["status"]) == ["downloaded"] and man["checksum"][0] == "verified"
    assert (tmp_path / "u9o40504m_drz.fits").read_bytes() == good
    again = archive.download(products, tmp_path)
    assert list(again["status"]) == ["cached"] and recorded.downloads == ["u9o40504m_drz.fits"]
    assert cache_listing(tmp_path) == ["manifest.json", "u9o40504m_drz.fits"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "checksum"])
def test_corrupt_download_refetched_once(recorded, tmp_path, damage):
    good = fits_bytes()
    bad = {"truncate": good[:len(good) - 2880], "garbage": b"<html>502 Bad Gateway</html>" + b" " * 2852,
           "checksum": good[:-4] + b"\x01\x02\x03\x04"}[damage]
    served = [bad, good]
    recorded.files["u9o40504m_drz.fits"] = lambda path: path.write_bytes(served.pop(0))
    man = archive.download(recorded_products(recorded, size=len(good)), tmp_path)
    assert list(man["status"]) == ["re-downloaded"]
    assert (tmp_path / "u9o40504m_drz.fits").read_bytes() == good


@pytest.mark.parametrize("damage", ["truncate", "checksum"])
def test_corrupt_twice_is_an_error_and_leaves_nothing(recorded, tmp_path, damage):
    good = fits_bytes()
    bad = good[:len(good) // 2880 * 2880 - 2880] if damage == "truncate" else good[:-4] + b"\x01\x02\x03\x04"
    recorded.files["u9o40504m_drz.fits"] = bad
    with pytest.raises(WorkbookError, match=r"u9o40504m_drz.fits failed verification twice .*not kept") as err:
        archive.download(recorded_products(recorded), tmp_path)
    assert "\n" not in str(err.value) and len(recorded.downloads) == 2
    assert cache_listing(tmp_path) == []


def test_verify_fits_reasons(tmp_path):
    good = fits_bytes()
    p = tmp_path / "a.fits"
    p.write_bytes(good)
    assert archive.verify_fits(p) == (True, "ok", "verified")
    assert archive.verify_fits(p, expected_size=len(good) + 1)[1].startswith("size")
    p.write_bytes(fits_bytes(checksum=False))
    assert archive.verify_fits(p) == (True, "ok", "absent")
    p.write_bytes(good[:1000])
    assert "2880-byte" in archive.verify_fits(p)[1]
    p.write_bytes(good[:-4] + b"abcd")
    ok, reason, checksum = archive.verify_fits(p)
    assert not ok and "checksum" in reason.lower() and checksum == "failed"
    assert archive.verify_fits(tmp_path / "missing.fits")[1] == "file missing"


def test_corrupt_file_already_in_cache_is_replaced(recorded, tmp_path):
    good = fits_bytes()
    recorded.files["u9o40504m_drz.fits"] = good
    (tmp_path / "u9o40504m_drz.fits").write_bytes(good[:2880])  # left by some other tool
    man = archive.download(recorded_products(recorded, size=len(good)), tmp_path)
    assert list(man["status"]) == ["downloaded"] and (tmp_path / "u9o40504m_drz.fits").read_bytes() == good


def test_interrupted_run_resumes(recorded, tmp_path):
    good = fits_bytes()

    def interrupted(path):
        path.write_bytes(good[:5000])
        raise KeyboardInterrupt

    recorded.files["u9o40504m_drz.fits"] = interrupted
    products = recorded_products(recorded, size=len(good))
    with pytest.raises(KeyboardInterrupt):
        archive.download(products, tmp_path)
    assert cache_listing(tmp_path) == []  # the half file did not survive
    recorded.files["u9o40504m_drz.fits"] = good
    assert list(archive.download(products, tmp_path)["status"]) == ["downloaded"]


def test_disk_full_during_download(recorded, tmp_path):
    def full(path):
        path.write_bytes(b"SIMPLE  =" + b" " * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    recorded.files["u9o40504m_drz.fits"] = full
    with pytest.raises(WorkbookError, match="no space left.*free some disk space") as err:
        archive.download(recorded_products(recorded), tmp_path)
    assert "\n" not in str(err.value) and cache_listing(tmp_path) == []


def test_unwritable_cache(recorded, tmp_path, monkeypatch):
    import helpers._io as io_mod

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    products = recorded_products(recorded)
    monkeypatch.setattr(io_mod.tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(WorkbookError, match="cannot write to .*writable workspace"):
        archive.download(products, tmp_path / "cache")
    monkeypatch.undo()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WorkbookError, match="not a directory"):
        archive.download(products, blocker)


def test_download_network_down_and_missing_file(recorded, tmp_path, sleeps, monkeypatch):
    products = recorded_products(recorded)
    # MAST answers 404 for a file it does not have: no retry, clear message
    with pytest.raises(WorkbookError, match="MAST could not deliver u9o40504m_drz.fits .*404"):
        archive.download(products, tmp_path)
    assert sleeps == [] and cache_listing(tmp_path) == []

    def down(path):
        raise requests.exceptions.ConnectionError("Connection reset by peer")

    recorded.files["u9o40504m_drz.fits"] = down
    with pytest.raises(WorkbookError, match="download of u9o40504m_drz.fits from MAST failed after 3 attempts.*live=False"):
        archive.download(products, tmp_path)
    assert cache_listing(tmp_path) == []


# ----------------------------------------------------------------------------------------
# WCS provenance
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, aligned, gaia, mas", [
    ("IDC_0461802ej-FIT_REL_GAIAeDR3", "Gaia DR3", True, 10),
    ("FIT_SVM_GAIAeDR3", "Gaia DR3", True, 10),
    ("FIT_MVM_GAIADR2", "Gaia DR2", True, 15),
    ("IDC_4bb1536oj-FIT_IMG_GAIADR1", "Gaia DR1", True, 30),
    ("IDC_4bb1536oj-HSC30", "Hubble Source Catalog", False, 30),
    ("IDC_4bb1536oj-GSC240", "GSC 2.4 (Gaia-corrected guide stars, a priori)", False, 150),
    ("IDC_4bb1536oj", "guide stars only", False, 300),
    ("OPUS", "guide stars only", False, 300),
    ("", "guide stars only", False, 300),
])
def test_decode_wcsname(name, aligned, gaia, mas):
    d = archive.decode_wcsname(name)
    assert d["aligned_to"] == aligned and d["gaia"] is gaia and d["expected_abs_mas"] == mas
    if "GSC240" in name or "HSC30" in name:
        assert "a-priori" in d["method"]
    if "SVM" in name:
        assert "single visit" in d["method"]


def test_wcs_provenance_and_missing_wcs(tmp_path):
    good, nowcs = tmp_path / "good_drz.fits", tmp_path / "nowcs_drz.fits"
    good.write_bytes(fits_bytes())
    nowcs.write_bytes(fits_bytes(wcs=False, wcsname=None))
    prov = archive.provenance_table([good, nowcs])
    g, n = prov[0], prov[1]
    assert g["has_celestial_wcs"] and g["gaia"] and g["aligned_to"] == "Gaia DR3"
    assert g["rms_ra_mas"] == pytest.approx(5.1) and g["n_matches"] == 77 and g["n_exposures"] == 4
    assert g["pixel_scale"] == pytest.approx(0.05) and g["filter"] == "F606W" and g["instrument"] == "ACS/WFC"
    assert g["epoch"] == pytest.approx(2004.0, abs=0.1)
    assert "aligned to Gaia DR3" in g["provenance"] and "77 matches" in g["provenance"] and "~10 mas" in g["provenance"]
    assert not n["has_celestial_wcs"] and n["provenance"].startswith("no celestial WCS")
    assert prov["rms_ra_mas"].unit == "mas"
    products = Table({"product_id": ["a", "b"], "instrument": ["ACS/WFC"] * 2, "filter": ["F606W"] * 2,
                      "epoch": [2004.0] * 2, "pixel_scale": [0.05] * 2, "rank": [2, 1]})
    manifest = Table({"file": [nowcs.name, good.name], "path": [str(nowcs), str(good)]})
    with pytest.warns(archive.ArchiveWarning, match="without a celestial WCS"):
        images = archive.images_for_config(products, manifest, prov)
    assert [i["product_id"] for i in images] == ["b"] and images[0]["path"] == str(good)
    with pytest.raises(WorkbookError, match="none of the downloaded images has a celestial WCS"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", archive.ArchiveWarning)
        archive.images_for_config(products[:1], manifest[:1], prov)


# ----------------------------------------------------------------------------------------
# reference catalogs
# ----------------------------------------------------------------------------------------

def test_hsc_recorded_and_cached(recorded, tmp_path, monkeypatch):
    hsc = archive.query_hsc((322.49324, 12.16683), 2.0, cache=tmp_path)
    assert {"MatchID", "MatchRA", "MatchDec", "DSigma", "NumImages"} <= set(hsc.colnames)
    assert len(hsc) == 28 and (tmp_path / "hsc.ecsv").exists()
    assert hsc.meta["epoch"] == pytest.approx(2011.8, abs=0.1)  # StartMJD 55856 of the recorded M15 rows
    n_requests = len(recorded.requests)
    again = archive.query_hsc((322.49324, 12.16683), 2.0, cache=tmp_path)
    assert len(again) == 28 and len(recorded.requests) == n_requests  # read from the cache


def test_gaia_live_down_is_one_line(monkeypatch, sleeps, tmp_path):
    from astroquery.gaia import Gaia

    def down(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Network is unreachable")

    monkeypatch.setattr(Gaia, "launch_job_async", down)
    with pytest.raises(WorkbookError, match="Gaia archive query failed after 3 attempts.*live=False"):
        archive.query_gaia(DEMO, 2.5, live=True, cache=tmp_path)
    assert not (tmp_path / "gaia.ecsv").exists()


# ----------------------------------------------------------------------------------------
# the demo replay (small images to stay fast)
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_demo():
    return archive_replay.DemoReplay(size_pix=300)


@pytest.fixture
def demo(monkeypatch, small_demo, sleeps):
    monkeypatch.setattr(archive_replay, "replay_for", lambda coord: small_demo)
    return small_demo


def test_demo_replay_chain(demo, tmp_path):
    ranked = archive.find_imaging(DEMO, 2.5, epoch=2027.5, live=False, min_coverage=0.0)
    assert ranked.meta["source"].startswith("REPLAY")
    assert list(ranked["instrument"]) == ["ACS/WFC", "ACS/WFC", "NIRCAM"]
    assert ranked["contains_centre"].all()
    products = archive.select_products(ranked, max_products=3)
    # the member exposures MAST lists are those the drizzled bed made each product from (tiles x dither)
    from helpers.simulate.mosaic import member_names

    assert list(products["n_exposures"]) == [len(member_names(s)) for s in demo.field[1]] == [4, 4, 3]
    assert all(f.endswith(("_drc.fits", "_i2d.fits")) for f in products["productFilename"])
    man = archive.download(products, tmp_path)
    assert set(man["status"]) == {"downloaded"} and set(man["checksum"]) == {"verified"}
    assert all("REPLAY" in s for s in man["source"])
    prov = archive.provenance_table(man["path"])
    assert prov["replay"].all() and prov["gaia"].all()
    assert all("SIMULATED REPLAY" in p for p in prov["provenance"])
    refined = archive.refine_ranking(ranked, products, prov)
    assert set(refined["gaia_aligned"]) == {"yes"}
    images = archive.images_for_config(products, man, prov)
    assert [i["rank"] for i in images] == [1, 2, 3] and images[0]["wcsname"]
    n = len(demo.downloads)
    assert set(archive.download(products, tmp_path)["status"]) == {"cached"} and len(demo.downloads) == n


def test_demo_reference_catalogs(demo, tmp_path):
    from helpers import simulate

    gaia = archive.query_gaia(DEMO, 2.5, live=False, cache=tmp_path)
    hsc = archive.query_hsc(DEMO, 2.5, live=False, cache=tmp_path)
    assert len(gaia) > 5 and {"pmra", "pmra_error", "ref_epoch"} <= set(gaia.colnames)
    assert "REPLAY" in gaia.meta["source"] and "REPLAY" in hsc.meta["source"]
    assert (tmp_path / "gaia.ecsv").exists() and (tmp_path / "hsc.ecsv").exists()
    # HSC-like errors against the truth at the HSC epoch: DSigma (2-10 mas) is the scatter of the
    # detections, so the match (mean) position is off by DSigma / sqrt(NumImages - 1), as in HSC v3
    truth, specs = demo.field
    epoch = np.mean([s.epoch for s in specs if s.instrument != "NIRCAM"])
    ids = np.asarray(hsc["MatchID"]) - 90_000_000
    t = truth[np.searchsorted(truth["id"], ids)]
    dt = epoch - truth.meta["ref_epoch"]
    dec_true = np.asarray(t["dec"]) + np.asarray(t["pmdec"]) * dt / 3.6e6
    ddec = (np.asarray(hsc["MatchDec"]) - dec_true) * 3.6e6
    pull = ddec / (np.asarray(hsc["DSigma"]) / np.sqrt(np.asarray(hsc["NumImages"]) - 1))
    sigma = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.85 <= sigma <= 1.15 and hsc.meta["epoch"] == pytest.approx(epoch, abs=0.01)
    assert np.all((hsc["DSigma"] >= 2) & (hsc["DSigma"] <= 10))
    # the cache answers the second time
    assert len(archive.query_hsc(DEMO, 2.5, live=False, cache=tmp_path)) == len(hsc)
    assert simulate  # the replay is built on helpers.simulate


def test_demo_replay_serves_the_members_the_product_was_drizzled_from(demo, tmp_path):
    """The demo's member exposures are the drizzled bed's own (one render per product makes the product and
    them), marked as a simulated replay, and carry the product header's known WCS error, so a star's true
    pixel in the product maps through both headers onto the detector pixel it was rendered at."""
    from helpers import simulate
    from helpers.simulate.mosaic import member_names

    ranked = archive.find_imaging(DEMO, 2.5, epoch=2027.5, live=False, min_coverage=0.0)
    products = archive.select_products(ranked, max_products=3)
    manifest = archive.download(products, tmp_path)
    members = archive.find_members(products, manifest)
    truth, specs = demo.field
    by_name = {s.name: s for s in specs}
    for pid in products["product_id"]:
        spec = by_name[str(pid)]
        kind = "cal" if spec.instrument == "NIRCAM" else "flc"
        mine = members[np.asarray(members["product_id"]).astype(str) == str(pid)]
        assert list(mine["productFilename"]) == [f"{root}_{kind}.fits" for root in member_names(spec)]
    assert all(str(d).startswith("SIMULATED REPLAY member exposure (rendered") for d in members["description"])
    got = archive.download(members, tmp_path)
    assert set(got["status"]) == {"downloaded"} and set(got["checksum"]) == {"verified"}
    assert sorted(demo.renders) == sorted(s.name for s in specs)  # once each, product and members together
    for spec in (specs[0], specs[2]):  # ACS/WFC (two chips per flc) and NIRCam (cal)
        bed = simulate.make_image(truth, spec)  # an independent render: the same pixels (deterministic)
        with fits.open(tmp_path / f"{spec.name}_{'i2d' if spec.instrument == 'NIRCAM' else 'drc'}.fits") as h:
            assert np.array_equal(h["SCI"].data, bed.sci, equal_nan=True)
            header_wcs = WCS(h["SCI"].header)
        pts = bed.truth[np.asarray(bed.truth["kind"]).astype(str) != "galaxy"]
        ra, dec = header_wcs.wcs_pix2world(pts["x"], pts["y"], 0)  # the header's sky of each true pixel
        chips = 0
        for e in bed.exposures:
            with fits.open(tmp_path / f"{e.spec.name}_{'cal' if spec.instrument == 'NIRCAM' else 'flc'}.fits") as h:
                assert h[0].header["REPLAY"].startswith("SIMULATED REPLAY") and h[0].header["SIMULATE"]
                assert h[0].header["EXPTIME"] == pytest.approx(e.spec.exptime)
                sci = [x for x in h if x.name == "SCI" and x.header.get("CCDCHIP", 1) == e.header.get("CCDCHIP", 1)]
                assert len(sci) == 1 and sci[0].data.shape == tuple(e.spec.shape)
                if spec.instrument != "NIRCAM":  # real flc layout: chip 2 in SCI,1, chip 1 in SCI,2
                    assert sci[0].ver == (1 if e.header["CCDCHIP"] == 2 else 2)
                wcs = WCS(sci[0].header, h)
            where = {int(i): k for k, i in enumerate(e.truth["id"])}
            rows = np.flatnonzero(np.isin(pts["id"], e.truth["id"]))
            at = np.array([where[int(i)] for i in pts["id"][rows]], int)
            assert rows.size >= 3
            x, y = wcs.all_world2pix(ra[rows], dec[rows], 0, tolerance=1e-10, maxiter=50)
            assert np.max(np.hypot(x - e.truth["x"][at], y - e.truth["y"][at])) < 1e-4
            # and not by chance: the true detector WCS puts the header's sky off by the known error
            xt, yt = e.wcs.all_world2pix(ra[rows], dec[rows], 0, tolerance=1e-10, maxiter=50)
            assert np.median(np.hypot(xt - e.truth["x"][at], yt - e.truth["y"][at])) > 0.02
            chips += 1
        assert chips == len(bed.exposures) == (1 if spec.instrument == "NIRCAM" else 2) * len(member_names(spec))


def test_demo_replay_never_serves_another_field(small_demo, tmp_path, sleeps):
    """Simulated files reach the demo field only: another field offline is refused before any request, and
    a file the demo does not list is a 404, not a simulation."""
    with pytest.raises(WorkbookError, match=r"only the demo field near the HUDF \(.*\) is replayed"):
        archive_replay.replay_for((150.1, 2.2))
    products = Table({"obsID": ["1"], "product_id": ["j8xi01010"], "productFilename": ["j8xi01010_drc.fits"],
                      "filter": ["F814W"]}, meta={"live": False, "center_ra": 150.1, "center_dec": 2.2})
    with pytest.raises(WorkbookError, match=r"only the demo field near the HUDF \(.*\) is replayed"):
        archive.find_members(products)
    renders = list(small_demo.renders)
    with pytest.raises(requests.exceptions.HTTPError, match="404 Not Found: j8xi01a1q_flc.fits .not part of the demo"):
        small_demo.write_file("j8xi01a1q_flc.fits", tmp_path / "j8xi01a1q_flc.fits")
    assert small_demo.renders == renders and not (tmp_path / "j8xi01a1q_flc.fits").exists()


def test_coverage_plot(demo):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.plotting.archive import plot_archive_coverage

    ranked = archive.find_imaging(DEMO, 2.5, live=False, min_coverage=0.0)
    fig = plot_archive_coverage(ranked, apa=None)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] > ax.get_xlim()[1]  # East to the left
    assert len(ax.patches) >= len(ranked) + 2
    assert "REPLAY" in ax.get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_select_products_hap_and_jwst_names(monkeypatch, sleeps):
    """Combined products win over HAP per-exposure drizzles; JWST exposures are counted once."""
    fields = json.loads(archive_replay.astroquery_test_data("products.json").read_text())["fields"]
    svm = "hst_12345_01_acs_wfc_f606w_jabc01"
    jw = "jw01180-o001_t001_nircam_clear-f200w"

    def row(obsid, obs_id, filename):
        return {"obsID": obsid, "obs_collection": "HST" if obsid == "1" else "JWST", "dataproduct_type": "image",
                "obs_id": obs_id, "description": "", "type": "S", "dataURI": f"mast:X/product/{filename}",
                "productType": "SCIENCE", "productGroupDescription": None, "productSubGroupDescription": "",
                "productDocumentationURL": None, "project": "", "prvversion": "", "productFilename": filename,
                "size": 5760, "_selected_": None}

    data = [row("1", svm, f"{svm}ab_drc.fits"), row("1", svm, f"{svm}_drc.fits"),
            row("1", svm, f"{svm}ab_flc.fits"), row("1", svm, f"{svm}ac_flc.fits"),
            row("2", jw, f"{jw}_i2d.fits")]
    data += [row("2", jw, f"jw01180001001_02101_0000{e}_nrc{d}_cal.fits") for e in (1, 2, 3) for d in ("a1", "a2", "b1")]
    answer = {"status": "COMPLETE", "msg": "", "fields": fields, "data": data,
              "paging": {"page": 1, "pageSize": len(data), "pagesFiltered": 1, "rows": len(data),
                         "rowsFiltered": len(data), "rowsTotal": len(data)}}
    archive_replay.RecordedReplay(overrides={"Mast.Caom.Products": answer}).install(monkeypatch)
    ranked = Table({"rank": [1, 2], "product_id": [svm, jw], "obsid": ["1", "2"], "instrument": ["ACS/WFC", "NIRCAM"],
                    "filter": ["F606W", "F200W"], "epoch": [2010.0, 2023.0], "pixel_scale": [0.04, 0.031],
                    "coverage": [1.0, 1.0], "gaia_aligned": ["expected"] * 2, "n_exposures": [-1, -1]})
    products = archive.select_products(ranked, max_products=2)
    assert list(products["productFilename"]) == [f"{svm}_drc.fits", f"{jw}_i2d.fits"]
    assert list(products["n_exposures"]) == [2, 3]


def test_grism_and_detection_images_are_not_candidates():
    caom = _synthetic_caom([
        ("HST", "WFC3/IR", "G141", "IB1A05010", MJD_2005, 4000, True),
        ("HST", "ACS/WFC", "G800L;CLEAR2L", "J8PU45010", MJD_2005, 4000, True),
        ("HLA", "ACS/WFC", "DETECTION", "hst_9978_01_acs_wfc_total", MJD_2005, 4000, True),
        ("HST", "WFC3/IR", "F160W", "IB1A06010", MJD_2005, 4000, True),
    ])
    assert list(archive.rank_candidates(caom, *DEMO)["filter"]) == ["F160W"]


def test_portal_timeout_is_retried_then_reported(monkeypatch, sleeps):
    """astroquery's own long-poll limit (PortalAPI.TIMEOUT) raises TimeoutError."""

    class Slow(archive_replay.RecordedReplay):
        def answer(self, service, params):
            raise TimeoutError("Timeout limit of 600 exceeded.")

    replay = Slow().install(monkeypatch)
    with pytest.raises(WorkbookError, match=r"failed after 3 attempts \(TimeoutError.*live=False"):
        archive.find_imaging(REC_CENTRE, 2.5)
    assert len(replay.requests) == 3


def test_archive_module_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, helpers.archive, helpers.archive.replay; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_coverage_against_given_msa_outline():
    """The real quadrant outline is passed in (archive sits upstream of helpers.msa)."""
    ra0, dec0 = DEMO
    cosd = math.cos(math.radians(dec0))
    # two 'quadrants' of 60" x 60" east and west of the centre
    quads = {f"Q{k}": (ra0 + np.array([s, s + 60, s + 60, s]) / 3600 / cosd,
                       dec0 + np.array([-30, -30, 30, 30]) / 3600) for k, s in ((1, 10), (2, -70))}
    quads["NRS_FULL_IFU"] = (np.array([0, 1, 1]), np.array([0, 0, 1]))  # ignored: not a quadrant
    east = "POLYGON ICRS {} {} {} {} {} {} {} {}".format(
        ra0 + 0.1 / cosd, dec0 - 0.1, ra0, dec0 - 0.1, ra0, dec0 + 0.1, ra0 + 0.1 / cosd, dec0 + 0.1)
    geom, kind = archive.msa_field_geometry(ra0, dec0, 0.0, outlines=quads)
    assert kind == "msa-model" and geom.area == pytest.approx(7200, rel=1e-3)
    cov, inside, _ = archive.footprint_coverage([east], ra0, dec0, field=geom)
    assert cov[0] == pytest.approx(0.5, abs=1e-3) and not inside[0]
    caom = _synthetic_caom([("HST", "ACS/WFC", "F606W", "J8PU42010", MJD_2005, 4000, True)])
    ranked = archive.rank_candidates(caom, ra0, dec0, apa=0.0, msa_outline=quads)
    assert ranked.meta["coverage_of"] == "msa-model" and ranked["coverage"][0] == pytest.approx(1.0)
    with pytest.raises(WorkbookError, match="outline is empty"):
        archive.msa_field_geometry(ra0, dec0, 0.0, outlines={})


def test_downloaded_product_without_celestial_wcs(recorded, tmp_path):
    """A replayed product whose header has no celestial WCS: kept (it is a valid file) but not used."""
    nowcs = fits_bytes(wcs=False, wcsname=None)
    recorded.files["u9o40504m_drz.fits"] = nowcs
    products = recorded_products(recorded, size=len(nowcs))
    manifest = archive.download(products, tmp_path)
    prov = archive.provenance_table(manifest["path"])
    assert not prov["has_celestial_wcs"][0] and "no celestial WCS" in prov["provenance"][0]
    with pytest.raises(WorkbookError, match="none of the downloaded images has a celestial WCS"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", archive.ArchiveWarning)
        archive.images_for_config(products, manifest, prov)
