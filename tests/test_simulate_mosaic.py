"""Issue #13 item 1: mosaics in the drizzled test bed (both ACS/WFC chips with the SIAF's gap, NIRCam tiles), as the
demo's products are made: geometry against pysiaf, the gap filled at reduced depth, the header WCS error carried
exactly, the bound summed over the exposures that saw each star, and one-line refusals."""

import math
import warnings

import numpy as np
import pytest
from astropy.io import fits

from helpers import simulate
from helpers.errors import WorkbookError
from helpers.simulate import detectors
from helpers.simulate.geometry import _smooth_field
from helpers.simulate.mosaic import chip_pointings

CENTER = (53.1625, -27.791417)


def _pysiaf_aperture(name, attitude):
    import pysiaf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = pysiaf.Siaf("HST")[name]
    ap.set_attitude_matrix(attitude)
    return ap


def test_both_acs_chips_land_where_pysiaf_puts_them_with_the_real_gap():
    from pysiaf.utils import rotations

    pointings = chip_pointings("ACS/WFC", CENTER, 30.0)
    assert [p[0] for p in pointings] == ["JWFC1FIX", "JWFC2FIX"]
    ref = _pysiaf_aperture("JWFCENTER", np.eye(3))
    v2, v3 = ref.idl_to_tel(0.0, 0.0)
    # the attitude the bed used: its chips' positions and rolls are pysiaf's for that attitude
    from helpers.simulate.mosaic import _ideal_y_pa

    v3pa = 30.0 - ref.V3IdlYAngle
    for _ in range(2):
        attitude = rotations.attitude(v2, v3, *CENTER, v3pa)
        ref.set_attitude_matrix(attitude)
        v3pa += 30.0 - _ideal_y_pa(ref)
    # the pointing aperture's ideal +y is at the asked position angle
    (ra0, dec0), (ra1, dec1) = ref.idl_to_sky(0.0, 0.0), ref.idl_to_sky(0.0, 10.0)
    pa = math.degrees(math.atan2((ra1 - ra0) * math.cos(math.radians(dec0)), dec1 - dec0))
    assert abs(pa - 30.0) < 1e-5 and math.hypot((ra0 - CENTER[0]) * math.cos(math.radians(dec0)),
                                                dec0 - CENTER[1]) * 3.6e6 < 0.1
    wcs = {}
    for aperture, crval, roll in pointings:
        w = detectors.exposure_wcs("ACS/WFC", crval, roll, (2048, 4096), (0, 0), aperture)
        wcs[aperture] = w
        xs, ys = np.meshgrid([1.0, 1024.0, 2048.5, 3072.0, 4096.0], [1.0, 512.0, 1024.5, 1536.0, 2048.0])
        ra, dec = _pysiaf_aperture(aperture, attitude).sci_to_sky(xs.ravel(), ys.ravel())
        px, py = w.all_world2pix(ra, dec, 1)
        # exact at the chip centre; the bed's SIP is the SIAF polynomial taken about the chip centre rather
        # than about XSciRef (24 px away for ACS/WFC), which moves the corners by up to ~1.4 px
        d = np.hypot(px - xs.ravel(), py - ys.ravel())
        assert d.max() < 2.0 and d[12] < 0.05
    # WFC2 sits below WFC1 with a ~50-pixel gap (ACS Instrument Handbook: ~50 px / 2.5")
    top_of_wfc2 = wcs["JWFC2FIX"].all_pix2world([[100.0, 2047.5], [2048.0, 2047.5], [4000.0, 2047.5]], 0)
    gap = -0.5 - wcs["JWFC1FIX"].all_world2pix(top_of_wfc2, 0)[:, 1]
    assert np.all((gap > 45) & (gap < 58)), gap


