"""helpers.targets: every supported format and naming convention reads back to the known truth.

Fixtures are written on the fly in tmp_path from one truth table (ICRS positions near the
HUDF). Conversions are checked against astropy itself (the peer): sexagesimal strings made
by `astropy.coordinates.Angle.to_string`, FK5/Galactic/FK4 values made by SkyCoord.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.table import Table
import astropy.units as u

from helpers.errors import WorkbookError
from helpers.targets import TargetListWarning, parse_sexagesimal, read_target_list

N = 40
MAS = 1.0 / 3.6e6  # degrees


@pytest.fixture
def truth():
    rng = np.random.default_rng(14)
    t = Table()
    t["id"] = rng.permutation(np.arange(1, 5000))[:N]
    t["ra"] = 53.1625 + rng.uniform(-0.05, 0.05, N)
    t["dec"] = -27.7914 + rng.uniform(-0.05, 0.05, N)
    t["priority"] = rng.integers(1, 4, N)
    t["zphot"] = rng.uniform(0.5, 8.0, N)
    t["mag_f160w"] = rng.uniform(22, 29, N)
    return t


def _sep_mas(ra1, dec1, ra2, dec2):
    a = SkyCoord(np.asarray(ra1) * u.deg, np.asarray(dec1) * u.deg)
    b = SkyCoord(np.asarray(ra2) * u.deg, np.asarray(dec2) * u.deg)
    return a.separation(b).to_value(u.mas)


def _read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetListWarning)
        return read_target_list(path, **kw)


def _check_against_truth(t, truth, tol_mas=0.01):
    assert t["id"].dtype == np.int64 and t["id"].tolist() == truth["id"].tolist()
    assert t["ra"].unit == u.deg and t["dec"].unit == u.deg
    assert np.max(_sep_mas(t["ra"], t["dec"], truth["ra"], truth["dec"])) < tol_mas


def test_ecsv_with_units_and_all_columns_kept(tmp_path, truth):
    path = tmp_path / "targets.ecsv"
    src = truth.copy()
    src["ra"].unit = u.deg
    src["dec"].unit = u.deg
    src["flag"] = np.arange(N) % 3
    src.meta["frame"] = "icrs"
    src.write(path)
    t = read_target_list(path)  # frame stated: no warning expected
    _check_against_truth(t, truth, tol_mas=1e-6)
    info = t.meta["target_list"]
    assert info["format"] == "ecsv" and info["frame_in"] == "icrs"
    assert info["columns"] == {"id": "id", "ra": "ra", "dec": "dec", "priority": "priority", "redshift": "zphot"}
    # every other input column survives with its values
    assert t["mag_f160w"].tolist() == truth["mag_f160w"].tolist() and t["flag"].tolist() == src["flag"].tolist()
    assert np.allclose(t["redshift"], truth["zphot"])
    assert t["weight"].tolist() == (truth["priority"].max() + 1 - truth["priority"]).astype(float).tolist()


def test_ecsv_hourangle_unit_is_converted(tmp_path, truth):
    src = truth["id", "ra", "dec"]
    src["ra"] = (truth["ra"] / 15.0)
    src["ra"].unit = u.hourangle
    src["dec"].unit = u.deg
    src.meta["frame"] = "ICRS"
    src.write(tmp_path / "h.ecsv")
    _check_against_truth(read_target_list(tmp_path / "h.ecsv"), truth, tol_mas=1e-6)


def test_ecsv_skycoord_column_in_galactic(tmp_path, truth):
    sc = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).galactic
    src = Table({"ID": truth["id"], "pos": sc})
    src.write(tmp_path / "sc.ecsv")
    t = read_target_list(tmp_path / "sc.ecsv")
    _check_against_truth(t, truth, tol_mas=1e-3)
    assert t.meta["target_list"]["frame_in"] == "galactic"
    assert "pos" not in t.colnames and "pos_input" not in t.colnames  # the SkyCoord became ra/dec


def test_fits_table_in_a_later_hdu_with_tunit_radians(tmp_path, truth):
    cols = Table({"OBJID": truth["id"], "RA_ICRS": np.radians(truth["ra"]), "DE_ICRS": np.radians(truth["dec"]),
                  "PRIO": truth["priority"]})
    cols["RA_ICRS"].unit = u.rad
    cols["DE_ICRS"].unit = u.rad
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="IMG"),
                         fits.table_to_hdu(cols)])
    hdul.writeto(tmp_path / "t.fits")
    t = read_target_list(tmp_path / "t.fits")  # RA_ICRS names the frame: no warning
    _check_against_truth(t, truth, tol_mas=1e-3)
    assert t.meta["target_list"]["hdu"] == 2 and t.meta["target_list"]["columns"]["id"] == "OBJID"
    assert "priority" in t.colnames and "weight" in t.colnames


def test_fits_fk5_radesys_is_converted_to_icrs(tmp_path, truth):
    fk5 = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).transform_to("fk5")
    # the test has teeth only if FK5 and ICRS differ measurably here
    assert np.median(_sep_mas(fk5.ra.deg, fk5.dec.deg, truth["ra"], truth["dec"])) > 5
    hdu = fits.table_to_hdu(Table({"NUMBER": truth["id"], "RA": fk5.ra.deg, "DEC": fk5.dec.deg}))
    hdu.header["RADESYS"] = "FK5"
    hdu.header["EQUINOX"] = 2000.0
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "fk5.fits")
    with pytest.warns(TargetListWarning, match="FK5"):
        t = read_target_list(tmp_path / "fk5.fits")
    _check_against_truth(t, truth, tol_mas=1e-3)
    assert t.meta["target_list"]["frame_in"] == "fk5"
    assert any("FK5" in n and "ICRS" in n for n in t.meta["target_list"]["notes"])
    # the input FK5 values are kept under their own names, marked as input
    assert np.allclose(t["RA_input"], fk5.ra.deg)


def test_galactic_columns_without_ra_dec(tmp_path, truth):
    gal = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).galactic
    Table({"id": truth["id"], "GLON": gal.l.deg, "GLAT": gal.b.deg}).write(tmp_path / "g.csv")
    with pytest.warns(TargetListWarning, match="Galactic"):
        t = read_target_list(tmp_path / "g.csv")
    _check_against_truth(t, truth, tol_mas=1e-3)


def test_votable_with_fk5_coosys(tmp_path, truth):
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import CooSys

    fk5 = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).transform_to("fk5")
    vot = from_table(Table({"source_id": truth["id"], "RAJ2000": fk5.ra.deg, "DEJ2000": fk5.dec.deg}))
    vot.resources[0].coordinate_systems.append(CooSys(ID="J2000", system="eq_FK5", equinox="J2000"))
    vot.to_xml(str(tmp_path / "t.vot"))
    with pytest.warns(TargetListWarning, match="FK5"):
        t = read_target_list(tmp_path / "t.vot")
    _check_against_truth(t, truth, tol_mas=1e-3)
    assert t.meta["target_list"]["format"] == "votable"


def test_csv_sexagesimal_matches_astropy(tmp_path, truth):
    ra_s = Angle(truth["ra"], u.deg).to_string(unit=u.hourangle, sep=":", precision=7, pad=True)
    dec_s = Angle(truth["dec"], u.deg).to_string(unit=u.deg, sep=":", precision=6, alwayssign=True, pad=True)
    Table({"ID": truth["id"], "RA": ra_s, "DEC": dec_s, "rank": truth["priority"]}).write(tmp_path / "s.csv")
    with pytest.warns(TargetListWarning, match="no frame stated"):
        t = read_target_list(tmp_path / "s.csv")
    _check_against_truth(t, truth, tol_mas=0.01)  # 1e-7 s of time = 1.5 uas
    assert t["RA_input"].tolist() == list(ra_s)  # the text the planner gave is kept
    assert t.meta["target_list"]["columns"]["priority"] == "rank"


@pytest.mark.parametrize("text, hours", [("03:32:39.0", True), ("3h32m39.0s", True), ("3 32 39", True),
                                         ("-27:47:29.1", False), ("-00:30:00.5", False), ("+27d47m29.1s", False),
                                         ("-0 0 1.5", False), ("12.5", False)])
def test_parse_sexagesimal_agrees_with_astropy_angle(text, hours):
    expected = Angle(text, unit=u.hourangle if hours else u.deg).deg
    assert parse_sexagesimal([text], hours=hours)[0] == pytest.approx(expected, abs=1e-12)


def test_whitespace_hash_header_with_j2000_names(tmp_path, truth):
    lines = ["# OBJID RAJ2000 DEJ2000 z Weight"] + [
        f"{i} {r:.10f} {d:.10f} {z:.3f} {w}" for i, r, d, z, w in
        zip(truth["id"], truth["ra"], truth["dec"], truth["zphot"], truth["priority"])]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(TargetListWarning, match="RAJ2000/DEJ2000 taken as ICRS"):
        t = read_target_list(tmp_path / "t.txt")
    _check_against_truth(t, truth, tol_mas=0.01)
    info = t.meta["target_list"]
    assert info["format"] == "ascii" and info["columns"]["weight"] == "Weight"
    assert t["weight"].tolist() == truth["priority"].astype(float).tolist()  # a weight column is used as given
    assert "priority" not in t.colnames and info["weight_rule"].startswith("taken from")


def test_sextractor_numbered_header(tmp_path, truth):
    header = ["#   1 NUMBER                 Running object number",
              "#   2 ALPHA_J2000            Right ascension of barycenter (J2000)                      [deg]",
              "#   3 DELTA_J2000            Declination of barycenter (J2000)                          [deg]",
              "#   4 MAG_AUTO               Kron-like elliptical aperture magnitude                    [mag]",
              "#   5 FLAGS                  Extraction flags"]
    rows = [f"{i:10d} {r:15.10f} {d:+15.10f} {m:8.4f} {f:3d}" for i, r, d, m, f in
            zip(truth["id"], truth["ra"], truth["dec"], truth["mag_f160w"], np.arange(N) % 4)]
    (tmp_path / "sex.cat").write_text("\n".join(header + rows) + "\n")
    t = _read(tmp_path / "sex.cat")
    _check_against_truth(t, truth, tol_mas=0.01)
    assert t.meta["target_list"]["format"] == "sextractor"
    assert t.meta["target_list"]["columns"]["ra"] == "ALPHA_J2000"
    assert np.allclose(t["MAG_AUTO"], truth["mag_f160w"], atol=1e-4) and "FLAGS" in t.colnames


def test_mpt_catalog_written_by_export_reads_back(tmp_path, truth):
    from helpers.export import write_mpt_catalog

    mpt = Table({"ID": truth["id"], "RA": truth["ra"], "DEC": truth["dec"], "Magnitude": truth["mag_f160w"],
                 "Weight": truth["priority"].astype(float), "Redshift": truth["zphot"]})
    write_mpt_catalog(mpt, tmp_path / "mpt.cat")
    t = _read(tmp_path / "mpt.cat")
    _check_against_truth(t, truth, tol_mas=0.0026)  # 9 decimals: <= 0.0018 mas per axis, 0.0026 radial
    assert t.meta["target_list"]["format"] == "mpt"
    assert np.allclose(t["Magnitude"], truth["mag_f160w"], atol=1e-3)
    assert np.allclose(t["redshift"], truth["zphot"], atol=1e-4) and np.allclose(t["weight"], truth["priority"])


def test_explicit_column_names_and_frame(tmp_path, truth):
    fk5 = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).transform_to("fk5")
    Table({"tgt": truth["id"], "lon": fk5.ra.deg, "lat": fk5.dec.deg}).write(tmp_path / "x.csv")
    with pytest.warns(TargetListWarning, match="FK5"):
        t = read_target_list(tmp_path / "x.csv", id_col="TGT", ra_col="lon", dec_col="lat", frame="fk5")
    _check_against_truth(t, truth, tol_mas=1e-3)


def test_fk4_converted_only_when_asked(tmp_path, truth):
    fk4 = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg).transform_to("fk4")
    Table({"id": truth["id"], "RAB1950": fk4.ra.deg, "DEB1950": fk4.dec.deg}).write(tmp_path / "b.csv")
    with pytest.raises(WorkbookError, match="FK4/B1950.*frame='fk4'"):
        _read(tmp_path / "b.csv")
    with pytest.warns(TargetListWarning, match="FK4"):
        t = read_target_list(tmp_path / "b.csv", frame="fk4")
    _check_against_truth(t, truth, tol_mas=1e-3)  # astropy round trip at the same obstime


def test_module_respects_the_import_direction():
    """targets sits above astrometry and below msa/export: importing it pulls in neither, nor matplotlib."""
    code = ("import sys, helpers.targets; "
            "print(sorted(m for m in sys.modules if m in ('matplotlib', 'helpers.msa', 'helpers.export', "
            "'helpers.planning', 'helpers.widgets', 'helpers.plotting', 'helpers.chain')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docstring_examples_run():
    import doctest

    import helpers.targets.coords
    import helpers.targets.ids
    import helpers.targets.reader
    import helpers.targets.validate

    for module in (helpers.targets.coords, helpers.targets.ids, helpers.targets.reader, helpers.targets.validate):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


@pytest.mark.parametrize("use_ufuncs", [True, False])
def test_sexagesimal_both_code_paths_match_astropy_on_random_values(use_ufuncs, monkeypatch):
    """numpy >= 2.3 string ufuncs and the plain-Python fallback give astropy's answer."""
    import helpers.targets.coords as coords

    if use_ufuncs and not hasattr(np.strings, "partition"):
        pytest.skip("numpy < 2.3 has no np.strings.partition: only the fallback runs here")
    real = coords._split_fields
    monkeypatch.setattr(coords, "_split_fields", lambda values: real(values, use_ufuncs=use_ufuncs))
    rng = np.random.default_rng(3)
    ra = rng.uniform(0, 360, 300)
    dec = rng.uniform(-90, 90, 300)
    ra_text = list(Angle(ra, u.deg).to_string(unit=u.hourangle, sep="hms", precision=6))
    dec_text = list(Angle(dec, u.deg).to_string(unit=u.deg, sep=" ", precision=5, alwayssign=True))
    assert np.allclose(coords.parse_sexagesimal(ra_text, hours=True), Angle(ra_text, unit=u.hourangle).deg,
                       rtol=0, atol=1e-11)
    assert np.allclose(coords.parse_sexagesimal(dec_text, hours=False), Angle(dec_text, unit=u.deg).deg,
                       rtol=0, atol=1e-11)
    with pytest.raises(WorkbookError, match="first at data row 2 .'12:x:00'"):
        coords.parse_sexagesimal(["12:00:00", "12:x:00", "1:2:3:4"], hours=True)


