"""Bad input anywhere in the public API gets one actionable line and leaves nothing behind (issue #17).

Two parts:

* regression tests, one per class of failure found by probing the API; each fails on the code
  before its fix;
* property sweeps: seeded random generators build bad values (wrong types, NaN/inf, negative,
  empty, mismatched lengths, garbage files). The sweep over *every* public name of every
  package in docs/DEVELOPING.md is `tests/test_property_api.py` (it fails when a new public
  name is neither swept nor exempt with a reason); the older, narrower sweeps below stay.

Classes of failure and their tests
==================================

================================================  ==============================================================
class                                             test
================================================  ==============================================================
field name with newline / ``../`` (nothing made)  test_field_name_refused_and_nothing_written
``field.json`` values of the wrong type           test_field_json_wrong_types_refused_at_load
``field.json`` a JSON list / not an object        test_field_json_not_an_object
``create_field`` argument types                   test_create_field_argument_types
CLI: refuse before creating anything              test_chain_refuses_before_creating_anything
CLI: ``--epoch 0`` and falsy values used          test_chain_falsy_values_reach_notebook_00
``run_chain`` bad parameters                      test_run_chain_bad_parameters
FITS cut at a 2,880-byte boundary passes          test_verify_fits_every_block_boundary_truncation_refused
FITS sizes do not add up (padding, short)         test_verify_fits_sizes_add_up_without_nextend
``verify_fits`` wrong argument types              test_verify_fits_wrong_types
truncated download cached as verified             test_truncated_download_never_cached_as_verified
WCS with RA but no Dec; non-FITS provenance       test_wcs_provenance_ra_without_dec_and_non_fits
WCS with RA but no Dec read as an image           test_read_image_wcs_ra_without_dec
``decode_wcsname`` wrong types                    test_decode_wcsname_wrong_types
DS9 circles: negative radius, unequal lengths     test_ds9_circles_refused
newline/tab/``#`` in exported text                test_every_exported_text_reads_back_round_trip
binary garbage as an MPT catalog                  test_binary_garbage_as_mpt_catalog
empty MSATA candidate list                        test_empty_msata_candidates
session file without ``field``                    test_session_without_field
"pass overwrite=True" for a directory             test_overwrite_advice_for_a_directory
"nothing to export" without an action             test_empty_catalog_says_what_to_do
text/objects/ragged arrays as RA/Dec (numpy)      test_sky_positions_of_the_wrong_kind
a non-path as a file path (pathlib TypeError)     test_non_paths_refused_in_one_line
a non-FieldConfig as ``cfg`` (AttributeError)     test_cfg_of_the_wrong_kind
shutter indices of the wrong kind (numpy)         test_shutter_indices_of_the_wrong_kind
library exception from any public name            tests/test_property_api.py::test_bad_values_property
a public name nobody sweeps                       tests/test_property_api.py::test_every_public_function_is_swept
garbage / truncated files to every reader         test_garbage_files_property
#12/#15 call sites (npz, locate, verdict)         test_other_owners_bad_values
a regression of a swept name                      tests/test_property_api.py::KNOWN_FAILING (empty: every name passes)
#13 bad images, bed-written and real files:      test_issue_13_bad_images_as_a_user_meets_them
WHT zero/equal, no ERR/WHT, DQ shape, ERR < 0,    (notebook 00's check_own_data, then notebook 02's extraction;
cube, DATA only, filters disagree, TAN-only flt   one line each, refused before anything is written)
================================================  ==============================================================
"""
import json
import os
import random
import string
import traceback
import zlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from helpers import archive, chain, config, export, simulate
from helpers.errors import WorkbookError
from helpers.validate import export_token

HELPERS_DIR = str(Path(__file__).resolve().parent.parent / "helpers")


# ----------------------------------------------------------------------------------------
# the property: what "a clean error" means
# ----------------------------------------------------------------------------------------

def _raised_by_workbook(exc):
    """A WorkbookError, or a ValueError/TypeError whose raising frame is in helpers/."""
    if isinstance(exc, WorkbookError):
        return True
    if not isinstance(exc, (ValueError, TypeError)):
        return False
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return last.filename.startswith(HELPERS_DIR)


def _listing(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


def check_clean(call, directory=None):
    """Run ``call``; return "ok" or "refused"; fail on a library exception or files left behind."""
    before = _listing(directory) if directory is not None else None
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the point is to classify every exception
        assert _raised_by_workbook(exc), (
            f"library exception escaped: {exc.__class__.__module__}.{exc.__class__.__name__}: {exc}\n"
            + "".join(traceback.format_tb(exc.__traceback__)[-3:]))
        if isinstance(exc, WorkbookError):
            assert "\n" not in str(exc) and ";" in str(exc), f"not one actionable line: {exc}"
        if directory is not None:
            assert _listing(directory) == before, f"a refused call left files behind: {exc}"
        return "refused"
    return "ok"


def bad_values(rng, n=12):
    """Generated bad scalars: wrong types, non-finite, negative, huge, empty, garbage text."""
    pool = [None, float("nan"), float("inf"), -float("inf"), -1, -1e30, 1e300, 0, True, "abc", "", "1e400",
            b"\x00\xff", [], [1, 2], {}, {"a": 1}, object(), np.array([np.nan]), "../x", "x\ny", "\t#"]
    pool += ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 12))) for _ in range(4)]
    pool += [rng.uniform(-1e6, 1e6) for _ in range(3)]
    return rng.sample(pool, min(n, len(pool)))