def test_smooth_field_matches_the_exact_maps_of_a_chip():
    w = detectors.exposure_wcs("ACS/WFC", CENTER, 0.0, (2048, 4096))
    area = detectors.relative_pixel_area(w, (2048, 4096))
    ys, xs = np.mgrid[3:2048:97, 5:4096:131].astype(float)

    def exact_area(x, y):
        h = 0.5
        f = [w.sip_pix2foc(np.c_[x.ravel() + a, y.ravel() + b], 0) for a, b in ((h, 0), (-h, 0), (0, h), (0, -h))]
        return ((f[0][:, 0] - f[1][:, 0]) * (f[2][:, 1] - f[3][:, 1])
                - (f[2][:, 0] - f[3][:, 0]) * (f[0][:, 1] - f[1][:, 1])).reshape(x.shape)

    iy, ix = ys.astype(int), xs.astype(int)
    assert np.abs(area[iy, ix] - exact_area(xs, ys)).max() < 1e-9
    assert 0.85 < area.min() < area.max() < 1.15  # the ACS/WFC pixel-area map spans ~+-7 %
    out = simulate._build_wcs(simulate.ImageSpec(shape=(3000, 3000)), CENTER, 0.06)

    def to_output(x, y):
        ra, dec = w.all_pix2world(x, y, 0)
        return tuple(out.wcs_world2pix(ra, dec, 0))

    ox, oy = _smooth_field(to_output, (2048, 4096))
    ex, ey = to_output(xs, ys)
    assert max(np.abs(ox[iy, ix] - ex).max(), np.abs(oy[iy, ix] - ey).max()) < 1e-6


@pytest.fixture(scope="module")
def acs_mosaic():
    """A 600 x 500 px (36" x 30") drc across the ACS/WFC chip gap, 4 gap-filling exposures on both chips."""
    truth = simulate.make_truth(center=CENTER, size_arcsec=40.0, n_stars=400, n_galaxies=60, n_pairs=0,
                                n_saturated=0, star_mag_range=(21.0, 25.0), seed=8)
    spec = simulate.ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(500, 600), center=CENTER,
                              pixel_scale=0.06, exptime=2000.0, n_exposures=4, sky=0.1, seed=5,
                              wcs_shift_mas=(3.0, -2.0), wcs_rotation_arcsec=0.2, name="mos", drizzled=True)
    return truth, spec, simulate.make_image(truth, spec)


def test_acs_mosaic_is_a_drc_with_the_gap_filled_at_reduced_depth(acs_mosaic, tmp_path):
    truth, spec, product = acs_mosaic
    assert {e.spec.aperture for e in product.exposures} == {"JWFC1FIX", "JWFC2FIX"}
    assert len(product.exposures) == 8  # 4 dither positions x 2 chips, each a sub-array on the frame
    assert all(e.spec.shape[0] < 2048 and e.data is None for e in product.exposures)  # pixels not kept
    path = product.writeto(tmp_path / "mos_drc.fits")
    with fits.open(path) as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI", "WHT", "CTX"]
        assert h["SCI"].header["BUNIT"] == "ELECTRONS/S" and h[0].header["EXPTIME"] == 2000.0
        assert h[0].header["NDRIZIM"] == 8 and "D008DATA" in h[0].header
        wht = h["WHT"].data
    # EXP weights: the full depth is the 4 exposures; in the gap only some of them
    inner = wht[20:-20, 20:-20]
    full = np.median(inner)
    in_gap = (inner > 0.2 * full) & (inner < 0.8 * full)
    rows = np.flatnonzero(in_gap.mean(axis=1) > 0.3)
    # a stripe of reduced depth: the ~50 px gap spread by the dither's 90 px steps (x 0.05/0.06) and tilted
    assert rows.size > 10 and 60 < np.ptp(rows) < 200
    # the dither fills the gap: zero weight only where every exposure covering a pixel lost it (cosmic ray, hot pixel)
    assert (inner == 0).mean() < 0.002 and (inner[in_gap.any(axis=1)] == 0).mean() < 0.01
    # stars in the gap are seen by fewer exposures; every star of the truth by at least one, with a finite bound
    t = product.truth[np.asarray(product.truth["kind"]) == "star"]
    few = np.asarray(t["n_exp"]) < 4
    assert few.sum() > 5 and (~few).sum() > 100
    assert (np.asarray(t["n_exp"]) >= 1).all() and np.isfinite(np.asarray(t["crb_x"], float)).all()


def test_crb_is_summed_over_the_exposures_that_saw_each_star(acs_mosaic):
    """The bound of the product equals the bound from the summed information of its exposures, here checked
    against the bed's single-exposure geometry: for equal-flux stars a star seen by n exposures has a bound
    ~ sqrt(4 / n) times that of a star seen by all 4 (same sky, same read noise per exposure)."""
    truth, spec, product = acs_mosaic
    t = product.truth[np.asarray(product.truth["kind"]) == "star"]
    flux = np.asarray(t["flux"], float)
    n = np.asarray(t["n_exp"])
    crb = np.hypot(t["crb_x"], t["crb_y"]) / math.sqrt(2)
    # compare at equal flux by the bound's flux scaling of a background-limited star (sigma ~ 1/F)
    faint = flux < np.percentile(flux, 40)
    scaled = crb * flux
    full = np.median(scaled[faint & (n == 4)])
    for k in (2, 3):
        sel = faint & (n == k)
        if sel.sum() >= 3:
            assert 0.75 < np.median(scaled[sel]) / (full * math.sqrt(4 / k)) < 1.33, k