def test_fits_with_several_tables_says_which_and_hdu_selects(tmp_path, truth):
    first = Table({"id": truth["id"], "ra": truth["ra"], "dec": truth["dec"]})
    second = Table({"id": truth["id"][:3], "ra": truth["ra"][:3], "dec": truth["dec"][:3]})
    empty = fits.BinTableHDU.from_columns([fits.Column(name="x", format="D", array=np.zeros(0))])
    hdus = [fits.PrimaryHDU(), empty, fits.table_to_hdu(first), fits.table_to_hdu(second)]
    for h in hdus[2:]:
        h.header["RADESYS"] = "ICRS"
    fits.HDUList(hdus).writeto(tmp_path / "multi.fits")
    with pytest.warns(TargetListWarning, match="3 table HDUs: read HDU 2"):
        t = read_target_list(tmp_path / "multi.fits")
    _check_against_truth(t, truth, tol_mas=1e-6)
    assert len(read_target_list(tmp_path / "multi.fits", hdu=3)) == 3
    with pytest.raises(WorkbookError, match="HDU 0 .* is not a table"):
        read_target_list(tmp_path / "multi.fits", hdu=0)


def test_whitespace_table_with_plain_header_line(tmp_path, truth):
    lines = ["id ra dec"] + [f"{i} {r:.10f} {d:.10f}" for i, r, d in zip(truth["id"], truth["ra"], truth["dec"])]
    (tmp_path / "plain.dat").write_text("\n".join(lines) + "\n")
    t = _read(tmp_path / "plain.dat")
    _check_against_truth(t, truth, tol_mas=0.01)
    assert t.meta["target_list"]["format"] == "ascii"


