"""Tests of helpers.export: MPT catalog format and round trip, MSATA candidates, regions, session.

Every bad input asserts the one-line WorkbookError and that nothing (not even a ``.part``
temporary file) is left in the destination directory.
"""

import json
import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table, MaskedColumn
import astropy.units as u

from helpers import export as ex
from helpers.errors import WorkbookError

RA0, DEC0 = 53.1625, -27.791417


def _catalog(n=2000, seed=0, ra0=RA0, dec0=DEC0, half_deg=0.03):
    rng = np.random.default_rng(seed)
    cosd = math.cos(math.radians(dec0))
    t = Table()
    t["id"] = np.arange(1, n + 1)
    t["ra"] = (ra0 + rng.uniform(-half_deg, half_deg, n) / cosd) % 360.0
    t["dec"] = dec0 + rng.uniform(-half_deg, half_deg, n)
    t["ra_err"] = rng.uniform(1, 8, n)
    t["dec_err"] = rng.uniform(1, 8, n)
    t["kind"] = np.where(rng.random(n) < 0.3, "point", "extended")
    t["flags"] = np.zeros(n, np.int64)
    t["flux"] = 10 ** rng.uniform(0, 3.5, n)
    return t


def _no_leftovers(directory, expected=()):
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(expected), names
    assert not any(n.endswith(".part") for n in names)


def _one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# ------------------------------------------------------------------ format and round trip

def test_mpt_format_header_and_columns(tmp_path):
    t = _catalog(50)
    t["mag_ta"] = ex.flux_to_abmag(t["flux"], 26.5)
    cand = ex.msata_candidates(t, n_min=0, isolation_radius_arcsec=0.1)
    m = ex.build_mpt_table(t, mag_ta=t["mag_ta"], mag_preimage=t["mag_ta"], candidates=cand,
                           preimage_filter="F814W", id_offset=1000)
    path = ex.write_mpt_catalog(m, tmp_path / "field.cat")
    lines = path.read_text().splitlines()
    # NRS_F110W: the header APT reads to offer MSATA reference-star bins (JDox)
    assert lines[0] == "# ID RA DEC Magnitude Stellarity Reference Sigma_mas Flags Mag_F814W NRS_F110W"
    assert len(lines) == 51
    fields = lines[1].split()
    assert len(fields) == 10
    assert fields[0] == "1001"  # id offset applied, integer
    assert len(fields[1].split(".")[1]) == 9 and len(fields[2].split(".")[1]) == 9  # >= 8 decimals
    back = ex.read_mpt_catalog(path)
    assert back.colnames[:3] == ["ID", "RA", "DEC"]
    assert back["ID"].dtype.kind == "i" and back["Reference"].dtype.kind == "i"
    assert back["Reference"].sum() == cand["selected"].sum() > 0
    assert set(np.asarray(back["Stellarity"])) <= {0.0, 1.0}
    np.testing.assert_allclose(back["NRS_F110W"], np.round(t["mag_ta"], 3), atol=1e-3)
    with pytest.raises(WorkbookError, match="not one of NIRSpec's MSATA filters"):
        ex.build_mpt_table(t, mag_ta=t["mag_ta"], ta_filter="F200W")


def test_round_trip_preserves_positions_and_ids(tmp_path):
    # field straddling RA = 0 and a high-Dec field: wrap and cos(Dec) handled
    for ra0, dec0 in ((0.01, 5.0), (210.0, 72.0), (RA0, DEC0)):
        t = _catalog(20000, seed=3, ra0=ra0, dec0=dec0, half_deg=0.4)
        t["id"] = np.random.default_rng(1).permutation(1_000_000)[:20000] + 1
        path = ex.write_mpt_catalog(t, tmp_path / f"rt_{ra0}.cat")
        back = ex.read_mpt_catalog(path)
        assert np.array_equal(np.asarray(back["ID"]), np.asarray(t["id"]))
        sep = SkyCoord(back["RA"], back["DEC"]).separation(SkyCoord(t["ra"] * u.deg, t["dec"] * u.deg))
        assert sep.to_value(u.mas).max() < 0.01  # 9 decimals: <= 0.002 mas; requirement 0.1 mas


