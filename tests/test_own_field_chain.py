"""The whole chain on a planner's own data, offline (issue #14's "done when").

One real FITS image (the WFPC2 HDF-South mosaic of the ``mpdaf`` 3.6 wheel, a ``test`` extra) and
one target list built from it with a known frame offset, rotation and scatter, SExtractor names, a
survey's own IDs, priorities and photometric redshifts (``tests/data/targets/hdfs_planner.cat``) go
through ``python -m helpers.chain --field ... --image ... --targets``: the verdict on the targets, the
frame offset, the corrected list, the overlay and an MPT catalog with the planner's own IDs, weights
and redshifts must come out, and nothing simulated may land in the field. Every bad input of the
issue stops that command in one line before a workspace exists.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

DATA = Path(__file__).parent / "data" / "targets"


@pytest.mark.notebooks
def test_own_image_and_target_list_chain_offline(tmp_path, capsys):
    spec = importlib.util.find_spec("mpdaf")
    if spec is None:
        pytest.skip("mpdaf (test extra) is not installed: no real HDF-S image for the own-field chain")
    image = Path(spec.origin).parent / "data" / "obj" / "HST-HDFS.fits"
    from helpers import chain, export
    from helpers.targets import read_target_list

    planner = DATA / "hdfs_planner.cat"  # SExtractor names, the survey's own sparse NUMBERs, PRIORITY, Z_PHOT
    assert chain.main(["--field", "hdfs-own", "--image", str(image), "--targets", str(planner),
                       "--workspace-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out  # the planner's answer ends the command's output, paths included
    for line in ("your 101 targets: ", "frame offset of your list against image HST-HDFS: ", "Gaia DR3: not judged",
                 "corrected list: ", "MSA overlay with your targets: ", "MPT catalog for APT "):
        assert line in out, line
    field = tmp_path / "hdfs-own"
    cfg = json.loads((field / "field.json").read_text())
    rec = cfg["extra"]["targets"]
    truth = Table.read(DATA / "hdfs_truth.ecsv")
    injected = truth.meta["perturbation"]
    assert rec["n"] == 101 and rec["n_matched"] >= 80
    # the list was moved by the injected offset: the judge sees it (20" field: a few mas of noise)
    assert abs(rec["offset_mas"][0] - injected["offset_east_mas"]) < max(15, 4 * rec["offset_err_mas"])
    assert abs(rec["offset_mas"][1] - injected["offset_north_mas"]) < max(15, 4 * rec["offset_err_mas"])
    # a rotation is loose on a 20" field (1 sigma ~ 57"): the judge undoes the injected 720"
    assert abs(rec["rotation_arcsec"] + injected["rotation_arcsec"]) < 4 * rec["rotation_err_arcsec"] < 250
    assert rec["verdict"] and rec["correction"]["method"] == "transform"
    assert "skipped" in rec["gaia"]  # offline own field: no gaia.ecsv, said in one line, not simulated
    assert all(im.get("local") and not im.get("simulated") for im in cfg["extra"]["images"])
    assert not any("SIMULAT" in p.name.upper() for p in (field / "archive").glob("*.fits"))
    corrected = Table.read(rec["corrected_path"])
    assert len(corrected) == 101 and "ra_input" in corrected.colnames
    for figure in ("02_targets_judged.png", "04_msa_overlay.png"):
        assert (field / "figures" / figure).stat().st_size > 10_000
    # the MPT catalog: the planner's IDs, Weight from PRIORITY, Redshift from Z_PHOT, the rest contaminants
    mpt = export.read_mpt_catalog(next((field / "export").rglob("*_mpt.cat")))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listed = read_target_list(planner)
    n = len(listed)
    assert mpt["ID"][:n].tolist() == listed["id"].tolist() and min(listed["id"]) >= 20_000
    assert mpt["Weight"][:n].tolist() == listed["weight"].tolist()
    assert set(np.asarray(mpt["Weight"][:n]).tolist()) == {1.0, 2.0, 3.0}
    assert np.allclose(np.asarray(mpt["Redshift"][:n], float), listed["redshift"])
    assert len(mpt) > n and (np.asarray(mpt["Label"][n:]) == "contaminant").all()
    assert (np.asarray(mpt["Weight"][n:]) == 0).all() and len(set(mpt["ID"].tolist())) == len(mpt)


# ---------------------------------------------------------------------------------------------
# Issue #14's bad inputs through the one command: one line on stderr, exit 2, no workspace at all
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A small simulated drc image (40 stars on 20") and a 40-row target list of its stars."""
    from astropy.io import fits

    from helpers import simulate

    d = tmp_path_factory.mktemp("own")
    truth = simulate.make_truth((53.16, -27.78), 20.0, n_stars=40, n_galaxies=0, n_pairs=0, n_saturated=0, seed=5)
    spec = simulate.ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(400, 400), center=(53.16, -27.78),
                              epoch=2004.8, seed=5)
    image = d / "mine_drc.fits"
    simulate.make_image(truth, spec).writeto(image)
    lines = ["id,ra,dec,priority"] + [f"{k + 1},{r:.8f},{q:.8f},1" for k, (r, q) in enumerate(zip(truth["ra"],
                                                                                                truth["dec"]))]
    good = d / "good.csv"
    good.write_text("\n".join(lines) + "\n")
    (d / "text.fits").write_text("not a FITS file")
    fits.PrimaryHDU(np.ones((8, 8), np.float32)).writeto(d / "nowcs.fits")
    return d, image, good, lines