def test_the_header_wcs_carries_the_known_error_exactly(acs_mosaic):
    truth, spec, product = acs_mosaic
    frame, header = product.wcs, product.header_wcs
    assert product.to_hdulist()["SCI"].header["CRVAL1"] == pytest.approx(header.wcs.crval[0], abs=1e-12)
    y, x = np.mgrid[0:500:50, 0:600:50].astype(float)
    ra_t, dec_t = frame.wcs_pix2world(x, y, 0)
    ra_h, dec_h = header.wcs_pix2world(x, y, 0)
    de = (ra_h - ra_t) * np.cos(np.radians(dec_t)) * 3.6e6
    dn = (dec_h - dec_t) * 3.6e6
    # the shift at the centre, and the rotation about it: 0.2" over 300 px x 60 mas = 0.058 mas at the corner
    centre = (x == 300) & (y == 250)
    assert de[centre][0] == pytest.approx(3.0, abs=1e-3) and dn[centre][0] == pytest.approx(-2.0, abs=1e-3)
    r = np.hypot(x - 299.5, y - 249.5) * 60.0
    assert np.abs(np.hypot(de - 3.0, dn + 2.0) - r * math.radians(0.2 / 3600)).max() < 1e-3
    t = product.truth
    back = header.wcs_world2pix(np.asarray(t["ra"], float), np.asarray(t["dec"], float), 0)
    np.testing.assert_allclose(back[0], t["x_wcs"], atol=1e-6)


def test_nircam_tiles_make_one_i2d_with_overlaps_deeper():
    truth = simulate.make_truth(center=CENTER, size_arcsec=60.0, n_stars=150, n_galaxies=20, n_pairs=0,
                                n_saturated=0, star_mag_range=(21.0, 25.0), seed=9)
    # two 129" tiles 100" apart on a 252" wide frame: the middle 29" is covered by both, the ends by none
    spec = simulate.ImageSpec(instrument="NIRCAM", filter="F277W", shape=(120, 4000), center=CENTER,
                              pixel_scale=0.063, orientat=20.0, exptime=1000.0, n_exposures=2, sky=0.2, seed=3,
                              name="nrc", drizzled=True, tiles=((-50.0, 0.0), (50.0, 0.0)), chip_gap=False)
    product = simulate.make_image(truth, spec)
    assert product.suffix == "i2d" and list(product.extensions)[:4] == ["SCI", "ERR", "CON", "WHT"]
    assert len(product.exposures) == 4
    wht = product.extensions["WHT"][60]
    middle, left = np.median(wht[1950:2050]), np.median(wht[700:800])
    assert 1.7 < middle / left < 2.3  # two tiles overlap: twice the weight
    assert np.isnan(product.extensions["SCI"][60, :100]).all() and np.isnan(product.extensions["SCI"][60, -100:]).all()  # beyond both tiles: no data (NaN as jwst)


@pytest.mark.parametrize("kwargs, words", [
    (dict(drizzled=True, sip=True), "direct renderer"),
    (dict(drizzled=True, systematic="seam", systematic_mas=1.0), "direct renderer"),
    (dict(drizzled=True, instrument="ACS/HRC"), "no detector in the drizzled test bed"),
    (dict(drizzled=True, n_exposures=2, dither=((0, 0),)), "one offset per exposure"),
    (dict(drizzled=True, tiles="centre"), r"list of \(x, y\) pairs"),
    (dict(drizzled=True, pixfrac=1.5), "pixfrac"),
])
def test_bad_drizzled_specs_refused_in_one_line(kwargs, words):
    with pytest.raises(WorkbookError, match=words) as info:
        simulate.ImageSpec(center=CENTER, **kwargs)
    assert "\n" not in str(info.value)


def test_unknown_chip_aperture_refused_in_one_line():
    with pytest.raises(WorkbookError, match="not a SIAF aperture") as info:
        simulate.ExposureSpec(detector="ACS/WFC", aperture="JWFC9FIX")
    assert "\n" not in str(info.value)
