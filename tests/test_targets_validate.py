"""helpers.targets: bad input gives one actionable line; IDs MPT cannot take are renumbered with a mapping."""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from helpers.errors import WorkbookError
from helpers.targets import (TargetListWarning, read_target_list, weight_from_priority, write_id_mapping)


def _csv(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(n=5, ra0=53.16, dec0=-27.79):
    return "".join(f"{i + 1},{ra0 + 0.001 * i:.6f},{dec0 + 0.001 * i:.6f}\n" for i in range(n))


def _read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetListWarning)
        return read_target_list(path, **kw)


def _one_line_error(path, match, **kw):
    with pytest.raises(WorkbookError, match=match) as info:
        _read(path, **kw)
    message = str(info.value)
    assert "\n" not in message and ";" in message, message  # what was wrong; what to do
    return message


# ---------------------------------------------------------------------------------------------
# refusals, one line each
# ---------------------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.csv", "not found; check the path")


def test_directory_instead_of_file(tmp_path):
    _one_line_error(tmp_path, "is a directory")


def test_fits_image_without_table(tmp_path):
    fits.PrimaryHDU(np.zeros((8, 8))).writeto(tmp_path / "img.fits")
    _one_line_error(tmp_path / "img.fits", "holds no table")


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
def test_binary_garbage_and_unreadable_text(tmp_path):
    (tmp_path / "x.dat").write_bytes(b"\x00\x01\x02garbage" * 50)
    _one_line_error(tmp_path / "x.dat", "binary file that is not FITS")
    (tmp_path / "broken.fits").write_bytes(b"SIMPLE  = T" + b"\x00" * 100)
    _one_line_error(tmp_path / "broken.fits", "cannot (open|read)")


