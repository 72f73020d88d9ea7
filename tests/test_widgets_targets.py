"""Notebook 04's widget: velocity aberration through one pointing factory (#12), the planner's targets
by priority (#14), the spectra panel (#16), and which target list notebook 04 loads."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from astropy.table import Table

from helpers import config, msa
from helpers.errors import WorkbookError
from helpers.plotting.msa import OverlayScene, synthetic_wcs
from helpers.plotting.msa_style import legend_entries, legend_html
from helpers.widgets import PointingFactory, load_targets, offset_pointing

pytest.importorskip("ipywidgets")
from helpers.widgets import MSAOverlayWidget  # noqa: E402

HUDF = (53.1625, -27.791417)
EPOCH = "2027-01-15"
ALL_OPEN = msa.Operability(np.zeros(msa.SHAPE, np.int8), "all operable (test)")


def _edge_sources(pointing, n=4000, seed=11):
    """Sources near the edges of the centering zones all over the MSA, where a ~1e-4 scale moves counts."""
    rng = np.random.default_rng(seed)
    q = rng.integers(1, 5, n)
    i = rng.integers(2, 364, n)
    j = rng.integers(3, 169, n)
    v2, v3 = msa.shutter_v2v3(q, i, j)
    # offsets along V2/V3 of 0.05-0.12": on or near the zone edges of every constraint
    r = rng.uniform(0.05, 0.12, n) * rng.choice([-1, 1], n)
    s = rng.uniform(0.05, 0.25, n) * rng.choice([-1, 1], n)
    ra, dec = pointing.v2v3_to_sky(v2 + r, v3 + s)
    return Table({"ra": ra, "dec": dec, "ra_err": np.full(n, 8.0), "dec_err": np.full(n, 8.0)})


@pytest.fixture(scope="module")
def va_pointing():
    return PointingFactory(EPOCH)(*HUDF, 45.0)


def test_factory_carries_the_date_through_every_move(va_pointing):
    assert va_pointing.epoch == EPOCH and va_pointing.va_factor != 1.0
    moved = offset_pointing(va_pointing, 3.0, -2.0, apa=50.0)
    assert moved.epoch == EPOCH and moved.va_factor == pytest.approx(
        msa.velocity_aberration_factor(moved.ra, moved.dec, EPOCH), rel=0, abs=1e-15)
    off = PointingFactory(EPOCH, velocity_aberration=False)(*HUDF, 45.0)
    assert off.va_factor == 1.0 and PointingFactory.like(off)(*HUDF, 46.0).va_factor == 1.0
    cfg_like = type("Cfg", (), {"epoch": 2027.5})()
    assert PointingFactory.for_field(cfg_like, "2027-03-01").epoch == "2027-03-01"
    assert PointingFactory.for_field(cfg_like).epoch == "2027-07-02"  # the field's epoch (decimal year)


def test_widget_counts_equal_msapointing_count_with_aberration(va_pointing):
    t = _edge_sources(va_pointing)
    w = MSAOverlayWidget(va_pointing, sources=t, operability=ALL_OPEN, disperser=None)
    no_va = msa.MSAPointing(*HUDF, 45.0)
    differs = 0
    for nod in (False, True):
        for name in msa.constraint_names():
            w.set(constraint=name, nod=nod)
            slit = 3 if nod else 1
            with_va = va_pointing.count(t["ra"], t["dec"], name, slitlet=slit, operability=ALL_OPEN)
            assert w.counts[msa.zone_count_name(name)] == with_va, (name, nod)
            differs += with_va != no_va.count(t["ra"], t["dec"], name, slitlet=slit, operability=ALL_OPEN)
    assert differs >= 3  # the aberration does move these sources: a widget without it would fail above
    # after a control move the widget's pointing still carries the date
    w.set(d_ra_arcsec=0.7, d_dec_arcsec=-0.4, apa=45.3, constraint="Midpoint", nod=True)
    p = w.pointing
    again = msa.MSAPointing(p.ra, p.dec, p.apa, epoch=EPOCH)
    assert w.counts["in Midpoint zone"] == again.count(t["ra"], t["dec"], "Midpoint", 3, operability=ALL_OPEN)
    assert "velocity aberration factor" in w.w_counts.value


def test_widget_counts_equal_the_optimizer_score(va_pointing):
    from helpers.planning import score_pointing

    t = _edge_sources(va_pointing, n=1500, seed=4)
    start = PointingFactory(None, velocity_aberration=False)(*HUDF, 45.0)  # the optimizer models no aberration
    w = MSAOverlayWidget(start, sources=t, disperser=None)
    for name, nod in (("Midpoint", True), ("Constrained", False), ("Unconstrained", True)):
        w.set(d_ra_arcsec=0.21, apa=44.8, constraint=name, nod=nod)
        p = w.pointing
        n_opt = score_pointing(t, p.ra, p.dec, p.apa, constraint=name, slitlet=3 if nod else 1,
                               operability=w.scene.operability)[0]
        assert w.counts[msa.zone_count_name(name)] == n_opt


def test_optimize_scores_with_the_widgets_aberration_and_places_the_targets(va_pointing):
    """The optimize button works on the planner's targets (not the catalog) with the pointing's VA."""
    from helpers.planning import score_pointing

    catalog = _edge_sources(va_pointing, n=1500, seed=4)
    targets = Table({"id": np.arange(1, 301), "ra": catalog["ra"][:300], "dec": catalog["dec"][:300],
                     "priority": np.repeat([1, 2, 3], 100)})
    w = MSAOverlayWidget(va_pointing, sources=catalog, targets=targets, disperser=None,
                         optimize_options=dict(d_ra_arcsec=0.5, d_dec_arcsec=0.5, d_apa_deg=0.0,
                                               objective="count", sigma_mas=0.0))
    assert w.pointing.va_factor != 1.0
    result = w.optimize()
    p = w.pointing
    assert p.va_factor != 1.0  # the result is placed with the same date
    # the optimizer's count is that of the targets (300 of them), at the widget's own aberration
    slit = 3 if w.w_nod.value else 1
    with_va = score_pointing(targets, p.ra, p.dec, p.apa, slitlet=slit, operability=w.scene.operability,
                             velocity_aberration=p.va_factor)[0]
    without = score_pointing(targets, p.ra, p.dec, p.apa, slitlet=slit, operability=w.scene.operability,
                             velocity_aberration=False)[0]
    assert result.n_targets == with_va != without  # scored with the aberration, which moves targets here
    assert w.counts["targets in Midpoint zone"] == result.n_targets  # the widget shows what was optimised


@pytest.fixture(scope="module")
def target_field():
    p = msa.MSAPointing(*HUDF, 45.0)
    wcs, shape = synthetic_wcs(*HUDF, scale_arcsec=0.1, size=2600)
    rng = np.random.default_rng(8)
    q = np.repeat([1, 2, 3, 4], 12)
    i = rng.integers(20, 340, q.size)
    j = rng.integers(10, 160, q.size)
    ra, dec = p.shutter_sky(q, i, j)
    prio = np.tile([1.0, 1.0, 2.0, 3.0, np.nan, 2.0], 8)
    targets = Table({"id": np.arange(1, q.size + 1), "ra": ra, "dec": dec, "priority": prio})
    return p, wcs, shape, targets, (q, i, j)


def test_targets_counted_per_priority(target_field):
    p, wcs, shape, targets, (q, i, j) = target_field
    state = np.zeros(msa.SHAPE, np.int8)
    state[q[0] - 1, j[0] - 1, i[0] - 1] = msa.STATE_FAILED_CLOSED  # one priority-1 target lost
    op = msa.Operability(state, "one failed closed (test)")
    scene = OverlayScene(p, image=np.zeros(shape), wcs=wcs, targets=targets, operability=op, constraint="Midpoint")
    c = scene.counts
    prio = np.asarray(targets["priority"])
    assert c["targets in list"] == 48 and c["targets in Midpoint zone"] == 47
    assert c["priority 1 targets in Midpoint zone"] == 15 and c["priority 2 targets in Midpoint zone"] == 16
    assert c["priority 3 targets in Midpoint zone"] == 8 and c["targets without priority in Midpoint zone"] == 8
    assert c["targets on failed shutters"] == 1 and "1 targets on failed" in scene.message
    for pr in (1.0, 2.0, 3.0):  # the one counting rule, class by class
        sel = prio == pr
        n = p.count(targets["ra"][sel], targets["dec"][sel], "Midpoint", slitlet=1, operability=op)
        assert c[msa.target_count_name("Midpoint", pr)] == n
    for name in c:
        if name not in ("constraint", "nod"):
            assert msa.count_definition(name)  # every count shown has its one-line definition
    # one marker line per class, distinct markers and colours, all named by the legend
    styles = {(a.get_marker(), a.get_markerfacecolor()) for a in scene.target_layer.artists}
    assert len(styles) == 4 and len(scene.target_layer.artists) == 4
    labels = [lab for _, lab, _ in legend_entries(**scene.legend_options())]
    for lab in ("target, priority 1", "target, priority 2", "target, priority 3", "target, no priority"):
        assert lab in labels and lab in legend_html(**scene.legend_options())
    scene.update(layers={"targets": False})
    assert not any(a.get_visible() for a in scene.target_layer.artists)


def test_bad_targets():
    p = msa.MSAPointing(*HUDF, 45.0)
    with pytest.raises(WorkbookError, match="target list lacks column\\(s\\) dec"):
        OverlayScene(p, targets=Table({"ra": [53.16]}))
    with pytest.raises(WorkbookError, match="must be a table"):
        OverlayScene(p, targets=[(53.16, -27.79)])
    with pytest.raises(WorkbookError, match="unknown disperser/filter 'G999'"):
        OverlayScene(p, disperser="G999")
    with pytest.raises(WorkbookError, match="unknown layer 'stars'"):
        OverlayScene(p, layers={"stars": True})


def test_spectra_panel_shows_overlaps():
    from helpers.planning import find_overlaps

    p = msa.MSAPointing(*HUDF, 45.0)
    # same shutter_row i, neighbouring shutter_column j: same extent, rows closer than a slitlet -> overlap;
    # 40 columns further along the slit: far apart on the detector -> no overlap
    q = np.array([1, 1, 1])
    i = np.array([180, 180, 180])
    j = np.array([60, 61, 100])
    ra, dec = p.shutter_sky(q, i, j)
    targets = Table({"ra": ra, "dec": dec, "priority": [1.0, 2.0, 1.0]})
    scene = OverlayScene(p, targets=targets, operability=ALL_OPEN, disperser="G235M/F170LP", nod=False)
    assert scene.counts["with overlapping spectra"] == 2
    panel = scene.spectra_panel
    colours = [tuple(np.round(c, 3)) for c in panel.lines.get_colors()]
    red = tuple(np.round(matplotlib.colors.to_rgba("#d50000"), 3))
    green = tuple(np.round(matplotlib.colors.to_rgba("#2e7d32"), 3))
    assert colours.count(red) >= 2 and green in colours
    assert "1 overlapping" not in panel.label.get_text() and "2 overlapping" in panel.label.get_text()
    # what the panel shows is planning.find_overlaps on the counted targets
    assert len(find_overlaps(q, i, j, "G235M/F170LP", slitlet=1)) == panel.n_pairs == 1
    # segments stop at the detector gap: no light is drawn there
    g0, g1 = panel.layout["gap"]
    for (a, _), (b, _) in panel.lines.get_segments():
        assert not (a < g1 and b > g0) or (b <= g0 or a >= g1)
    # another disperser, and the layer switched off
    scene.update(disperser="PRISM")
    assert panel.disperser == "PRISM/CLEAR" and "PRISM/CLEAR" in panel.label.get_text()
    scene.update(layers={"spectra": False})
    assert "with overlapping spectra" not in scene.counts and not panel.lines.get_visible()


def test_widget_disperser_and_layers(target_field):
    p, wcs, shape, targets, _ = target_field
    w = MSAOverlayWidget(p, targets=targets, disperser="G395M/F290LP", operability=ALL_OPEN)
    assert set(w.w_layers) >= {"targets", "spectra"} and w.w_disperser.value == "G395M/F290LP"
    assert "with overlapping spectra" in w.counts and "priority 1 targets in Midpoint zone" in w.w_counts.value
    w.w_disperser.value = "G140H/F100LP"
    assert w.scene.spectra_panel.disperser == "G140H/F100LP"
    plain = MSAOverlayWidget(p, disperser=None)
    assert plain.w_disperser is None and "spectra" not in plain.w_layers and "targets" not in plain.w_layers


def test_load_targets_says_which_list(tmp_path):
    cfg = config.create_field("own-t", ra=HUDF[0], dec=HUDF[1], workspace_root=tmp_path)
    t, kind, line = load_targets(cfg)
    assert t is None and kind == "none" and "--targets" in line
    given = tmp_path / "mine.csv"
    given.write_text("id,ra,dec,priority\n1,53.16,-27.79,1\n2,53.17,-27.78,2\n3,53.161,-27.791,1\n")
    cfg.update(extra={"targets_path": str(given)})
    t, kind, line = load_targets(cfg)
    assert kind == "as given" and len(t) == 3 and "not judged" in line and "mine.csv" in line
    corrected = cfg.subdir("catalogs") / "targets_corrected.ecsv"
    t2 = t.copy()
    t2["ra"] += 1e-5
    t2.write(corrected, format="ascii.ecsv")
    cfg.update(extra={"targets": {"corrected_path": str(corrected),
                                  "correction": {"sentence": "re-registered with the fitted transform"}}})
    t, kind, line = load_targets(cfg)
    assert kind == "corrected" and t["ra"][0] == pytest.approx(t2["ra"][0]) and "fitted transform" in line
    corrected.write_text("# %ECSV 1.0\nnot a table\n")
    t, kind, line = load_targets(cfg)
    assert kind == "as given" and "unreadable" in line
    corrected.unlink()
    t, kind, line = load_targets(cfg)
    assert kind == "as given" and "missing" in line