def random_text(rng):
    alphabet = string.printable + "#{}é\u00a0\u2028ß"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 15)))


# ----------------------------------------------------------------------------------------
# class: config (field.json types, JSON list, names with newline or '../', falsy epoch)
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["m101\n", "../escaped", "a/b", "", " m101", "x" * 65, "m101\r"])
def test_field_name_refused_and_nothing_written(name, workspace_root):
    with pytest.raises(WorkbookError, match="field name"):
        config.create_field(name, ra=10.0, dec=20.0, workspace_root=workspace_root)
    assert not workspace_root.exists() or _listing(workspace_root) == []


@pytest.mark.parametrize("key, value, words", [
    ("ra", "abc", "ra = 'abc' is not a number"), ("dec", [1, 2], "dec = [1, 2] is not a number"),
    ("ra", 400.0, "outside"), ("epoch", None, "epoch = None"), ("radius_arcmin", -3, "outside"),
    ("live", "yes", "true or false"), ("instruments", "ACS", "list of names"), ("extra", [], "an object"),
    ("name", "bad\nname", "not a valid field name"), ("pointing", 3, "an object or null")])
def test_field_json_wrong_types_refused_at_load(key, value, words, workspace_root):
    cfg = config.create_field("typed", ra=10.0, dec=20.0, workspace_root=workspace_root)
    data = json.loads(cfg.config_file.read_text())
    data[key] = value
    cfg.config_file.write_text(json.dumps(data))
    with pytest.raises(WorkbookError, match="re-run notebook 00") as info:
        config.load_field("typed", workspace_root)
    assert words in str(info.value)


@pytest.mark.parametrize("payload", ["[1, 2, 3]", '"text"', "42", "null", "{", ""])
def test_field_json_not_an_object(payload, workspace_root):
    cfg = config.create_field("listy", ra=10.0, dec=20.0, workspace_root=workspace_root)
    cfg.config_file.write_text(payload)
    with pytest.raises(WorkbookError, match="re-run notebook 00"):
        config.load_field("listy", workspace_root)


def test_create_field_argument_types(workspace_root):
    for kwargs, words in [({"live": "no"}, "live"), ({"instruments": [1, 2]}, "instruments"),
                          ({"target": 5}, "target"), ({"workspace_root": 3}, "workspace_root"),
                          ({"radius_arcmin": True}, "radius_arcmin")]:
        kwargs = {"ra": 10.0, "dec": 20.0, "workspace_root": workspace_root, **kwargs}
        with pytest.raises(WorkbookError, match=words):
            config.create_field("types", **kwargs)
    # a single instrument name is one instrument, not its letters
    cfg = config.create_field("one", ra=10.0, dec=20.0, workspace_root=workspace_root, instruments="NIRCAM")
    assert cfg.instruments == ["NIRCAM"]


# ----------------------------------------------------------------------------------------
# class: chain (validate before creating anything; falsy values used or refused)
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--field", "../escaped", "--ra", "10", "--dec", "20"], "field name"),
    (["--field", "ok\n", "--ra", "10", "--dec", "20"], "field name"),
    (["--field", "ok", "--ra", "10", "--dec", "20", "--epoch", "0"], "epoch = 0"),
    (["--field", "ok", "--ra", "10", "--dec", "20", "--radius", "0"], "radius_arcmin = 0"),
    (["--field", "ok", "--ra", "10", "--dec", "20", "--radius", "nan"], "not finite")])
def test_chain_refuses_before_creating_anything(argv, words, tmp_path, capsys):
    root = tmp_path / "space" / "root"
    code = chain.main(argv + ["--workspace-root", str(root)])
    assert code == 2
    assert words in capsys.readouterr().err
    assert _listing(tmp_path) == [], "the refused run created files or directories"


def test_chain_falsy_values_reach_notebook_00(tmp_path, monkeypatch):
    seen = {}

    def fake_run(params, workspace_root=None, only=None, notebook_parameters=None):
        seen.update(params)
        return {}

    monkeypatch.setattr(chain, "run_chain", fake_run)
    # RA 0 / Dec 0 are valid and must be passed on; an epoch given is passed on as given
    assert chain.main(["--field", "ok", "--ra", "0", "--dec", "0", "--epoch", "2030"]) == 0
    assert seen["epoch"] == 2030.0 and seen["ra"] == "0" and seen["dec"] == "0"
    seen.clear()
    assert chain.main(["--field", "ok", "--ra", "0", "--dec", "0"]) == 0
    assert "epoch" not in seen  # not given: notebook 00 chooses its default and says so


