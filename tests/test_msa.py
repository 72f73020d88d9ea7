"""Validation of the shutter-accurate MSA model (helpers.msa) against pysiaf's own data."""

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
import astropy.units as u

from helpers import msa
from helpers.errors import WorkbookError

pysiaf = pytest.importorskip("pysiaf")
from pysiaf.utils import rotations  # noqa: E402

IDT_DIR = (Path(pysiaf.__file__).parent / "source_data" / "NIRSpec" / "delivery" / "test_data"
           / "apertures_testData")
HUDF = (53.1625, -27.791417)


@pytest.fixture(scope="module")
def idt_tables():
    return {q: fits.getdata(IDT_DIR / f"sky_fpa_projectionMSA_Q{q}.fits") for q in (1, 2, 3, 4)}


@pytest.fixture(scope="module")
def nrs_full_msa():
    return pysiaf.Siaf("NIRSpec")["NRS_FULL_MSA"]


# --- the model against the IDT per-shutter table ---------------------------------------------

@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_shutter_v2v3_reproduces_idt_table_to_1_mas(idt_tables, q):
    d = idt_tables[q]
    assert len(d) == 365 * 171
    v2, v3 = msa.shutter_v2v3(d["Q"], d["I"], d["J"], filter="CLEAR")
    err_mas = 1000 * np.hypot(v2 - 3600.0 * d["XPOSSKY"], v3 - 3600.0 * d["YPOSSKY"])
    print(f"Q{q}: max {err_mas.max():.3f} mas, rms {np.sqrt(np.mean(err_mas**2)):.3f} mas")
    assert err_mas.max() <= 1.0


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_msa_plane_grid_reproduces_idt_positions(idt_tables, q):
    d = idt_tables[q]
    x, y = msa.msa_xy_from_index(d["Q"], d["I"], d["J"])
    err_um = 1e6 * np.hypot(x - d["XPOSMSA"], y - d["YPOSMSA"])
    assert err_um.max() < 0.1


def test_siaf_polynomials_round_trip():
    x = np.linspace(-0.04, 0.04, 50)
    y = np.linspace(0.04, -0.04, 50)
    v2, v3 = msa.msa_xy_to_v2v3(x, y)
    xb, yb = msa.v2v3_to_msa_xy(v2, v3)
    assert np.max(np.hypot(xb - x, yb - y)) < 0.2e-6  # 0.2 um = 0.5 mas


def test_grid_constants_come_from_msa_plane_only():
    t = Table.read(msa.GRID_FILE)
    assert "XPOSMSA" in t.meta["source"] and "XPOSSKY" not in t.meta["source"]
    pitch_x = np.hypot(t["dx_di"], t["dy_di"]) * 1e6
    pitch_y = np.hypot(t["dx_dj"], t["dy_dj"]) * 1e6
    assert np.allclose(pitch_x, 105.0, atol=0.1) and np.allclose(pitch_y, 203.5, atol=0.2)


def test_model_sky_pitch_and_reference_point(nrs_full_msa):
    m = msa.get_model()
    assert 0.26 < np.median(m.pitch_disp) < 0.28 and 0.51 < np.median(m.pitch_spat) < 0.54
    # the grid straddles the SIAF reference point of NRS_FULL_MSA
    assert m.v2.min() < nrs_full_msa.V2Ref < m.v2.max()
    assert m.v3.min() < nrs_full_msa.V3Ref < m.v3.max()


def test_filters_shift_the_projection_a_little():
    clear = msa.shutter_v2v3(1, 100, 100, filter="CLEAR")
    f290 = msa.shutter_v2v3(1, 100, 100, filter="F290LP")
    shift_mas = 1000 * np.hypot(clear[0] - f290[0], clear[1] - f290[1])
    assert 1.0 < shift_mas < 60.0
    with pytest.raises(WorkbookError, match="filter 'F999W' has no MSA transform"):
        msa.shutter_v2v3(1, 1, 1, filter="F999W")


def test_corners_surround_the_centre():
    v2c, v3c = msa.shutter_corners_v2v3([1, 4], [1, 365], [1, 171])
    v2, v3 = msa.shutter_v2v3([1, 4], [1, 365], [1, 171])
    assert v2c.shape == (2, 4)
    assert np.allclose(v2c.mean(axis=-1), v2, atol=0.002) and np.allclose(v3c.mean(axis=-1), v3, atol=0.002)
    # open area on the sky ~0.20" x 0.46": diagonal ~0.50"
    diag = np.hypot(v2c[:, 2] - v2c[:, 0], v3c[:, 2] - v3c[:, 0])
    assert np.all((diag > 0.46) & (diag < 0.54))


