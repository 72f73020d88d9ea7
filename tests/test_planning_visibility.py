"""apa_windows against jwst_gtvt 1.2's recorded answers (tests/data/planning/record_gtvt.py)."""
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from helpers.errors import WorkbookError
from helpers.planning import EphemerisWarning, apa_windows, check_apa, visible_periods

GTVT = Path(__file__).parent / "data" / "planning" / "gtvt_apa_windows.ecsv"


def _dang(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def gtvt():
    return Table.read(GTVT)


@pytest.mark.parametrize("field", ["GOODS-S", "COSMOS", "EGS"])
@pytest.mark.parametrize("lag_days", [0, 1])
def test_matches_gtvt(gtvt, field, lag_days):
    """Same calendar day (what a user compares) meets the issue's targets; aligning gtvt's
    one-row ephemeris lag (it uses the previous day's JWST position) agrees much tighter."""
    g = gtvt[gtvt["field"] == field]
    ours = apa_windows(g["ra"][0], g["dec"][0], "2022-12-31", "2024-12-31")
    idx = np.searchsorted(ours["mjd"], np.floor(g["mjd"]) - lag_days)
    g, o = g[1:], ours[idx[1:]]       # gtvt's first row repeats the day before the range
    assert np.array_equal(np.floor(g["mjd"]) - lag_days, o["mjd"])
    agree = np.mean(g["visible"] == o["visible"])
    both = g["visible"] & o["visible"]
    nominal = _dang(g["apa_nominal"][both], o["apa_nominal"][both])
    limits = np.concatenate([_dang(g["apa_min"][both], o["apa_min"][both]), _dang(g["apa_max"][both], o["apa_max"][both])])
    assert agree >= 0.98
    assert np.median(nominal) <= 1.0 and np.percentile(nominal, 95) <= 2.0
    assert np.median(limits) <= 1.5
    if lag_days == 1:
        assert agree >= 0.995 and np.median(nominal) < 0.25 and np.percentile(nominal, 95) < 0.5


def test_roll_range_is_symmetric_and_small():
    t = apa_windows(150.1192, 2.2058, "2024-01-01", "2024-12-31")
    v = t["visible"]
    assert 0.2 < v.mean() < 0.6   # an ecliptic field: two windows, well under half the year... each
    width = _dang(t["apa_max"][v], t["apa_min"][v])
    assert np.all(width > 2 * 3.0) and np.all(width < 2 * 15.0)
    assert np.allclose(_dang(t["apa_nominal"][v], t["apa_min"][v]), width / 2, atol=1e-6)


def test_outside_ephemeris_answers_and_says_so():
    with pytest.warns(EphemerisWarning, match="outside the JWST ephemeris"):
        t = apa_windows(53.1625, -27.7914, "2025-06-01", "2025-09-30")
    assert t["in_jwst_ephemeris"].sum() == 12 and not t["in_jwst_ephemeris"][-1]
    assert np.isfinite(t["apa_nominal"][t["visible"]]).all()


def test_never_visible_says_when():
    # the ecliptic pole region is always visible; a field near the ecliptic is not for months
    with pytest.raises(WorkbookError, match="not visible .* it is visible 20") as exc:
        apa_windows(150.1192, 2.2058, "2024-06-01", "2024-07-15")
    assert "\n" not in str(exc.value)
    periods = visible_periods(150.1192, 2.2058, "2024-06-01")
    assert periods and all(a <= b for a, b in periods)


def test_apa_outside_window():
    t = apa_windows(53.1625, -27.7914, "2024-01-01", "2024-01-05")
    ok = check_apa(t["apa_nominal"][0], t)
    assert ok[0]
    with pytest.raises(WorkbookError, match="not allowed on any day"):
        check_apa((t["apa_nominal"][0] + 90) % 360, t)


@pytest.mark.parametrize("args, match", [(("x", 0, "2024-01-01", "2024-01-02"), "not a finite"),
                                         ((10, 95, "2024-01-01", "2024-01-02"), "outside"),
                                         ((10, 0, "2024-02-01", "2024-01-02"), "before start"),
                                         ((10, 0, "yesterday", "2024-01-02"), "not understood")])
def test_bad_input(args, match):
    with pytest.raises(WorkbookError, match=match):
        apa_windows(*args)


def test_plot_apa_windows(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.plotting.planning import plot_apa_windows

    t = apa_windows(53.1625, -27.7914, "2024-01-01", "2024-12-31")
    fig = plot_apa_windows(t, epoch="2024-10-15")
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("NIRSpec MSA aperture PA")
    line = ax.get_lines()[0].get_ydata()
    assert np.allclose(np.asarray(line, float), np.where(t["visible"], t["apa_nominal"], np.nan), equal_nan=True)
    assert len(ax.get_lines()) == 2   # nominal + the planned epoch
    fig.savefig(tmp_path / "apa.png")