def _bad_list(d, name, lines):
    path = d / name
    path.write_text("\n".join(lines) + "\n")
    return path


BAD_INPUTS = {
    # name: (image, targets, extra args, what the one line must say)
    "missing image": (lambda d, im, good, L: d / "nope.fits", None, [], "image .*nope.fits not found"),
    "non-FITS image": (lambda d, im, good, L: d / "text.fits", None, [], "text.fits: size .* 2880-byte"),
    "no celestial WCS": (lambda d, im, good, L: d / "nowcs.fits", None, [], "has no celestial WCS"),
    "images not overlapping the targets": (
        None, lambda d, im, good, L: _bad_list(d, "far.csv", [L[0]] + [
            ",".join([r.split(",")[0], r.split(",")[1], f"{float(r.split(',')[2]) + 0.5:.8f}", "1"]) for r in L[1:]]),
        [], "does not overlap the field"),
    "all targets off the image": (
        None, lambda d, im, good, L: _bad_list(d, "off.csv", [L[0]] + [
            ",".join([r.split(",")[0], r.split(",")[1], f"{float(r.split(',')[2]) + 0.5:.8f}", "1"]) for r in L[1:]]),
        ["--ra", "53.16", "--dec", "-27.78"], "all 40 targets of off.csv are off the image"),
    "no recognisable RA/Dec": (None, lambda d, im, good, L: _bad_list(d, "xy.csv", ["id,x,y", "1,3,4", "2,5,6"]),
                               [], "no RA column recognised among the columns id, x, y"),
    "garbage sexagesimal": (None, lambda d, im, good, L: _bad_list(
        d, "sexa.csv", ["id,ra,dec", "1,03:32:38.4,-27:46:48", "2,03:3x:38.5,-27:46:49"]), [], "data row 2"),
    "duplicate IDs": (None, lambda d, im, good, L: _bad_list(d, "dup.csv", [L[0], L[1], L[2].replace(
        L[2].split(",")[0] + ",", L[1].split(",")[0] + ",", 1)] + L[3:]), [], "duplicate ID"),
    "B1950 coordinates": (None, lambda d, im, good, L: _bad_list(d, "b1950.csv", ["id,RAB1950,DEB1950"] + [
        ",".join(r.split(",")[:3]) for r in L[1:]]), [], "B1950"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_own_data_stops_the_command_in_one_line_before_anything_is_written(case, own, tmp_path, capsys):
    from helpers import chain

    d, image, good, lines = own
    make_image, make_list, extra, message = BAD_INPUTS[case]
    img = make_image(d, image, good, lines) if make_image else image
    lst = make_list(d, image, good, lines) if make_list else good
    root = tmp_path / "ws"
    code = chain.main(["--field", "mine", "--image", str(img), "--targets", str(lst), "--workspace-root", str(root),
                       *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and ";" in err, err
    import re
    assert re.search(message, err), err
    assert not (root / "mine").exists()  # nothing half-written: no workspace, no field.json


def test_the_good_own_data_passes_the_check_and_says_how_many_targets_are_on_the_image(own, capsys):
    from helpers.targets.notebook import check_own_data

    d, image, good, _ = own
    records, table = check_own_data([str(image)], good, center=("03:32:38.4", "-27:46:48"))
    assert len(records) == 1 and records[0]["local"] and len(table) == 40
    assert "40 of the 40 targets lie on the image(s) mine_drc.fits" in capsys.readouterr().out


def test_ids_mpt_cannot_take_get_a_mapping_file_in_the_field(own, tmp_path):
    """IDs like 'HDFS-0042' or Gaia's 19-digit source_id are renumbered 1..N for APT (not refused), and the
    field gets the key back as catalogs/targets_id_mapping.csv, recorded in extra['targets']."""
    from helpers import config, sources
    from helpers.targets.notebook import ID_MAPPING_NAME, judge_field_targets

    d, image, good, lines = own
    renamed = _bad_list(d, "named.csv", ["name,ra,dec,priority"] + [f"HDFS-{4000 + k:04d}," + r.split(",", 1)[1]
                                                                    for k, r in enumerate(lines[1:])])
    cat = sources.extract_sources_fits(image, use_psf_fit=False)
    cfg = config.create_field("named", ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    config.record_own_data(cfg, targets=str(renamed))
    judgement, corrected = judge_field_targets(cfg, {"mine": cat}, n_boot=0)
    path = cfg.extra["targets"]["id_mapping_path"]
    assert path and Path(path).name == ID_MAPPING_NAME
    key = Table.read(path, format="ascii.csv")
    assert key["id"].tolist() == list(range(1, 41))
    assert key["id_original"].tolist() == [f"HDFS-{4000 + k:04d}" for k in range(40)]
    assert corrected["id"].tolist() == list(range(1, 41)) and judgement.n_matched >= 30


def test_readme_shows_the_one_command_this_file_runs_and_what_it_prints():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## Your own field"):readme.index("## What is in the box")]
    assert "--image .venv/lib/python3.11/site-packages/mpdaf/data/obj/HST-HDFS.fits" in section
    assert "--targets tests/data/targets/hdfs_planner.cat" in section and (DATA / "hdfs_planner.cat").exists()
    for line in ("your 101 targets: ", "frame offset of your list against image HST-HDFS: ", "corrected list: ",
                 "MSA overlay with your targets: ", "MPT catalog for APT "):
        assert line in section, line


@pytest.mark.notebooks
def test_notebook_02_judges_the_list_against_the_image_and_gaia(tmp_path):
    """Notebook 02's target cells on an own field whose archive holds a Gaia DR3 table: the list (the image's
    stars, moved by 0.8" and scattered by 10 mas) is judged against the image and against Gaia propagated
    from 2016 to the image epoch (2004.8), both recorded, one figure drawn."""
    papermill = pytest.importorskip("papermill")
    from helpers import archive, config, simulate

    truth = simulate.make_truth((53.16, -27.78), 36.0, n_stars=90, n_galaxies=20, n_pairs=0, n_saturated=0,
                                star_mag_range=(18.0, 21.0), seed=8)
    spec = simulate.ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(800, 800), center=(53.16, -27.78),
                              epoch=2004.8, seed=8)
    sim = simulate.make_image(truth, spec)
    image = tmp_path / "own_drc.fits"
    sim.writeto(image)
    rng = np.random.default_rng(8)
    shown = sim.truth[np.asarray(sim.truth["kind"]).astype(str) != "galaxy"]
    from helpers.skyplane import sky_to_tangent, tangent_to_sky
    e, n = sky_to_tangent(shown["ra"], shown["dec"], 53.16, -27.78, unit="mas")
    ra, dec = tangent_to_sky(e + 800 + rng.normal(0, 10, len(e)), n - 300 + rng.normal(0, 10, len(e)), 53.16, -27.78,
                             unit="mas")
    listing = tmp_path / "stars.ecsv"
    Table({"id": np.arange(len(e)) + 700, "ra": ra, "dec": dec}).write(listing)
    cfg = config.create_field("own-gaia", ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    config.record_own_data(cfg, images=[str(image)], targets=str(listing))
    cfg.update(extra={"images": archive.local_images([str(image)])})
    simulate.gaia_like_catalog(truth).write(cfg.subdir("archive") / "gaia.ecsv", format="ascii.ecsv")
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "02_extract_sources.ipynb"
    papermill.execute_notebook(str(notebook), str(tmp_path / "02.ipynb"), kernel_name="python3",
                               parameters={"field": cfg.name, "workspace_root": str(tmp_path), "use_psf_fit": False},
                               cwd=str(notebook.parent), progress_bar=False)
    rec = config.load_field(cfg.name, tmp_path).extra["targets"]
    assert abs(rec["offset_mas"][0] - 800) < 5 and abs(rec["offset_mas"][1] + 300) < 5
    gaia = rec["gaia"]
    assert "skipped" not in gaia and gaia["reference"] == "Gaia DR3 at 2004.80" and gaia["n_matched"] >= 30
    assert abs(gaia["offset_mas"][0] - rec["offset_mas"][0]) < 20  # the simulated image's WCS is on Gaia's frame
    assert (cfg.path / "figures" / "02_targets_judged.png").stat().st_size > 20_000