def test_run_chain_bad_parameters(tmp_path):
    for params in (None, [], {"field": ""}, {"field": "../up"}, {"field": 5}, {"field": "ok", "epoch": "soon"}):
        assert check_clean(lambda: chain.run_chain(params, workspace_root=tmp_path / "w"), tmp_path) == "refused"


# ----------------------------------------------------------------------------------------
# class: archive (verify_fits, truncated downloads, WCS with RA but no Dec, bad types)
# ----------------------------------------------------------------------------------------

def _drz_like(path, nextend=True):
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((64, 64), "f4"), name="SCI"),
                         fits.ImageHDU(np.full((64, 64), 2.0, "f4"), name="WHT"),
                         fits.ImageHDU(np.zeros((30, 30), "i2"), name="CTX")])
    if nextend:
        hdul[0].header["NEXTEND"] = 3
    hdul.writeto(path, checksum=True)
    return path


def test_verify_fits_every_block_boundary_truncation_refused(tmp_path):
    good = _drz_like(tmp_path / "good_drz.fits")
    assert archive.verify_fits(good) == (True, "ok", "verified")
    data = good.read_bytes()
    for k in range(1, len(data) // 2880):
        cut = tmp_path / f"cut{k}.fits"
        cut.write_bytes(data[:k * 2880])
        ok, reason, _ = archive.verify_fits(cut)  # no size from MAST
        assert not ok, f"truncated at block {k} of {len(data) // 2880} passed"


def test_verify_fits_sizes_add_up_without_nextend(tmp_path):
    good = _drz_like(tmp_path / "plain.fits", nextend=False)
    data = good.read_bytes()
    # trailing bytes past the last HDU: astropy ignores them with a warning at most
    (tmp_path / "padded.fits").write_bytes(data + b"\0" * 2880)
    assert not archive.verify_fits(tmp_path / "padded.fits")[0]
    # cut inside the last data block on a block boundary
    (tmp_path / "short.fits").write_bytes(data[:-2880])
    assert not archive.verify_fits(tmp_path / "short.fits")[0]


@pytest.mark.parametrize("args, words", [((5,), "path = 5"), ((None,), "path = None"),
                                         (("x.fits", "abc"), "expected_size"), (("x.fits", -3), "expected_size"),
                                         (("x.fits", 2.5), "whole number")])
def test_verify_fits_wrong_types(args, words):
    with pytest.raises(WorkbookError, match=words):
        archive.verify_fits(*args)


def test_truncated_download_never_cached_as_verified(tmp_path, monkeypatch):
    import contextlib

    from helpers.archive import downloads

    good = _drz_like(tmp_path / "src.fits").read_bytes()

    def fake_fetch(one, staging):  # MAST delivers a file cut at a block boundary, with no size
        (Path(staging) / str(one["productFilename"][0])).write_bytes(good[:len(good) - 2880])

    monkeypatch.setattr(downloads, "_fetch_one", fake_fetch)
    monkeypatch.setattr(downloads, "_transport", lambda live, coord: contextlib.nullcontext())
    products = Table({"productFilename": ["j1_drz.fits"], "product_id": ["p1"]})
    cache = tmp_path / "cache"
    with pytest.raises(WorkbookError, match="failed verification twice"):
        downloads.download(products, cache, live=False, progress=False)
    assert not (cache / "j1_drz.fits").exists()
    manifest = cache / "manifest.json"
    assert not manifest.exists() or "j1_drz.fits" not in json.loads(manifest.read_text())


def test_wcs_provenance_ra_without_dec_and_non_fits(tmp_path):
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "PIXEL", "CRVAL1": 10.0, "CDELT1": -1e-5})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((8, 8), "f4"), header=header, name="SCI")]).writeto(
        tmp_path / "radec.fits")
    prov = archive.wcs_provenance(tmp_path / "radec.fits")
    assert not prov["has_celestial_wcs"] and "InconsistentAxisTypes" in prov["provenance"]
    (tmp_path / "notfits.fits").write_bytes(b"SIMPLE? no, a text file\n" * 200)
    for bad in (tmp_path / "notfits.fits", tmp_path / "missing.fits", tmp_path, 3.5, None):
        with pytest.raises(WorkbookError):
            archive.wcs_provenance(bad)


def test_decode_wcsname_wrong_types():
    for bad in (5, 1.5, ["IDC"], b"IDC", {"a": 1}):
        with pytest.raises(WorkbookError, match="wcsname"):
            archive.decode_wcsname(bad)
    with pytest.raises(WorkbookError, match="telescope"):
        archive.decode_wcsname("IDC_x", telescope=3)
    assert archive.decode_wcsname(None)["aligned_to"] == "guide stars only"