def test_fk5_converted_and_unknown_frame_refused(tmp_path):
    t = _catalog(20)
    t.meta["frame"] = "fk5"
    ids, ra, dec, frame = ex.validate_mpt_table(t)
    want = SkyCoord(t["ra"] * u.deg, t["dec"] * u.deg, frame="fk5").icrs
    assert frame == "fk5"
    assert np.allclose(ra, want.ra.deg, atol=1e-12, rtol=0) and np.allclose(dec, want.dec.deg, atol=1e-12, rtol=0)
    t.meta["frame"] = "supergalactic-ish"
    with pytest.raises(WorkbookError) as exc:
        ex.write_mpt_catalog(t, tmp_path / "x.cat")
    assert "not supported" in _one_line(exc)
    _no_leftovers(tmp_path)
    # a SkyCoord column in another frame is converted
    g = Table({"id": [1, 2], "coord": SkyCoord([10.0, 10.01], [-50.0, -50.01], unit="deg", frame="galactic")})
    ids, ra, dec, frame = ex.validate_mpt_table(g)
    assert frame == "galactic"
    assert np.allclose(ra, g["coord"].icrs.ra.deg)


# ------------------------------------------------------------------ bad input

def _bad(mutate):
    t = _catalog(30)
    mutate(t)
    return t


@pytest.mark.parametrize("mutate, phrase", [
    (lambda t: t["id"].__setitem__(3, 5), "duplicate ID"),
    (lambda t: t["id"].__setitem__(0, 0), "outside MPT's range"),
    (lambda t: t["id"].__setitem__(0, -4), "outside MPT's range"),
    (lambda t: t["id"].__setitem__(0, 1_000_001), "outside MPT's range"),
    (lambda t: t["ra"].__setitem__(2, np.nan), "NaN/missing RA or Dec"),
    (lambda t: t["dec"].__setitem__(7, np.nan), "NaN/missing RA or Dec"),
    (lambda t: t.__setitem__("dec", MaskedColumn(t["dec"], mask=np.arange(len(t)) == 4)), "NaN/missing RA or Dec"),
    (lambda t: t["ra"].__setitem__(1, t["ra"][1] + 2.5), "MPT needs less than 1 deg"),
])
def test_bad_catalogs_refused_without_files(tmp_path, mutate, phrase):
    t = _bad(mutate)
    with pytest.raises(WorkbookError) as exc:
        ex.write_mpt_catalog(t, tmp_path / "bad.cat")
    assert phrase in _one_line(exc)
    _no_leftovers(tmp_path)


def test_none_positions_refused(tmp_path):
    t = Table({"id": [1, 2, 3], "ra": [53.1, None, 53.2], "dec": [-27.8, -27.8, -27.7]})
    with pytest.raises(WorkbookError) as exc:
        ex.write_mpt_catalog(t, tmp_path / "bad.cat")
    assert "RA" in _one_line(exc)
    _no_leftovers(tmp_path)


def test_existing_file_needs_overwrite(tmp_path):
    t = _catalog(10)
    path = ex.write_mpt_catalog(t, tmp_path / "a.cat")
    before = path.read_text()
    t["ra"] += 1e-4
    with pytest.raises(WorkbookError) as exc:
        ex.write_mpt_catalog(t, path)
    assert "overwrite=True" in _one_line(exc)
    assert path.read_text() == before
    _no_leftovers(tmp_path, ["a.cat"])
    ex.write_mpt_catalog(t, path, overwrite=True)
    assert path.read_text() != before
    with pytest.raises(WorkbookError) as exc:
        ex.write_ds9_circles(t["ra"], t["dec"], path)
    assert "overwrite=True" in _one_line(exc)
    _no_leftovers(tmp_path, ["a.cat"])


def test_unwritable_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(WorkbookError) as exc:
        ex.write_mpt_catalog(_catalog(10), blocker / "out.cat")
    assert "not a directory" in _one_line(exc)
    # permission denied at the final rename: nothing left behind
    import os

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", deny)
    out = tmp_path / "ro"
    out.mkdir()
    for write in (lambda p: ex.write_mpt_catalog(_catalog(10), p / "a.cat"),
                  lambda p: ex.write_ds9_circles([RA0, RA0 + 1e-3], [DEC0, DEC0], p / "a.reg")):
        with pytest.raises(WorkbookError) as exc:
            write(out)
        assert "permission denied" in _one_line(exc)
        _no_leftovers(out)