def test_hash_header_below_description_lines(tmp_path, truth):
    lines = ["# HDF-S targets for NIRSpec, selected 2026-11-30", "# selection: photo-z > 6, see the paper",
             "# id ra dec zphot"] + [f"{i} {r:.10f} {d:.10f} {z:.3f}" for i, r, d, z in
                                     zip(truth["id"], truth["ra"], truth["dec"], truth["zphot"])]
    (tmp_path / "described.txt").write_text("\n".join(lines) + "\n")
    t = _read(tmp_path / "described.txt")
    _check_against_truth(t, truth, tol_mas=0.01)
    assert np.allclose(t["redshift"], truth["zphot"], atol=1e-3)


@pytest.mark.parametrize("ra_unit, ra_scale", [("DEG", 1.0), ("degrees", 1.0), ("h", 1 / 15.0), ("hourangle", 1 / 15.0),
                                               ("arcsec", 3600.0)])
def test_units_spelled_as_catalogs_spell_them(tmp_path, truth, ra_unit, ra_scale):
    ra = fits.Column(name="RA", format="D", unit=ra_unit, array=np.asarray(truth["ra"]) * ra_scale)
    dec = fits.Column(name="DEC", format="D", unit="DEG", array=np.asarray(truth["dec"]))
    ids = fits.Column(name="ID", format="K", array=np.asarray(truth["id"]))
    hdu = fits.BinTableHDU.from_columns([ids, ra, dec])
    hdu.header["RADESYS"] = "ICRS"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "u.fits")
    _check_against_truth(read_target_list(tmp_path / "u.fits"), truth, tol_mas=1e-3)


def test_string_column_with_d_m_s_unit_is_degrees(tmp_path, truth):
    text = Angle(truth["ra"], u.deg).to_string(unit=u.deg, sep=" ", precision=6)
    t = Table({"id": truth["id"], "RA": text, "DEC": truth["dec"]})
    t["RA"].unit = '"d:m:s"'
    t["DEC"].unit = u.deg
    t.meta["frame"] = "icrs"
    t.write(tmp_path / "dms.ecsv")
    _check_against_truth(read_target_list(tmp_path / "dms.ecsv"), truth, tol_mas=0.01)


def test_ipac_table(tmp_path, truth):
    src = Table({"objid": truth["id"], "ra": truth["ra"], "dec": truth["dec"]})
    src["ra"].unit = src["dec"].unit = u.deg
    src.write(tmp_path / "irsa.tbl", format="ascii.ipac")
    t = _read(tmp_path / "irsa.tbl")
    _check_against_truth(t, truth, tol_mas=0.01)
    assert t.meta["target_list"]["format"] == "ipac"