# ----------------------------------------------------------------------------------------
# class: export (DS9 circles, escaping, garbage catalog, empty MSATA, session, overwrite advice)
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"ra": [1.0, 2.0], "dec": [1.0]}, "ra has 2, dec has 1"),
    ({"ra": [1.0, 2.0], "dec": [1.0, 2.0], "radius_arcsec": -0.3}, "must be positive"),
    ({"ra": [1.0, 2.0], "dec": [1.0, 2.0], "radius_arcsec": 0}, "must be positive"),
    ({"ra": [1.0, 2.0], "dec": [1.0, 2.0], "radius_arcsec": "big"}, "not a number"),
    ({"ra": ["a", "b"], "dec": [1.0, 2.0]}, "numbers in degrees"),
    ({"ra": [1.0, 2.0], "dec": [1.0, 2.0], "text": ["a"]}, "text has 1")])
def test_ds9_circles_refused(kwargs, words, tmp_path):
    with pytest.raises(WorkbookError, match=words):
        export.write_ds9_circles(path=tmp_path / "x.reg", **kwargs)
    assert _listing(tmp_path) == []


def test_every_exported_text_reads_back_round_trip(tmp_path):
    """Random strings (whitespace, '#', braces, non-ASCII) in exported columns and labels."""
    from regions import Regions

    rng = random.Random(17)
    for trial in range(25):
        n = rng.randint(2, 6)
        texts = [random_text(rng) for _ in range(n)]
        label = random_text(rng) or "label"
        t = Table({"ID": np.arange(1, n + 1), "RA": 53.0 + 1e-3 * np.arange(n), "DEC": np.full(n, -27.0),
                   label: texts} if label.upper() not in ("ID", "RA", "DEC") else
                  {"ID": np.arange(1, n + 1), "RA": 53.0 + 1e-3 * np.arange(n), "DEC": np.full(n, -27.0), "x": texts})
        path = export.write_mpt_catalog(t, tmp_path / f"t{trial}.cat")
        back = export.read_mpt_catalog(path)
        assert len(back) == n and back.colnames[:3] == ["ID", "RA", "DEC"] and len(back.colnames) == 4
        assert np.array_equal(back["ID"], t["ID"])
        tokens = [export_token(s) for s in texts]
        got = back[back.colnames[3]]
        if got.dtype.kind in "US":
            assert list(got) == tokens
        else:  # tokens that look like numbers come back as numbers
            np.testing.assert_array_equal(np.asarray(got, float), np.asarray(tokens, float))
        reg = export.write_ds9_circles(t["RA"], t["DEC"], tmp_path / f"t{trial}.reg", text=texts)
        read = Regions.read(str(reg), format="ds9")
        assert len(read) == n
        assert [str(r.meta.get("text")) for r in read] == [export_token(s.replace("{", "(").replace("}", ")"))
                                                      for s in texts], reg.read_text()


@pytest.mark.parametrize("content", [bytes(range(256)) * 8, b"\xff\xfe# ID RA DEC\n", b"# ID RA DEC\n1 2 \x00 3\n"])
def test_binary_garbage_as_mpt_catalog(content, tmp_path):
    (tmp_path / "junk.cat").write_bytes(content)
    with pytest.raises(WorkbookError, match="junk.cat"):
        export.read_mpt_catalog(tmp_path / "junk.cat")
    with pytest.raises(WorkbookError, match="is a directory"):
        export.read_mpt_catalog(tmp_path)


def test_empty_msata_candidates():
    empty = Table(names=["id", "ra", "dec", "mag_ta", "kind", "flags"], dtype=[int, float, float, float, str, int])
    with pytest.raises(WorkbookError, match="catalog is empty.*check"):
        export.msata_candidates(empty)
    with pytest.raises(WorkbookError, match="not an astropy Table"):
        export.msata_candidates([])


@pytest.mark.parametrize("record, words", [({"schema": "x"}, "no 'field' section"), ([1, 2], "JSON list"),
                                           ({"field": {"name": "a"}}, "lacks field setting"),
                                           ({"field": "x"}, "no 'field' section")])
def test_session_without_field(record, words, tmp_path, workspace_root):
    (tmp_path / "session.json").write_text(json.dumps(record))
    with pytest.raises(WorkbookError, match=words):
        export.read_session(tmp_path / "session.json")
    if isinstance(record, dict):
        with pytest.raises(WorkbookError, match=words):
            export.recreate_field_from_session(record, workspace_root=workspace_root)
    assert not workspace_root.exists()


def test_overwrite_advice_for_a_directory(tmp_path):
    t = Table({"ID": [1], "RA": [53.0], "DEC": [-27.0]})
    (tmp_path / "out").mkdir()
    for write in (lambda p, o: export.write_mpt_catalog(t, p, overwrite=o),
                  lambda p, o: export.write_ds9_circles([53.0, 53.1], [-27.0, -27.0], p, overwrite=o),
                  lambda p, o: export.write_catalog_ecsv(t, p, overwrite=o)):
        for overwrite in (False, True):
            with pytest.raises(WorkbookError, match="is a directory; give a file name") as info:
                write(tmp_path / "out", overwrite)
            assert "overwrite=True" not in str(info.value)
    assert _listing(tmp_path) == ["out"]