def test_reader_refuses_corrupt(tmp_path):
    p = tmp_path / "c.cat"
    p.write_text("1 2 3\n")
    with pytest.raises(WorkbookError) as exc:
        ex.read_mpt_catalog(p)
    assert "header" in _one_line(exc)
    p.write_text("# ID RA DEC\n1 53.1 -27.8\n2 53.1\n")
    with pytest.raises(WorkbookError) as exc:
        ex.read_mpt_catalog(p)
    assert "corrupt" in _one_line(exc)


# ------------------------------------------------------------------ MSATA candidates

def _msata_field():
    """Designed field: 12 good stars on a ring + every kind of reject."""
    rows = []
    cosd = math.cos(math.radians(DEC0))
    for k in range(12):  # good stars, spread on a 60" ring
        ang = 2 * math.pi * k / 12
        rows.append(dict(id=k + 1, dx=60 * math.cos(ang), dy=60 * math.sin(ang), kind="point", flags=0, mag=20.5 + 0.1 * k, err=3.0))
    rows += [
        dict(id=101, dx=0, dy=0, kind="extended", flags=0, mag=20.5, err=3.0),
        dict(id=102, dx=10, dy=0, kind="point", flags=1, mag=20.5, err=3.0),    # saturated
        dict(id=103, dx=20, dy=0, kind="point", flags=0, mag=20.5, err=25.0),   # sigma too large
        dict(id=104, dx=30, dy=10, kind="point", flags=0, mag=18.0, err=3.0),   # too bright
        dict(id=105, dx=30, dy=-10, kind="point", flags=0, mag=23.5, err=3.0),  # too faint
        dict(id=106, dx=-20, dy=0, kind="point", flags=0, mag=20.5, err=3.0),   # has a neighbour:
        dict(id=107, dx=-20.5, dy=0, kind="extended", flags=0, mag=21.0, err=9.0),  # 0.5" away, dm 0.5
        dict(id=108, dx=-30, dy=20, kind="point", flags=0, mag=20.8, err=3.0),  # faint neighbour only: usable
        dict(id=109, dx=-30.6, dy=20, kind="extended", flags=0, mag=25.5, err=9.0),
    ]
    t = Table(rows=[(r["id"], RA0 + r["dx"] / 3600 / cosd, DEC0 + r["dy"] / 3600, r["err"], r["err"],
                     r["kind"], r["flags"], r["mag"]) for r in rows],
              names=("id", "ra", "dec", "ra_err", "dec_err", "kind", "flags", "mag_ta"))
    return t


def test_msata_selection_and_reasons():
    t = _msata_field()
    c = ex.msata_candidates(t, ta_filter="F110W", readout="NRSRAPID")
    by_id = {int(r["id"]): r for r in c}
    assert 5 <= c.meta["n_selected"] <= 8
    assert c.meta["n_usable"] == 13  # 12 ring stars + 108
    assert "not point-like" in by_id[101]["reason"]
    assert "saturated" in by_id[102]["reason"]
    assert "sigma 25.0 mas > 10" in by_id[103]["reason"]
    assert "brighter than 19.5" in by_id[104]["reason"]
    assert "fainter than 22" in by_id[105]["reason"]
    assert "neighbour 0.50\"" in by_id[106]["reason"]
    assert by_id[108]["usable"]
    sel = c[c["selected"]]
    assert list(sel["rank"]) == list(range(1, len(sel) + 1))  # ranked, selected first
    assert all(r.startswith("recommended #") for r in sel["reason"])
    assert len(set(sel["quadrant"])) == 4  # spread over the field
    # spread: the recommended stars are far apart (ring radius 60")
    xy = np.column_stack(ex.tangent_plane_arcsec(sel["ra"], sel["dec"], RA0, DEC0))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(len(sel), 1)].min() > 25