def test_unknown_format_and_frame(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n" + _rows())
    _one_line_error(path, "format 'xls' is not supported", format="xls")
    _one_line_error(path, "frame 'ecliptic' is not supported", frame="ecliptic")


def test_no_recognisable_ra_dec_lists_columns_and_names_tried(tmp_path):
    path = _csv(tmp_path, "ident,x,y,flux\n1,10,20,3\n")
    message = _one_line_error(path, "no RA column recognised")
    assert "ident, x, y, flux" in message and "raj2000" in message and "ra_col=" in message


def test_explicit_column_that_does_not_exist(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n" + _rows())
    message = _one_line_error(path, "ID column 'objid' is not in the table", id_col="objid")
    assert "id, ra, dec" in message


def test_non_angle_unit(tmp_path):
    t = Table({"id": [1, 2], "ra": [53.1, 53.2], "dec": [-27.8, -27.7]})
    t["ra"].unit = "m"
    t.write(tmp_path / "u.ecsv")
    _one_line_error(tmp_path / "u.ecsv", "unit m, which is not an angle")


def test_garbage_sexagesimal_names_the_row(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n1,03:32:39.0,-27:47:29\n2,03:32:40.0,-27:47:30\n3,03:3x:41,-27:47:31\n")
    _one_line_error(path, "first at data row 3 \\('03:3x:41'\\)")
    path = _csv(tmp_path, "id,ra,dec\n1,03:32:39.0,-27:47:29\n2,03:75:40.0,-27:47:30\n", name="m.csv")
    _one_line_error(path, "data row 2")  # 75 minutes is not sexagesimal


def test_nan_and_missing_positions_name_rows_and_ids(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n11,53.16,-27.79\n12,nan,-27.78\n13,53.17,\n")
    message = _one_line_error(path, "2 target\\(s\\) have missing or NaN RA/Dec at data row\\(s\\) 2, 3")
    assert "IDs 12, 13" in message


def test_out_of_range_coordinates(tmp_path):
    _one_line_error(_csv(tmp_path, "id,ra,dec\n1,53.16,-27.79\n2,53.16,-97.0\n"), "Dec value\\(s\\) outside .* row\\(s\\) 2")
    _one_line_error(_csv(tmp_path, "id,ra,dec\n1,-3.0,-27.79\n", name="r.csv"), "RA value\\(s\\) outside")


def test_duplicate_ids_are_named(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n7,53.16,-27.79\n8,53.161,-27.79\n7,53.162,-27.79\n")
    _one_line_error(path, "1 duplicate ID\\(s\\) in column 'id' \\(7 at rows 1, 3\\)")
    path = _csv(tmp_path, "OBJID,ra,dec\nA,53.16,-27.79\nA,53.161,-27.79\n", name="s.csv")
    _one_line_error(path, "duplicate ID")  # string IDs too: the mapping would be ambiguous


def test_weak_id_names_are_ids_only_when_unique(tmp_path):
    t = _read(_csv(tmp_path, "object,ra,dec\ngalaxy,53.16,-27.79\ngalaxy,53.161,-27.79\n"))
    assert t["id"].tolist() == [1, 2] and t["object"].tolist() == ["galaxy", "galaxy"]
    assert any("'object' has repeated values" in n for n in t.meta["target_list"]["notes"])
    t = _read(_csv(tmp_path, "Name,ra,dec\nHDFS-1,53.16,-27.79\nHDFS-2,53.161,-27.79\n", name="n.csv"))
    assert t["id_original"].tolist() == ["HDFS-1", "HDFS-2"] and t.meta["target_list"]["columns"]["id"] == "Name"


def test_missing_id_in_a_row(tmp_path):
    _one_line_error(_csv(tmp_path, "id,ra,dec\n1,53.16,-27.79\n,53.161,-27.79\n"), "have no ID .*data rows 2")


def test_span_beyond_mpt_limit(tmp_path):
    path = _csv(tmp_path, "id,ra,dec\n1,53.0,-27.79\n2,55.5,-27.79\n")
    _one_line_error(path, "extends 1.1. deg from its centre.*less than 1 deg")
    t = _read(path, max_radius_deg=None)  # asked for explicitly: read anyway
    assert t.meta["target_list"]["radius_deg"] == pytest.approx(1.106, abs=0.01)


def test_b1950_by_fits_equinox_is_refused(tmp_path):
    hdu = fits.table_to_hdu(Table({"id": [1, 2], "ra": [52.6, 52.61], "dec": [-27.9, -27.91]}))
    hdu.header["EQUINOX"] = 1950.0
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "b.fits")
    _one_line_error(tmp_path / "b.fits", "FK4/B1950")


def test_empty_list_and_priority_problems(tmp_path):
    _one_line_error(_csv(tmp_path, "id,ra,dec\n"), "no rows")
    _one_line_error(_csv(tmp_path, "id,ra,dec,priority\n1,53.16,-27.79,1\n2,53.161,-27.79,\n", name="p.csv"),
                    "missing or non-positive priority .*data rows 2")


def test_failure_leaves_no_file_behind(tmp_path):
    before = sorted(tmp_path.iterdir())
    path = _csv(tmp_path, "id,ra,dec\n7,53.16,-27.79\n7,53.161,-27.79\n")
    with pytest.raises(WorkbookError):
        _read(path)
    assert sorted(tmp_path.iterdir()) == sorted(before + [path])


# ---------------------------------------------------------------------------------------------
# IDs MPT cannot take: renumbered, with a mapping
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ids, reason", [
    (["HDFS-0042", "HDFS-0043", "HDFS-0100"], "not integers"),
    (["4658337209523264128", "4658337209523264129", "4658337209523264999"], "outside MPT's 1-1,000,000"),
    (["0", "1", "2"], "outside MPT's"),
    (["1.5", "2", "3"], "not integers"),
])
def test_ids_mpt_cannot_take_are_renumbered(tmp_path, ids, reason):
    body = "".join(f"{i},{53.16 + 0.001 * k},{-27.79}\n" for k, i in enumerate(ids))
    path = _csv(tmp_path, "source_id,ra,dec\n" + body)
    with pytest.warns(TargetListWarning, match="numbered 1..3"):
        t = read_target_list(path, frame="icrs")
    assert t["id"].tolist() == [1, 2, 3]
    info = t.meta["target_list"]
    assert reason in info["id_mapping"]["reason"] and info["id_mapping"]["column"] == "source_id"
    assert [str(v) for v in t["id_original"]] == [str(Table.read(path)["source_id"][k]) for k in range(3)]
    out = write_id_mapping(t, tmp_path / "map.csv")
    back = Table.read(out, format="ascii.csv")
    assert back["id"].tolist() == [1, 2, 3]
    assert [str(v) for v in back["id_original"]] == [str(v) for v in t["id_original"]]
    with pytest.raises(WorkbookError, match="already exists; pass overwrite=True"):
        write_id_mapping(t, tmp_path / "map.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv", "t.csv"]  # atomic: no temporary left


def test_valid_ids_are_kept_and_have_no_mapping(tmp_path):
    t = _read(_csv(tmp_path, "NUMBER,ra,dec\n" + "".join(f"{k * 1000},{53.16 + 1e-3 * k},-27.79\n" for k in (1, 2, 1000))))
    assert t["id"].tolist() == [1000, 2000, 1_000_000]
    assert t.meta["target_list"]["id_mapping"] is None and "id_original" not in t.colnames
    with pytest.raises(WorkbookError, match="no ID mapping to write"):
        write_id_mapping(t, tmp_path / "map.csv")


def test_float_ids_with_integer_values_are_kept(tmp_path):
    t = _read(_csv(tmp_path, "id,ra,dec\n3.0,53.16,-27.79\n4.0,53.17,-27.79\n"))
    assert t["id"].dtype == np.int64 and t["id"].tolist() == [3, 4] and t.meta["target_list"]["id_mapping"] is None


def test_no_id_column_numbers_targets_and_says_so(tmp_path):
    path = _csv(tmp_path, "ra,dec,mag\n53.16,-27.79,24\n53.17,-27.78,25\n")
    with pytest.warns(TargetListWarning, match="no ID column: targets numbered 1..2"):
        t = read_target_list(path, frame="icrs")
    assert t["id"].tolist() == [1, 2] and t.meta["target_list"]["id_mapping"] is None


# ---------------------------------------------------------------------------------------------
# priority -> MPT weight, canonical-name collisions
# ---------------------------------------------------------------------------------------------

def test_weight_from_priority_rule_keeps_class_order():
    rng = np.random.default_rng(1)
    p = rng.integers(1, 6, 200)
    w = weight_from_priority(p)
    assert w.min() == 1.0 and w.max() == p.max()
    # strictly reversed order: a better (smaller) priority always has a larger weight
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(w[order]) <= 0) and np.all((np.diff(p[order]) > 0) == (np.diff(w[order]) < 0))


def test_priority_found_under_common_names(tmp_path):
    for name in ("PRIORITY", "prio", "Rank"):
        t = _read(_csv(tmp_path, f"id,ra,dec,{name}\n1,53.16,-27.79,2\n2,53.17,-27.79,1\n", name=f"{name}.csv"))
        assert t.meta["target_list"]["columns"]["priority"] == name
        assert t["priority"].tolist() == [2.0, 1.0] and t["weight"].tolist() == [1.0, 2.0]
        assert "Weight = max(priority) + 1 - priority" in t.meta["target_list"]["weight_rule"]


def test_input_column_colliding_with_a_canonical_name_is_kept_renamed(tmp_path):
    # 'RA' (sexagesimal) is mapped; a second, unrelated column named 'ID' would collide with 'id'
    path = _csv(tmp_path, "NUMBER,ID,RA,DEC\n5,a,03:32:39.0,-27:47:29.1\n6,b,03:32:40.0,-27:47:30\n")
    t = _read(path, id_col="NUMBER")
    assert t["id"].tolist() == [5, 6] and t["ID_input"].tolist() == ["a", "b"]
    assert t["RA_input"].tolist() == ["03:32:39.0", "03:32:40.0"]
    assert len({c.lower() for c in t.colnames}) == len(t.colnames)  # no case-insensitive duplicates for MPT
    assert any("renamed 'ID_input'" in n for n in t.meta["target_list"]["notes"])


def test_result_survives_ecsv_and_the_mpt_writer(tmp_path):
    """What the reader returns can be saved (meta included) and written for MPT by helpers.export."""
    from helpers.export import write_mpt_catalog

    path = _csv(tmp_path, "Name,RA,DEC,prio,zphot,mag\n"
                "HDFS-1,22:32:56.1,-60:33:02.5,1,6.1,26.5\nHDFS-2,22:32:57.0,-60:33:10.0,2,6.3,27.1\n")
    t = _read(path)
    t.write(tmp_path / "targets.ecsv")
    again = _read(tmp_path / "targets.ecsv")
    assert again["id"].tolist() == [1, 2] and np.allclose(again["ra"], t["ra"], rtol=0, atol=1e-12)
    assert again.meta["target_list"]["columns"]["ra"] == "ra"  # canonical now
    write_mpt_catalog(t, tmp_path / "mpt.cat")
    mpt = _read(tmp_path / "mpt.cat")
    assert mpt.meta["target_list"]["format"] == "mpt"
    assert mpt["id"].tolist() == [1, 2] and mpt["weight"].tolist() == [2.0, 1.0]
    assert mpt["id_original"].tolist() == ["HDFS-1", "HDFS-2"]
    assert np.max(np.abs(mpt["dec"] - t["dec"])) < 1e-9


def test_summary_says_what_was_done(tmp_path):
    from helpers.targets import target_list_summary

    t = _read(_csv(tmp_path, "OBJID,GLON,GLAT,rank\nA-1,223.5,-54.4,1\nA-2,223.51,-54.41,3\n"))
    text = target_list_summary(t)
    assert "2 targets" in text and "id <- OBJID" in text and "galactic" in text
    assert "converted from Galactic l/b to ICRS" in text and "IDs renumbered 1..2" in text
    assert "\n" not in text
    with pytest.raises(WorkbookError, match="not made by read_target_list"):
        target_list_summary(Table({"ra": [1.0]}))