def test_empty_catalog_says_what_to_do(tmp_path):
    with pytest.raises(WorkbookError, match="nothing to export.*check that notebook 02"):
        export.write_mpt_catalog(Table({"ID": [], "RA": [], "DEC": []}), tmp_path / "e.cat")
    with pytest.raises(WorkbookError, match="not an astropy Table"):
        export.write_mpt_catalog({"ID": [1]}, tmp_path / "e.cat")


# ----------------------------------------------------------------------------------------
# the property-style sweep over the public API
# ----------------------------------------------------------------------------------------

def _small_catalog():
    t = simulate.make_truth(n_stars=12, n_galaxies=4, n_pairs=0, n_saturated=0, size_arcsec=30.0, seed=3)
    t["mag_ta"] = np.linspace(20.0, 21.5, len(t))
    t["ra_err"] = np.full(len(t), 3.0)
    t["dec_err"] = np.full(len(t), 3.0)
    t["flags"] = np.zeros(len(t), int)
    t["kind"] = np.where(np.asarray(t["kind"]) == "star", "point", "extended")
    return t


def _cases(tmp):
    """(name, call taking one bad value, directory a refused call must leave unchanged)."""
    cat = _small_catalog()
    _drz_like(tmp / "ok_drz.fits")
    yield "config.parse_coordinates(ra)", lambda v: config.parse_coordinates(v, 10.0), None
    yield "config.parse_coordinates(dec)", lambda v: config.parse_coordinates(10.0, v), None
    yield "config.resolve_target", lambda v: config.resolve_target(target=v), None
    yield "config.create_field(name)", lambda v: config.create_field(v, ra=1.0, dec=1.0, workspace_root=tmp / "ws"), tmp
    yield "config.create_field(ra)", lambda v: config.create_field("f", ra=v, dec=1.0, workspace_root=tmp / "ws"), tmp
    yield "config.create_field(radius)", lambda v: config.create_field(
        "f", ra=1.0, dec=1.0, radius_arcmin=v, workspace_root=tmp / "ws"), tmp
    yield "config.create_field(epoch)", lambda v: config.create_field(
        "f", ra=1.0, dec=1.0, epoch=v, workspace_root=tmp / "ws"), tmp
    yield "config.load_field", lambda v: config.load_field(v, tmp / "nows"), tmp
    yield "archive.verify_fits(path)", lambda v: archive.verify_fits(v), None
    yield "archive.verify_fits(size)", lambda v: archive.verify_fits(tmp / "ok_drz.fits", v), None
    yield "archive.decode_wcsname", lambda v: archive.decode_wcsname(v), None
    yield "archive.wcs_provenance", lambda v: archive.wcs_provenance(v), None
    yield "export.write_ds9_circles(radius)", lambda v: export.write_ds9_circles(
        cat["ra"], cat["dec"], tmp / "c.reg", radius_arcsec=v), tmp
    yield "export.write_ds9_circles(ra)", lambda v: export.write_ds9_circles(v, [1.0, 2.0], tmp / "c.reg"), tmp
    yield "export.write_mpt_catalog(table)", lambda v: export.write_mpt_catalog(v, tmp / "m.cat"), tmp
    yield "export.write_mpt_catalog(path)", lambda v: export.write_mpt_catalog(
        Table({"ID": [1], "RA": [1.0], "DEC": [1.0]}), v if not isinstance(v, str) else tmp / "none" / "x" / v), tmp
    yield "export.read_mpt_catalog", lambda v: export.read_mpt_catalog(v), None
    yield "export.msata_candidates(catalog)", lambda v: export.msata_candidates(v), None
    yield "export.read_session", lambda v: export.read_session(v), None
    yield "export.recreate_field_from_session", lambda v: export.recreate_field_from_session(
        v, workspace_root=tmp / "ws"), tmp
    yield "simulate.perturb_catalog(sigma)", lambda v: simulate.perturb_catalog(cat, v), None


def test_public_api_bad_values_property(tmp_path):
    rng = random.Random(1717)
    cases = list(_cases(tmp_path))
    failures = []
    outcomes = {"ok": 0, "refused": 0}
    for name, call, directory in cases:
        for value in bad_values(rng):
            try:
                outcomes[check_clean(lambda: call(value), directory)] += 1
            except AssertionError as exc:
                failures.append(f"{name}({value!r}): {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures[:20])
    assert outcomes["refused"] > len(cases) * 5  # the sweep exercised the refusals


def test_garbage_files_property(tmp_path):
    """Random bytes (and truncated real FITS) as every file the public API reads."""
    rng = random.Random(2880)
    good = _drz_like(tmp_path / "good.fits").read_bytes()
    readers = {"verify_fits": lambda p: archive.verify_fits(p), "wcs_provenance": archive.wcs_provenance,
               "read_mpt_catalog": export.read_mpt_catalog, "read_session": export.read_session,
               "load_field": config.load_field}
    failures = []
    for trial in range(20):
        kind = trial % 3
        if kind == 0:
            blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 4000)))
        elif kind == 1:
            blob = good[:rng.randint(0, len(good))]
        else:
            blob = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 300))).encode()
        path = tmp_path / f"g{trial}.json"
        path.write_bytes(blob)
        for name, read in readers.items():
            try:
                check_clean(lambda: read(path), tmp_path)
            except AssertionError as exc:
                failures.append(f"{name}(trial {trial}, {len(blob)} bytes): {str(exc).splitlines()[0]}")
        ok = archive.verify_fits(path)[0]
        assert not ok or blob == good
    assert not failures, "\n".join(failures[:20])