def test_msata_other_window_and_outline():
    t = _msata_field()
    # a fainter window (user table): only the 4 faintest ring stars remain
    win = [{"ta_filter": "CLEAR", "readout": "NRSRAPID", "bright_mag": 21.25, "faint_mag": 23.4}]
    with pytest.raises(WorkbookError) as exc:
        ex.msata_candidates(t, ta_filter="CLEAR", readout="NRSRAPID", windows=win)
    msg = _one_line(exc)
    assert "usable MSATA reference star(s) (need >= 5)" in msg and "too bright for the window" in msg
    assert len(exc.value.candidates) == len(t)
    # an MSA outline covering the east half only rejects western stars
    cosd = math.cos(math.radians(DEC0))
    east = np.array([[RA0 + 5 / 3600 / cosd, DEC0 - 0.03], [RA0 + 0.05, DEC0 - 0.03],
                     [RA0 + 0.05, DEC0 + 0.03], [RA0 + 5 / 3600 / cosd, DEC0 + 0.03]])
    c = ex.msata_candidates(t, outlines=[east], on_too_few="warn", n_min=3)
    assert not c[c["id"] == 108]["usable"][0]
    assert "outside the MSA" in c[c["id"] == 108]["reason"][0]
    assert set(c[c["selected"]]["quadrant"]) == {"Q1"}


def test_msata_too_few_is_one_line_error():
    t = _msata_field()[:3]
    with pytest.raises(WorkbookError) as exc:
        ex.msata_candidates(t)
    msg = _one_line(exc)
    assert msg.startswith("only 3 usable MSATA reference star(s) (need >= 5)")
    assert "try another TA filter/readout" in msg
    c = ex.msata_candidates(t, on_too_few="warn")
    assert "warning" in c.meta and c["selected"].sum() == 3


def test_windows_table_and_user_override(tmp_path):
    assert ex.ta_magnitude_window("f110w", "nrsrapid")[:2] == (19.5, 22.0)
    with pytest.raises(WorkbookError) as exc:
        ex.ta_magnitude_window("F200W", "NRSRAPID")
    assert "no MSATA brightness window" in _one_line(exc)
    p = tmp_path / "w.csv"
    p.write_text("# from the ETC, 2026\nta_filter,readout,bright_mag,faint_mag\nF110W,NRSRAPID,20.0,23.0\n")
    b, f, src = ex.ta_magnitude_window("F110W", "NRSRAPID", windows=p)
    assert (b, f) == (20.0, 23.0) and src == str(p)


def test_zeropoints():
    zp, how = ex.ab_zeropoint({"PHOTFLAM": 7.8625e-20, "PHOTPLAM": 5921.1})
    assert abs(zp - 26.49) < 0.01 and "PHOTFLAM" in how
    zp, how = ex.ab_zeropoint({"BUNIT": "MJy/sr", "PIXAR_SR": 9.31e-14})
    assert abs(zp - (-2.5 * math.log10(9.31e-14 * 1e6 / 3631))) < 1e-9
    zp, how = ex.ab_zeropoint({}, instrument="ACS/WFC", filter_name="F814W")
    assert zp == 25.94 and "approximate" in how
    zp, how = ex.ab_zeropoint({}, instrument="WFPC2", filter_name="F300W")
    assert math.isnan(zp)
    assert np.isnan(ex.flux_to_abmag([-1.0], 25.0)[0])


# ------------------------------------------------------------------ regions

def test_ds9_circles_byte_identical_to_regions(tmp_path):
    from regions import Regions

    t = _catalog(300, seed=5)
    t["ra"][0] = 359.9999999999  # wraps like SkyCoord
    t["ra"][1] = 0.0
    t["dec"][2] = -1e-10 + 0 * t["dec"][2]
    ids = [str(i) for i in t["id"]]
    path = ex.write_ds9_circles(t["ra"], t["dec"], tmp_path / "s.reg", radius_arcsec=0.3, color="cyan", text=ids)
    regs = ex._circle_regions(np.asarray(t["ra"]), np.asarray(t["dec"]), 0.3, "cyan", ids)
    assert path.read_text() == Regions(regs).serialize(format="ds9")
    back = Regions.read(str(path), format="ds9")
    assert len(back) == 300 and str(back[5].meta["text"]) == ids[5]
    assert abs(back[5].radius.to_value(u.arcsec) - 0.3) < 1e-6
    # no labels, other radius
    path2 = ex.write_ds9_circles(t["ra"][:50], t["dec"][:50], tmp_path / "n.reg", radius_arcsec=1.0, color="red")
    assert path2.read_text() == Regions(ex._circle_regions(np.asarray(t["ra"][:50]), np.asarray(t["dec"][:50]),
                                                           1.0, "red")).serialize(format="ds9")
    # single circle: delegated to regions
    path3 = ex.write_ds9_circles([RA0], [DEC0], tmp_path / "one.reg", text=["7"])
    assert len(Regions.read(str(path3), format="ds9")) == 1