def test_bad_indices_are_user_errors():
    with pytest.raises(WorkbookError, match="i must be between 1 and 365"):
        msa.shutter_v2v3(1, 366, 1)
    with pytest.raises(WorkbookError, match="quadrant must be between 1 and 4"):
        msa.shutter_v2v3(0, 1, 1)


# --- pointing against pysiaf's attitude transforms -------------------------------------------

@pytest.mark.parametrize("dec", [0.0, 60.0, -60.0, 89.0, -89.0])
@pytest.mark.parametrize("apa", [0.0, 137.3, 301.0])
def test_pointing_agrees_with_pysiaf_attitude(nrs_full_msa, dec, apa):
    ra = 150.0
    p = msa.MSAPointing(ra, dec, apa)
    ra_all, dec_all = p.shutter_sky()
    sl = (slice(None), slice(None, None, 5), slice(None, None, 5))
    m = msa.get_model()
    att = rotations.attitude(nrs_full_msa.V2Ref, nrs_full_msa.V3Ref, ra, dec, apa - nrs_full_msa.V3IdlYAngle)
    ap = pysiaf.Siaf("NIRSpec")["NRS_FULL_MSA"] if False else nrs_full_msa
    ap.set_attitude_matrix(att)
    ra_ref, dec_ref = ap.tel_to_sky(m.v2[sl].ravel(), m.v3[sl].ravel())
    sep = SkyCoord(ra_all[sl].ravel() * u.deg, dec_all[sl].ravel() * u.deg).separation(
        SkyCoord(np.asarray(ra_ref) * u.deg, np.asarray(dec_ref) * u.deg)).to_value(u.mas)
    assert sep.max() <= 1.0


def test_apa_is_the_position_angle_of_ideal_y():
    p = msa.MSAPointing(*HUDF, 45.0)
    ap = pysiaf.Siaf("NIRSpec")["NRS_FULL_MSA"]
    v2a, v3a = ap.idl_to_tel(0.0, 0.0)
    v2b, v3b = ap.idl_to_tel(0.0, 20.0)
    ra, dec = p.v2v3_to_sky([v2a, v2b], [v3a, v3b])
    c = SkyCoord(ra * u.deg, dec * u.deg)
    assert abs(c[0].position_angle(c[1]).deg - 45.0) < 1e-4
    assert c[0].separation(SkyCoord(*HUDF, unit="deg")).to_value(u.mas) < 1e-3


def test_v3pa_and_attitude_conversions():
    p = msa.MSAPointing(*HUDF, 45.0)
    assert p.v3pa == pytest.approx((45.0 - 138.5745697) % 360, abs=1e-6)
    q = msa.MSAPointing.from_v3pa(*HUDF, p.v3pa)
    assert q.apa == pytest.approx(45.0, abs=1e-9)
    r = msa.MSAPointing.from_attitude(p.attitude)
    assert (r.ra, r.dec, r.apa) == pytest.approx((p.ra, p.dec, p.apa), abs=1e-9)
    assert 0.0 <= p.v3pa_v1 < 360.0
    with pytest.raises(WorkbookError, match="attitude matrix has shape"):
        msa.MSAPointing.from_attitude(np.eye(2))


def test_apa_wraps_instead_of_failing():
    a = msa.MSAPointing(*HUDF, 405.0)
    b = msa.MSAPointing(*HUDF, -315.0)
    assert a.apa == pytest.approx(45.0) and b.apa == pytest.approx(45.0)
    assert np.allclose(a.shutter_sky(2, 10, 10), msa.MSAPointing(*HUDF, 45.0).shutter_sky(2, 10, 10))


def test_bad_pointing_values_are_user_errors():
    with pytest.raises(WorkbookError, match=r"dec = 91 deg is outside \[-90, 90\]"):
        msa.MSAPointing(10.0, 91.0, 0.0)
    with pytest.raises(WorkbookError, match="APA = nan"):
        msa.MSAPointing(10.0, 0.0, float("nan"))
    with pytest.raises(WorkbookError, match="ra = 'abc' is not a number"):
        msa.MSAPointing("abc", 0.0, 0.0)


# --- locate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("radec_apa", [(53.1625, -27.791417, 45.0), (10.0, 90.0, 12.0), (200.0, -89.0, 290.0)])
def test_locate_inverts_shutter_sky_for_every_shutter(radec_apa):
    p = msa.MSAPointing(*radec_apa)
    ra, dec = p.shutter_sky()
    t = p.locate(ra.ravel(), dec.ravel())
    q, j, i = np.indices(msa.SHAPE)
    assert np.array_equal(t["quadrant"], q.ravel() + 1)
    assert np.array_equal(t["i"], i.ravel() + 1)
    assert np.array_equal(t["j"], j.ravel() + 1)
    assert np.nanmax(np.abs(t["dx_disp"])) < 0.001 and np.nanmax(np.abs(t["dy_spat"])) < 0.001
    assert t["in_open"].all() and t["zone_tightly_constrained"].all()