# functions owned by other issues: included so they turn green when those land


def _other_issue_cases():
    from helpers import astrometry, msa

    yield "#15", "astrometry.verdict(sigma)", lambda v: astrometry.verdict(v, 100)
    yield "#15", "astrometry.verdict(n_pairs)", lambda v: astrometry.verdict(5.0, v)
    yield "#15", "astrometry.combine_methods", lambda v: astrometry.combine_methods(v)
    yield "#12", "msa.load_operability", lambda v: msa.load_operability(v)
    yield "#12", "msa.MSAPointing.locate", lambda v: msa.MSAPointing(53.16, -27.79, 0.0).locate(v, v)


#: Issues whose bad-input fixes have not landed yet: their cases must fail until they do.
_PENDING_ISSUES = set()


@pytest.mark.parametrize("owner, name, call", [
    pytest.param(*case, id=case[1],
                 marks=[pytest.mark.xfail(strict=True, reason=case[0])] if case[0] in _PENDING_ISSUES else [])
    for case in list(_other_issue_cases())])
def test_other_owners_bad_values(owner, name, call, tmp_path):
    rng = random.Random(zlib.crc32(name.encode()))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not a zip")
    values = bad_values(rng, n=8) + [tmp_path / "garbage.npz"]
    for value in values:
        check_clean(lambda: call(value))


# ----------------------------------------------------------------------------------------
# classes found by the sweep over every public name (tests/test_property_api.py)
# ----------------------------------------------------------------------------------------

def test_read_image_wcs_ra_without_dec(tmp_path):
    from helpers import sources

    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "PIXEL", "CRVAL1": 10.0, "CDELT1": -1e-5})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((16, 16), "f4"), header=header, name="SCI")]).writeto(
        tmp_path / "radec_drz.fits")
    with pytest.raises(WorkbookError, match="WCS of radec_drz.fits is unusable.*RA---/DEC-- axis pair"):
        sources.read_image(tmp_path / "radec_drz.fits")


@pytest.mark.parametrize("ra, dec, words", [
    (["a", "b"], [1.0, 2.0], "not numbers"), ("53.1", [1.0], "not an array"), (None, [1.0], "not an array"),
    ([[1.0, 2.0], [3.0]], [1.0, 2.0], "not an array"), ([1.0, 2.0, 3.0], [1.0, 2.0], "shape"),
    ([1.0, np.inf], [1.0, 2.0], "non-finite")])
def test_sky_positions_of_the_wrong_kind(ra, dec, words):
    from helpers import skyplane

    for call in (lambda: skyplane.sky_to_tangent(ra, dec, 53.0, -27.0), lambda: skyplane.unit_vectors(ra, dec),
                 lambda: skyplane.tangent_point(ra, dec)):
        with pytest.raises(WorkbookError, match=words):
            call()
    # NaN stays allowed (a missing position the caller masks), the projection is unchanged
    xi, eta = skyplane.sky_to_tangent([53.0, np.nan], [-27.0, -27.0], 53.0, -27.0)
    assert xi[0] == 0.0 and eta[0] == 0.0 and np.isnan(xi[1])
    with pytest.raises(WorkbookError, match="dec0"):
        skyplane.sky_to_tangent([53.0], [-27.0], 53.0, "south")


@pytest.mark.parametrize("bad", [3.5, None, ["a.fits"], True, b"x"])
def test_non_paths_refused_in_one_line(bad, tmp_path, monkeypatch):
    from helpers import plotting, sources, targets

    monkeypatch.chdir(tmp_path)
    calls = [lambda: sources.read_image(bad), lambda: targets.read_table_file(bad),
             lambda: sources.write_catalog(Table({"id": [1]}), bad), lambda: archive.image_center(bad),
             lambda: plotting.save_figure(None, bad)]
    if bad is not None:  # None means "the default" for the workspace root
        calls.append(lambda: config.default_workspace_root(bad))
    for call in calls:
        with pytest.raises(WorkbookError, match="is not a file path; give a str or pathlib.Path"):
            call()
    assert _listing(tmp_path) == []