def test_outline_regions_written(tmp_path):
    from regions import Regions

    poly = np.array([[RA0, DEC0], [RA0 + 0.01, DEC0], [RA0 + 0.01, DEC0 + 0.01]])
    p = ex.write_regions(ex.outline_regions([poly, poly + 0.02]), tmp_path / "msa.reg")
    back = Regions.read(str(p), format="ds9")
    assert len(back) == 2 and back[1].meta["text"] == "Q2"
    p2 = ex.write_regions(ex.outline_regions([poly]), tmp_path / "msa.crtf", format="crtf")
    assert p2.read_text().startswith("#CRTF")
    assert ex._as_polygons({"Q1": SkyCoord(poly[:, 0], poly[:, 1], unit="deg")})[0].shape == (3, 2)
    assert ex._as_polygons([(poly[:, 0], poly[:, 1])])[0].shape == (3, 2)


# ------------------------------------------------------------------ session, upstream inputs

def test_session_roundtrip_and_recreate(tmp_path):
    from helpers import config

    cfg = config.create_field("sess-test", ra=RA0, dec=DEC0, workspace_root=tmp_path / "ws", epoch=2027.5)
    cfg.update(pointing={"ra": RA0, "dec": DEC0, "apa": 45.0, "filter": "F070LP"},
               extra={"images": [{"product_id": "hst_x", "wcsname": "FIT_SVM_GAIAeDR3", "provenance": "demo"}],
                      "astrometry": {"verdict": "meets 5-10 mas", "sigma_mas": 6.1}})
    out = cfg.subdir("export")
    cat = ex.write_mpt_catalog(_catalog(10), out / "a.cat")
    s = ex.write_session(out / "session.json", cfg, files={"mpt": cat}, msata={"n_selected": 6})
    rec = ex.read_session(s)
    assert rec["pointing"]["apa"] == 45.0 and rec["astrometry"]["sigma_mas"] == 6.1
    assert rec["images"][0]["wcsname"] == "FIT_SVM_GAIAeDR3"
    assert rec["files"]["mpt"]["bytes"] == cat.stat().st_size and len(rec["files"]["mpt"]["sha256"]) == 64
    assert rec["software"]["astropy"] and rec["software"]["regions"]
    json.dumps(rec)
    cfg2 = ex.recreate_field_from_session(s, workspace_root=tmp_path / "ws2")
    assert (cfg2.ra, cfg2.dec, cfg2.epoch, cfg2.pointing) == (cfg.ra, cfg.dec, cfg.epoch, cfg.pointing)
    with pytest.raises(WorkbookError):
        ex.write_session(out / "session.json", cfg)
    card = ex.summary_card({"name": cfg.name, "ra": cfg.ra, "dec": cfg.dec, "pointing": cfg.pointing},
                           "ACS/WFC F814W", cfg.extra["astrometry"], {"Sources exported": 10},
                           {"MPT catalog": cat}, {"n_selected": 6, "n_usable": 9, "ta_filter": "F110W",
                                                  "readout": "NRSRAPID", "window_ab": [19.5, 22.0]})
    assert "6.1 mas" in card and "a.cat" in card


def test_find_source_catalog(tmp_path):
    from helpers import config

    cfg = config.create_field("find-test", ra=RA0, dec=DEC0, workspace_root=tmp_path, epoch=2027.5)
    with pytest.raises(WorkbookError) as exc:
        ex.find_source_catalog(cfg)
    assert "run notebook 02" in _one_line(exc)
    cats = cfg.subdir("catalogs")
    for stem in ("a_f606w", "b_f814w"):
        _catalog(5).write(cats / f"sources_{stem}.ecsv", format="ascii.ecsv")
    cfg.update(extra={"images": [{"product_id": "b", "path": "archive/b_f814w.fits"}, {"path": "a_f606w.fits"}]})
    path, image = ex.find_source_catalog(cfg)
    assert path.name == "sources_b_f814w.ecsv" and image["product_id"] == "b"
    cfg.update(extra={"images": [{"product_id": "a_f606w", "path": "/elsewhere/a_f606w_drz.fits"}]})
    assert ex.find_source_catalog(cfg)[0].name == "sources_a_f606w.ecsv"  # matched on product_id
    cfg.update(extra={"images": []})
    assert ex.find_source_catalog(cfg) == (cats / "sources_a_f606w.ecsv", None)