def test_locate_offsets_and_centering_zones():
    p = msa.MSAPointing(*HUDF, 45.0)
    m = msa.get_model()
    q, i, j = 3, 200, 90
    # offsets along the dispersion direction (+i) and along the slit (+j), arcsec; zone half-sizes
    # at the nominal pitch: x 0.134/0.099/0.075/0.062/0.043, y 0.265/0.230/0.206/0.193/0.174
    v2, v3 = m.v2[q - 1, j - 1, i - 1], m.v3[q - 1, j - 1, i - 1]
    e_i = np.array([m.v2[q - 1, j - 1, i] - v2, m.v3[q - 1, j - 1, i] - v3])
    e_j = np.array([m.v2[q - 1, j, i - 1] - v2, m.v3[q - 1, j, i - 1] - v3])
    pts = []
    for dx, dy in [(0.0, 0.0), (0.085, 0.0), (0.0, 0.24), (0.12, 0.0), (0.035, 0.16)]:
        d = dx * e_i / np.linalg.norm(e_i) + dy * e_j / np.linalg.norm(e_j)
        pts.append((v2 + d[0], v3 + d[1]))
    ra, dec = p.v2v3_to_sky(*np.array(pts).T)
    t = p.locate(ra, dec)
    assert list(t["quadrant"]) == [3] * 5 and list(t["i"]) == [200] * 5 and list(t["j"]) == [90] * 5
    assert list(t["shutter_row"]) == [200] * 5 and list(t["shutter_column"]) == [90] * 5
    assert list(t["shutter_id"]) == [200 + 89 * 365] * 5
    assert t["dx_disp"][1] == pytest.approx(0.085, abs=0.003)
    assert t["dy_spat"][2] == pytest.approx(0.24, abs=0.01)
    assert t["best_zone"][0] == "Tightly Constrained"
    assert t["zone_entire_open_shutter_area"][1] and not t["zone_midpoint"][1]
    assert t["zone_unconstrained"][2] and not t["zone_entire_open_shutter_area"][2]
    # behind the bar: outside the open area but Unconstrained (JDox slit-loss page; vMPT)
    assert not t["in_open"][3] and t["zone_unconstrained"][3] and t["best_zone"][3] == "Unconstrained"
    assert t["best_zone"][4] == "Tightly Constrained"


def test_locate_outside_grid_and_in_gaps():
    p = msa.MSAPointing(*HUDF, 45.0)
    far = p.v2v3_to_sky(np.array([0.0, 378.56]), np.array([-700.0, -428.4]))  # far away; the central cross gap
    t = p.locate(*far)
    assert list(t["quadrant"]) == [0, 0] and list(t["i"]) == [0, 0] and list(t["state"]) == [-1, -1]
    assert not t["in_open"].any()
    with pytest.raises(WorkbookError, match="ra and dec have different lengths"):
        p.locate([1.0, 2.0], [1.0])


def test_constraint_table_is_nested_and_cited():
    xs = [c[1] for c in msa.CENTERING_CONSTRAINTS]
    ys = [c[2] for c in msa.CENTERING_CONSTRAINTS]
    assert xs == sorted(xs, reverse=True) and ys == sorted(ys, reverse=True)
    assert msa.constraint_names() == ["Unconstrained", "Entire Open Shutter Area", "Midpoint", "Constrained",
                                      "Tightly Constrained"]
    assert "vmpt" in msa.CENTERING_SOURCE.lower()
    # margins inset from the shutter pitch (0.2679" x 0.5294"), per axis, as hMPT/vMPT
    assert [round(0.2679 / 2 - x, 3) for x in xs] == [0.0, 0.035, 0.059, 0.072, 0.091]
    assert [round(0.5294 / 2 - y, 3) for y in ys] == [0.0, 0.035, 0.059, 0.072, 0.091]


def test_nod_moves_sources_by_one_shutter_along_the_slit():
    p = msa.MSAPointing(*HUDF, 45.0)
    ra, dec = p.shutter_sky(2, 150, 80)
    rows = [int(n.locate([ra], [dec])["j"][0]) for n in p.nod_pointings()]
    assert sorted(rows) == [79, 80, 81] and rows[0] == 80
    assert msa.slitlet_rows(80).tolist() == [79, 80, 81]


# --- operability -----------------------------------------------------------------------------

def test_shipped_operability_map_has_provenance():
    op = msa.load_operability()
    c = op.counts()
    assert sum(c.values()) == msa.N_SHUTTERS
    assert c["failed open"] > 0 and c["failed closed"] > 0
    assert "msaoper" in op.source
    assert (msa.DATA_DIR / "PROVENANCE.md").exists()


