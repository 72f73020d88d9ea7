"""Saturated, bleeding stars on a drizzled test-bed product (issue #13): classed point and flagged
saturated, not "extended".

The bed's exposures mask their saturated and bled pixels (DQ), so the drizzled product has a
zero-weight hole where each saturated star's core and bleed column were, ringed by the star's
brightest valid pixels. The truth says which stars saturated in an exposure."""

import warnings

import numpy as np
import pytest

from helpers import sources
from helpers.simulate import make_truth
from helpers.simulate.drizzled import isolated, make_drizzled
from helpers.sources.catalog import FLAG_SATURATED
from helpers.sources.detection import _saturated, _saturated_fragments
from helpers.sources.background import _Noise

CENTER = (53.1625, -27.791417)


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """ACS/WFC F814W drc, 0.05"/px, pixfrac 1, 4-point box of 500 s: 54 stars and 7 saturated ones."""
    truth = make_truth(center=CENTER, size_arcsec=23.0, n_stars=60, n_galaxies=0, n_pairs=0, n_saturated=8,
                       star_snr=(10, 300), seed=3)
    p = make_drizzled(isolated(truth, 12 * 0.05), "ACS/WFC", "F814W", shape=(512, 512), out_scale=0.05, pixfrac=1.0,
                      exptime=500.0, sky=0.08, seed=1, name="tb_sat")
    return p, p.writeto(tmp_path_factory.mktemp("sat") / "tb_sat_drc.fits")


@pytest.mark.parametrize("use_psf_fit", [False, True])
def test_saturated_bleeding_stars_are_point_and_flagged(product, use_psf_fit):
    p, path = product
    truth = p.truth
    saturated = np.asarray(truth["saturated"], bool)
    assert saturated.sum() >= 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = sources.extract_sources_fits(path, progress=False, use_psf_fit=use_psf_fit)
    cx, cy = np.asarray(cat["x"]), np.asarray(cat["y"])
    d = np.hypot(cx[None, :] - np.asarray(truth["x"])[:, None], cy[None, :] - np.asarray(truth["y"])[:, None])
    j, near = np.argmin(d, axis=1), np.min(d, axis=1) < 1.0
    kind, flags = np.asarray(cat["kind"]), np.asarray(cat["flags"])
    assert near[saturated].all()
    # every saturated star a point source with the saturated flag (they were all "extended", unflagged)
    assert np.all(kind[j[saturated]] == "point"), kind[j[saturated]]
    assert np.all(flags[j[saturated]] & FLAG_SATURATED), flags[j[saturated]]
    # and no unsaturated star far from them is called saturated
    tx, ty = np.asarray(truth["x"]), np.asarray(truth["y"])
    to_saturated = np.hypot(tx[:, None] - tx[saturated][None, :], ty[:, None] - ty[saturated][None, :]).min(axis=1)
    far = ~saturated & near & (to_saturated > 15)
    assert far.sum() >= 30
    assert not np.any(flags[j[far]] & FLAG_SATURATED)
    assert sources.flag_summary({"tb_sat": cat})["saturated"][0] >= saturated.sum()


def test_a_zero_weight_hole_is_saturation_only_inside_a_bright_star():
    """The rule on its own: a 2-px hole at a bright star's centre is saturation; the same hole under a
    faint star, a bright star cut by the image's edge (its zero weight touches the border) or one
    masked pixel are not; a detection on the star's hole 4 px away is one of its fragments."""
    n = 40
    yy, xx = np.mgrid[:n, :n]

    def star(x, y, f):
        return f * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.0**2))

    noise = _Noise(error=np.ones((n, n), np.float32))
    for flux, expect in ((5000.0, True), (20.0, False)):
        sub = star(20.0, 20.0, flux).astype(np.float32)
        hole = np.zeros((n, n), bool)
        hole[19:21, 20] = True
        sub[hole] = 0
        sat = _saturated(None, sub, np.array([20.0, 20.0]), np.array([20.0, 24.0]), None, noise, hole=hole)
        assert sat[0] == expect
        frag = _saturated_fragments(hole, np.array([20.0, 20.0]), np.array([20.0, 22.5]), sat)
        assert frag[1] == expect and not frag[0]
    sub = star(20.0, 20.0, 5000.0).astype(np.float32)
    one = np.zeros((n, n), bool)
    one[20, 20] = True
    assert not _saturated(None, sub, np.array([20.0]), np.array([20.0]), None, noise, hole=one)[0]
    edge = np.zeros((n, n), bool)
    edge[:, 21:] = True  # the image's unexposed part, reaching the border
    assert not _saturated(None, sub, np.array([20.0]), np.array([20.0]), None, noise, hole=edge)[0]