def test_dict_outlines_and_upstream_msa():
    t = _msata_field()
    cosd = math.cos(math.radians(DEC0))
    big = np.array([[RA0 - 0.05, DEC0 - 0.05], [RA0 + 0.05, DEC0 - 0.05], [RA0 + 0.05, DEC0 + 0.05],
                    [RA0 - 0.05, DEC0 + 0.05], [RA0 - 0.05, DEC0 - 0.05]])  # closed polygon
    west = big.copy()
    west[1:3, 0] = RA0 - 5 / 3600 / cosd
    c = ex.msata_candidates(t, outlines={"Q3": west, "NRS_FULL_IFU": big}, n_min=3)
    assert set(c[c["selected"]]["quadrant"]) == {"Q3"}  # the IFU outline is not a quadrant
    assert ex.quadrant_outlines([big])["Q1"].shape == (5, 2)


def test_catalog_magnitudes_and_full_catalog():
    t = _catalog(40)
    t.meta.update(instrument="ACS/WFC", filter="F814W")
    mag_pre, mag_ta, zp, how = ex.catalog_magnitudes(t, header={"PHOTFLAM": 7.0e-20, "PHOTPLAM": 8045.0},
                                                     colour_offset=-0.5)
    assert np.allclose(mag_ta, mag_pre - 0.5) and "PHOTFLAM" in how
    _, _, zp2, how2 = ex.catalog_magnitudes(t)
    assert zp2 == 25.94 and "approximate" in how2
    t["mag_ta"] = mag_ta
    cand = ex.msata_candidates(t, n_min=0)
    mpt = ex.build_mpt_table(t, mag_ta=mag_ta, candidates=cand, id_offset=10)
    full = ex.full_catalog(t, mpt, cand, mag_pre=mag_pre, mag_ta=mag_ta)
    assert list(full["mpt_id"]) == list(t["id"] + 10)
    assert full["msata_reference"].sum() == cand["selected"].sum()
    assert all(r for r in full["msata_reason"])
    with pytest.raises(WorkbookError):
        ex.catalog_magnitudes(Table({"id": [1]}))


def test_astrometry_summary_and_round_trip_check(tmp_path):
    assert ex.astrometry_summary(None) == {"sigma_mas": None, "verdict": None, "sentence": None}
    assert ex.astrometry_summary({"sigma_cat_1d_mas": 4.2, "verdict": {"label": "optimal"}}) == \
        {"sigma_mas": 4.2, "verdict": "optimal", "sentence": None}
    rec = {"catalog": "x", "sigma_mas": 6.2, "verdict": "meets", "sentence": "6.2 mas meets 5-10 mas"}
    assert ex.astrometry_summary(rec)["sentence"] == rec["sentence"]
    t = _catalog(100)
    back = ex.read_mpt_catalog(ex.write_mpt_catalog(t, tmp_path / "r.cat"))
    err, same = ex.round_trip_check(t, back)
    assert err < 0.01 and same
    back["RA"][3] = back["RA"][3] + 1e-7  # deg: 0.36 mas in RA, 0.32 mas on the sky
    err, same = ex.round_trip_check(t, back)
    assert 0.3 < err < 0.4 and same


def test_shipped_window_csv_matches_builtin_table():
    from pathlib import Path

    csv_path = Path(__file__).resolve().parent.parent / "data" / "msata" / "brightness_windows.csv"
    rows = ex.load_brightness_windows(csv_path)
    got = {(r["ta_filter"], r["readout"]): (r["bright_mag"], r["faint_mag"]) for r in rows}
    want = {(r["ta_filter"], r["readout"]): (r["bright_mag"], r["faint_mag"]) for r in ex.MSATA_WINDOWS}
    assert got == want