def test_operability_from_crds_json_and_ecsv(tmp_path):
    crds = {"meta": {"date": "2024-01-01"}, "msaoper": [
        {"Q": 1, "x": 10, "y": 20, "state": "closed", "TA state": "closed", "Internal state": "normal"},
        {"Q": 4, "x": 365, "y": 171, "state": "open", "TA state": "open", "Internal state": "normal"}]}
    (tmp_path / "jwst_nirspec_msaoper_9999.json").write_text(json.dumps(crds))
    op = msa.load_operability(tmp_path / "jwst_nirspec_msaoper_9999.json")
    assert op.state[0, 19, 9] == 1 and op.state[3, 170, 364] == 2 and op.counts()["operable"] == msa.N_SHUTTERS - 2
    t = Table({"quadrant": [2], "i": [5], "j": [6], "state": ["open"]})
    t.write(tmp_path / "ops.ecsv")
    assert msa.load_operability(tmp_path / "ops.ecsv").state[1, 5, 4] == 2
    # the shutter state appears in locate()
    p = msa.MSAPointing(*HUDF, 45.0)
    r = p.locate(*p.shutter_sky(1, 10, 20), operability=op)
    assert r["state"][0] == 1
    assert not msa.slitlet_ok(1, 10, 21, operability=op)[0] and msa.slitlet_ok(1, 10, 30, operability=op)[0]


def test_operability_bad_inputs(tmp_path):
    np.savez(tmp_path / "bad.npz", state=np.zeros((4, 365, 171), dtype=np.int8))
    with pytest.raises(WorkbookError, match=r"operability map has shape \(4, 365, 171\); it must be \(4, 171, 365\)"):
        msa.load_operability(tmp_path / "bad.npz")
    (tmp_path / "x.json").write_text('{"foo": 1}')
    with pytest.raises(WorkbookError, match="not a CRDS msaoper file"):
        msa.load_operability(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(WorkbookError, match="could not read operability map y.json"):
        msa.load_operability(tmp_path / "y.json")
    (tmp_path / "z.txt").write_text("1 2 3")
    with pytest.raises(WorkbookError, match="unknown format '.txt'"):
        msa.load_operability(tmp_path / "z.txt")
    with pytest.raises(WorkbookError, match="not found"):
        msa.load_operability(tmp_path / "missing.json")
    np.savez(tmp_path / "vals.npz", state=np.full((4, 171, 365), 7, dtype=np.int8))
    with pytest.raises(WorkbookError, match="values must be 0"):
        msa.load_operability(tmp_path / "vals.npz")


# --- outlines and image overlap ---------------------------------------------------------------

def test_outlines_include_quadrants_slits_and_ifu():
    p = msa.MSAPointing(*HUDF, 45.0)
    out = p.outlines_sky()
    assert {"Q1", "Q2", "Q3", "Q4", "NRS_S200A1_SLIT", "NRS_S1600A1_SLIT", "NRS_FULL_IFU"} <= set(out)
    ra, dec = out["NRS_S1600A1_SLIT"]
    c = SkyCoord(ra.mean() * u.deg, dec.mean() * u.deg)
    ap = pysiaf.Siaf("NIRSpec")["NRS_S1600A1_SLIT"]
    ref = SkyCoord(*p.v2v3_to_sky(ap.V2Ref, ap.V3Ref), unit="deg")
    assert c.separation(ref).arcsec < 1.0


def test_overlap_with_an_image():
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(HUDF)
    w.wcs.crpix = [1000.5, 1000.5]
    w.wcs.cdelt = [-0.1 / 3600, 0.1 / 3600]
    assert msa.footprint_overlap(msa.MSAPointing(*HUDF, 45.0), w, (2000, 2000)) > 0.3
    far = msa.MSAPointing(HUDF[0] + 1.0, HUDF[1], 45.0)
    assert msa.footprint_overlap(far, w, (2000, 2000)) == 0.0
    with pytest.raises(WorkbookError, match="does not overlap the image; move the pointing"):
        msa.require_overlap(far, w, (2000, 2000))


def test_siaf_quadrant_apertures_match_the_model():
    """NRS_FULL_MSA1..4 reference points are the central shutters (i=183, j=86); corners on our outline."""
    siaf = pysiaf.Siaf("NIRSpec")
    m = msa.get_model()
    for q in range(1, 5):
        ap = siaf[f"NRS_FULL_MSA{q}"]
        v2, v3 = msa.shutter_v2v3(q, 183, 86)
        assert np.hypot(v2 - ap.V2Ref, v3 - ap.V3Ref) < 0.005
        o2, o3 = m.outline_v2v3(q)
        for x, y in zip(*ap.corners("tel")):
            assert np.min(np.hypot(o2 - x, o3 - y)) < 0.1