def test_cfg_of_the_wrong_kind(tmp_path):
    from helpers import astrometry, sources

    for call in (lambda c: sources.field_images(c), lambda c: astrometry.load_inputs(c),
                 lambda c: export.find_source_catalog(c), lambda c: export.write_session(tmp_path / "s.json", c),
                 lambda c: config.record_own_data(c, images=["x.fits"]), lambda c: archive.own_imaging(c)):
        for bad in ({"name": "demo"}, "demo-hudf", None):
            with pytest.raises(WorkbookError, match="not a FieldConfig; load it with helpers.config.load_field"):
                call(bad)
    assert _listing(tmp_path) == []


def test_shutter_indices_of_the_wrong_kind():
    from helpers import msa, planning

    for q, i, j in (([1, "2"], [10, 20], [5, 6]), ([1, 2], [10.5, 20], [5, 6]), ([1, 2], [10, 20], [5, np.nan]),
                    (None, [10], [5])):
        for call in (lambda: planning.spectrum_extents(q, i, j), lambda: msa.shutter_v2v3(q, i, j),
                     lambda: msa.slitlet_ok(q, i, j)):
            with pytest.raises(WorkbookError):
                call()
    with pytest.raises(WorkbookError, match="not numbers"):
        msa.shutter_id(["1"], [2])
    assert msa.shutter_id([1, 365], [1, 2]).tolist() == [1, 730]


# ----------------------------------------------------------------------------------------
# class: issue #13's bad images, on files the test bed writes and on real files from wheels
# ----------------------------------------------------------------------------------------

_REFUSED_13 = {"wht_zero": "the WHT extension is zero everywhere (no pixel has data); download the file again or delete WHT",
               "err_negative": "the ERR extension has negative values, so it is not a 1-sigma error; download",
               "cube": "the science image is a 3-D cube (NAXIS=3), not a 2-D image; give one science plane",
               "filters_disagree": "the filter keywords disagree ("}
_SAID_13 = {"wht_equal": "WHT is constant (7): it carries no per-pixel noise, so the noise is taken from ",
            "no_err_no_wht": "no usable ERR or WHT extension: the noise is taken from the sky of the image",
            "dq_shape": "DQ ignored",
            "data_only": "no SCI extension: the DATA image was taken as the science image",
            "distorted_no_model": "a detector-frame exposure with a TAN-only WCS: its geometric distortion (up to "}


@pytest.fixture(scope="module")
def images_13(tmp_path_factory):
    """Small bed-written products (drc, HAP MVM, NIRCam i2d, an ACS flc) and the real 47 Tuc flt and HDF-S mosaic."""
    from .conftest import package_file

    folder = tmp_path_factory.mktemp("bed13")
    center = (53.1625, -27.791417)
    truth = simulate.isolated(simulate.make_truth(center=center, size_arcsec=6.0, n_stars=20, n_galaxies=0, n_pairs=0,
                                                  n_saturated=0, star_snr=(10, 300), seed=2), 0.6)
    out = {"drc": simulate.make_drizzled(truth, shape=(128, 128), seed=1).writeto(folder / "bed_drc.fits")}
    mvm = simulate.make_drizzled(truth, shape=(128, 128), seed=1, layout="hap-mvm")
    out["mvm"] = mvm.writeto(folder / mvm.filename)
    out["i2d"] = simulate.make_drizzled(truth, "NIRCAM/SW", "F200W", shape=(128, 128), seed=1,
                                        sky=0.2).writeto(folder / "bed_i2d.fits")
    flc = simulate.make_exposure(mvm.exposures[0].truth, simulate.ExposureSpec(shape=(128, 128), crval=center, seed=1,
                                                                                 name="bedexp"))
    out["flc"] = flc.writeto(folder / "bedexp_flc.fits")
    out["47tuc"] = package_file("spherical_geometry", "tests", "data", "j8bt06nyq_flt.fits")
    out["hdfs"] = package_file("mpdaf", "data", "obj", "HST-HDFS.fits")
    return out


