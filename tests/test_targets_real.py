"""helpers.targets on a target list built from a real HST image (WFPC2 HDF-South, mpdaf 3.6 wheel).

``tests/data/targets/hdfs_targets.cat`` is a SExtractor ``ASCII_HEAD`` list of 101 sources
measured on the real mosaic, moved by a known offset, rotation and scatter
(``tests/data/targets/PROVENANCE.md``). Reading it must hand back exactly those positions:
fitting shift + rotation between the list as read and the image positions recovers the
injected numbers to within their statistical error.
"""

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from helpers.skyplane import sky_to_tangent
from helpers.targets import TargetListWarning, read_target_list

DATA = Path(__file__).parent / "data" / "targets"


@pytest.fixture(scope="module")
def real():
    truth = Table.read(DATA / "hdfs_truth.ecsv")
    with pytest.warns(TargetListWarning, match="ALPHA_J2000/DELTA_J2000 taken as ICRS"):
        targets = read_target_list(DATA / "hdfs_targets.cat")
    return truth, targets


def test_real_sextractor_list_is_read_with_its_columns(real):
    truth, t = real
    info = t.meta["target_list"]
    assert info["format"] == "sextractor" and len(t) == len(truth) == 101
    assert info["columns"] == {"id": "NUMBER", "ra": "ALPHA_J2000", "dec": "DELTA_J2000", "priority": "PRIORITY"}
    assert t["id"].tolist() == truth["id"].tolist()
    assert {"MAG_AUTO", "MAGERR_AUTO", "FLUX_RADIUS", "FLAGS"} <= set(t.colnames)
    assert t["weight"][t["priority"] == 1].tolist() == [3.0] * int(np.sum(t["priority"] == 1))
    assert info["radius_deg"] < 0.01  # a 20" x 20" cut-out


def test_real_list_carries_the_injected_frame_offset_and_scatter(real):
    truth, t = real
    ra0, dec0 = truth.meta["tangent_point_deg"]
    injected = truth.meta["perturbation"]
    e0, n0 = sky_to_tangent(truth["ra"], truth["dec"], ra0, dec0, unit="mas")
    e1, n1 = sky_to_tangent(t["ra"], t["dec"], ra0, dec0, unit="mas")
    # linear least squares for shift (a, b) and small rotation theta: e1 = e0 - theta n0 + a, n1 = n0 + theta e0 + b
    design = np.zeros((2 * len(t), 3))
    design[: len(t)] = np.column_stack([np.ones(len(t)), np.zeros(len(t)), -n0])
    design[len(t):] = np.column_stack([np.zeros(len(t)), np.ones(len(t)), e0])
    rhs = np.concatenate([e1 - e0, n1 - n0])
    (a, b, theta), *_ = np.linalg.lstsq(design, rhs, rcond=None)
    resid = rhs - design @ np.array([a, b, theta])
    sigma = injected["scatter_mas_per_axis"]
    err_shift = sigma / np.sqrt(len(t))
    assert abs(a - injected["offset_east_mas"]) < 4 * err_shift
    assert abs(b - injected["offset_north_mas"]) < 4 * err_shift
    # a rotation is poorly constrained on a 20" field: its 1-sigma error is sigma / sqrt(sum r^2)
    err_theta_arcsec = np.degrees(sigma / np.sqrt(np.sum(e0 ** 2 + n0 ** 2))) * 3600
    assert abs(np.degrees(theta) * 3600 - injected["rotation_arcsec"]) < 4 * err_theta_arcsec
    assert err_theta_arcsec < injected["rotation_arcsec"] / 5  # the check has teeth: 0 rotation would fail
    robust = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    assert 0.75 * sigma < robust < 1.25 * sigma