def _bad_13(case, source, folder):
    """The file as a user would have made it bad with astropy (NEXTEND and checksums kept honest)."""
    with fits.open(source) as hdul:
        h = fits.HDUList([x.copy() for x in hdul])
    names = [x.name for x in h]
    k = names.index("SCI") if "SCI" in names else 1
    shape = h[k].data.shape

    def plane(name, data):
        if name in [x.name for x in h]:
            h[name].data = data
        else:
            h.append(fits.ImageHDU(data, name=name))

    if case in ("wht_zero", "wht_equal"):
        plane("WHT", np.full(shape, 0.0 if case == "wht_zero" else 7.0, np.float32))
    elif case == "no_err_no_wht":
        for name in ("ERR", "WHT"):
            if name in [x.name for x in h]:
                del h[name]
    elif case == "dq_shape":
        plane("DQ", np.zeros((shape[0] // 2, shape[1]), np.int16))
    elif case == "err_negative":
        err = np.abs(np.asarray(h["ERR"].data, np.float32)) if "ERR" in names else np.ones(shape, np.float32)
        err[shape[0] // 2, shape[1] // 2] = -1.0
        plane("ERR", err)
    elif case == "cube":
        h[k].data = np.stack([h[k].data] * 3)
    elif case == "data_only":
        h = fits.HDUList([fits.PrimaryHDU(header=h[0].header), fits.ImageHDU(h[k].data, header=h[k].header, name="DATA")])
    elif case == "filters_disagree":
        h0 = h[0].header
        if h0.get("INSTRUME") == "NIRCAM":
            h0["PUPIL"] = "F162M"  # used behind F150W2 only, FILTER says F200W
        elif h0.get("INSTRUME") == "WFPC2":
            h0["FILTNAM1"] = "F814W"  # PHOTMODE names F606W
        else:
            h0["PHOTMODE"] = "ACS WFC1 F555W"
    elif case == "distorted_no_model":
        sci = h[k].header
        for key in [key for key in sci if key.startswith(("A_", "B_", "AP_", "BP_"))]:
            del sci[key]
        sci["CTYPE1"], sci["CTYPE2"] = "RA---TAN", "DEC--TAN"
    if "NEXTEND" in h[0].header:
        h[0].header["NEXTEND"] = len(h) - 1
    path = folder / Path(source).name
    h.writeto(path, checksum=any("CHECKSUM" in x.header for x in h))
    return path


# Only detector-frame files are distorted; the HDF-S mosaic (a 5,000-card header: ~4 s per look) is
# taken for what it is the real example of: a DATA-only WFPC2 mosaic without ERR/WHT, and its filters.
_CASES_13 = [(case, src) for case in list(_REFUSED_13) + list(_SAID_13)
             for src in ("drc", "mvm", "i2d", "flc", "47tuc", "hdfs")
             if (case != "distorted_no_model" or src in ("flc", "47tuc"))
             and (src != "hdfs" or case in ("data_only", "no_err_no_wht", "filters_disagree"))]


@pytest.mark.parametrize("case, src", _CASES_13)
def test_issue_13_bad_images_as_a_user_meets_them(case, src, images_13, tmp_path):
    """Notebook 00 (check_own_data, before any workspace exists) refuses what cannot be right in one line
    naming the file and what to do; what can be assumed goes on to the extraction, which says what it
    assumed once; nothing is written beside the image either way."""
    import warnings

    from helpers.sources import extract_sources_fits, read_image
    from helpers.targets.notebook import check_own_data

    if images_13[src] is None:
        pytest.skip(f"the real file for {src} is not installed (spherical-geometry 1.4.0 / mpdaf 3.6)")
    path = _bad_13(case, images_13[src], tmp_path)
    before = _listing(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case in _REFUSED_13:
            with pytest.raises(WorkbookError) as info:
                check_own_data(images=[str(path)])
            message = str(info.value)
            assert _REFUSED_13[case] in message and path.name in message and "\n" not in message, message
        else:
            check_own_data(images=[str(path)])
            if src in ("47tuc", "hdfs"):  # real files' extraction is measured elsewhere; the reader says it
                info = read_image(path)
                info["hdul"].close()
                for note in filter(None, info["meta"]["noise_notes"].split("; ")):  # said by the extraction
                    warnings.warn(f"{path.name}: {note}")
            else:
                cat = extract_sources_fits(path, use_psf_fit=False, progress=False)
                assert len(cat) > 0 and cat.meta["image"] == path.stem
    if case in _SAID_13:
        lines = [str(w.message) for w in caught if _SAID_13[case] in str(w.message)]
        assert len(lines) == 1 and "\n" not in lines[0] and lines[0].startswith(path.name), lines
        if case == "wht_equal":  # what the noise is taken from instead
            has_err = src in ("i2d", "flc", "47tuc")
            assert lines[0].endswith("from ERR" if has_err else "from the sky"), lines[0]
    assert _listing(tmp_path) == before


def test_an_image_edited_as_notebook_02_advises_is_told_how_to_write_it(tmp_path):
    """Deleting a bad ERR (the advice of the ERR refusal) leaves NEXTEND = 3 in the real 47 Tuc flt:
    notebook 00 says how to write the edited file, not only "truncated"."""
    from .conftest import flt_47tuc
    from helpers.targets.notebook import check_own_data

    with fits.open(flt_47tuc()) as hdul:
        del hdul["ERR"]
        hdul.writeto(tmp_path / "j8bt06nyq_flt.fits")
    with pytest.raises(WorkbookError, match=r"NEXTEND = 3\); give a complete FITS image \(edited it with astropy\? "
                                            r"set NEXTEND to its number of extensions and write it with checksum=True\)"):
        check_own_data(images=[str(tmp_path / "j8bt06nyq_flt.fits")])
    with fits.open(tmp_path / "j8bt06nyq_flt.fits") as hdul:
        hdul[0].header["NEXTEND"] = len(hdul) - 1
        hdul.writeto(tmp_path / "fixed_flt.fits", checksum=True)
    records, _ = check_own_data(images=[str(tmp_path / "fixed_flt.fits")])  # as advised: accepted
    assert records[0]["filter"] == "F606W"
