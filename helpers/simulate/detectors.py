"""Detectors of the individual exposures: noise, cosmic rays, DQ bits, and the geometric distortion
as the SIP polynomial of the exposure's header, derived from pysiaf's science-to-ideal polynomials.

``DETECTORS`` holds per-detector facts (native pixel scale, read noise, dark, full well, cosmic-ray
event rate, charge and size, hot-pixel fraction, output units and DQ bit values). Noise, dark and
full well are the round numbers of the instrument handbooks (ACS IHB ch. 4-5, WFC3 IHB ch. 5-7,
JDox "NIRCam Detector Performance"); the cosmic-ray figures are cited one by one in
:data:`COSMIC_RAYS`. They set a realistic test bed, not a calibration.

The distortion is exact, not invented: for a SIAF aperture the ideal frame (arcsec) is
``x_idl = Σ X_ij u^(i-j) v^j`` with ``u, v`` the pixel offsets from the reference pixel
(pysiaf's ``Sci2IdlX/Y``). The linear part ``L`` becomes the CD matrix (with the exposure's
roll) and the rest the SIP ``A, B`` polynomials, ``(A, B) = L⁻¹ · nonlinear`` (Shupe et al. 2005,
ADASS XIV 491). A TAN-SIP header built this way reproduces the SIAF polynomial to round-off
(``tests/test_simulate_exposures.py``).
"""

import functools
import math
import warnings

import numpy as np

from ..errors import WorkbookError

#: HST DQ bit values (ACS/WFC3 data handbooks, "Data Quality Flags").
HST_DQ = {"bad_pixel": 4, "hot_pixel": 16, "saturated": 256, "cr_astrodrizzle": 4096, "cr_crcorr": 8192}
#: JWST DQ bit values (``jwst.datamodels.dqflags.pixel``).
JWST_DQ = {"do_not_use": 1, "saturated": 2, "jump_det": 4, "hot": 2048}

#: Cosmic rays per detector, from the instrument documentation (one line per number says where).
#: ``rate_cm2_s``: events per cm² of detector per second; ``pixel_um``: pixel pitch (µm), so that
#: events per pixel per second = rate · pitch²; ``charge_e``: (floor, median) charge of one event
#: (e-; above the floor log-normal with 0.3 dex); ``track_pix``: mean length (pixels, exponential) of
#: the path along which the charge is laid, each deposit shared bilinearly over 2×2 pixels (charge
#: diffusion), which together give the cited number of pixels per event;
#: ``fraction_1000s``: the documented fraction of pixels an event touches above 5× the read noise
#: in 1000 s (the check, ``tests/test_simulate_exposures.py``); ``in_data``: False for IR arrays, whose
#: up-the-ramp fit removes a detected jump (DQ flags it) and leaves only the residual of jumps below
#: the detection threshold (:func:`.exposures._cosmic_rays`).
COSMIC_RAYS = {
    # ACS IHB §4.3.6 / Riess 2002 (ISR ACS 2002-07): "the fraction of pixels affected by cosmic rays
    # varies from 1.5% to 3% during a 1000 second exposure" (taken: the middle, 2.25 %); "negligible
    # events of less than 500 e- and a median of ~1000 e-"; pixels per event "strongly peaked at 4 to 5"
    # (track 1.05 px gives 4.75 px above 5σ, median 4). Rate = 2.25 % / 4.8 px / (15 µm)² / 1000 s.
    "ACS/WFC": dict(rate_cm2_s=2.08, pixel_um=15.0, charge_e=(500.0, 1000.0), track_pix=1.05, fraction_1000s=0.0225,
                    in_data=True),
    # WFC3 IHB §6.10.2: "the cosmic-ray fluxes for WFC3 UVIS are comparable to the levels seen in ACS,
    # STIS CCD, and WFPC2": ACS's figures, on the same 15 µm pixels (track 0.9 px: the 3.1 e- read
    # noise puts the 5σ cut lower, so the same events touch 4.7 px above it).
    "WFC3/UVIS": dict(rate_cm2_s=2.08, pixel_um=15.0, charge_e=(500.0, 1000.0), track_pix=0.9, fraction_1000s=0.0225,
                      in_data=True),
    # HgCdTe in low-Earth orbit: NICMOS IHB (ch. 7, "Cosmic rays"): "1.2 to 1.6 events/second/Camera"
    # above 5σ on 256² pixels of 40 µm (1.4/s over 1.05 cm²: 1.33 events cm⁻² s⁻¹). Event size on 18 µm HgCdTe
    # pixels: ~7.1 pixels and ~5200 e- per hit (JWST NIRSpec H2RG on orbit, Rauscher & Fixsen 2025,
    # PASP 137, 095003; track 2.8 px gives 7.2-7.3). Fraction = 1.33 · (18 µm)² · 7.1 px · 1000 s = 3.1 %.
    "WFC3/IR": dict(rate_cm2_s=1.33, pixel_um=18.0, charge_e=(1000.0, 5200.0), track_pix=2.8, fraction_1000s=0.031,
                    in_data=False),
    # JWST at L2: 2.3-4.3 ions cm⁻² s⁻¹ measured on NIRSpec's H2RG (same 18 µm pixels as NIRCam),
    # ~7.1 pixels and ~5200 e- per hit (Rauscher & Fixsen 2025); taken 3.3. (JDox "JWST ETC Cosmic Ray
    # Implementation" plans with 8 events cm⁻² s⁻¹ and 9 pixels: an upper bound.)
    # Fraction = 3.3 · (18 µm)² · 7.1 px · 1000 s = 7.6 %.
    "NIRCAM/SW": dict(rate_cm2_s=3.3, pixel_um=18.0, charge_e=(1000.0, 5200.0), track_pix=2.8, fraction_1000s=0.076,
                      in_data=False),
    "NIRCAM/LW": dict(rate_cm2_s=3.3, pixel_um=18.0, charge_e=(1000.0, 5200.0), track_pix=2.8, fraction_1000s=0.076,
                      in_data=False),
}

#: Per-detector presets. ``chip`` is the (ny, nx) size of one detector (flt/cal frame);
#: ``siaf`` the pysiaf (observatory/instrument, aperture) whose polynomial is the distortion;
#: ``cr`` the cosmic-ray figures of :data:`COSMIC_RAYS` and ``cr_in_data`` False when the ramp fit
#: removes the jump (IR arrays: DQ says it); ``hot_fraction`` pixels with dark current above
#: ``hot_dark`` e-/s; ``bleeds`` whether saturated charge spills along columns (CCDs) or not
#: (HgCdTe); ``units`` as the pipeline writes the exposure.
DETECTORS = {
    "ACS/WFC": dict(instrument="ACS/WFC", chip=(2048, 4096), siaf=("HST", "JWFC1FIX"), native_scale=0.05,
                    read_noise=4.0, dark=0.01, full_well=84700.0, hot_fraction=0.01, hot_dark=0.1, bleeds=True,
                    units="ELECTRONS", suffix="flc", telescope="HST", dq=HST_DQ),
    "WFC3/UVIS": dict(instrument="WFC3/UVIS", chip=(2051, 4096), siaf=("HST", "IUVIS1FIX"), native_scale=0.04,
                      read_noise=3.1, dark=0.005, full_well=63000.0, hot_fraction=0.01, hot_dark=0.1, bleeds=True,
                      units="ELECTRONS", suffix="flc", telescope="HST", dq=HST_DQ),
    "WFC3/IR": dict(instrument="WFC3/IR", chip=(1014, 1014), siaf=("HST", "IIRFIX"), native_scale=0.13,
                    read_noise=15.0, dark=0.05, full_well=78000.0, hot_fraction=0.005, hot_dark=1.0, bleeds=False,
                    units="ELECTRONS/S", suffix="flt", telescope="HST", dq=HST_DQ),
    "NIRCAM/SW": dict(instrument="NIRCAM", chip=(2048, 2048), siaf=("NIRCam", "NRCA1_FULL"), native_scale=0.031,
                      read_noise=15.0, dark=0.002, full_well=100000.0, hot_fraction=0.005, hot_dark=1.0, bleeds=False,
                      units="MJy/sr", suffix="cal", telescope="JWST", dq=JWST_DQ, detector="NRCA1"),
    "NIRCAM/LW": dict(instrument="NIRCAM", chip=(2048, 2048), siaf=("NIRCam", "NRCA5_FULL"), native_scale=0.063,
                      read_noise=15.0, dark=0.03, full_well=100000.0, hot_fraction=0.005, hot_dark=1.0, bleeds=False,
                      units="MJy/sr", suffix="cal", telescope="JWST", dq=JWST_DQ, detector="NRCA5"),
}
for _name, _det in DETECTORS.items():
    _det["cr"] = COSMIC_RAYS[_name]
    _det["cr_in_data"] = COSMIC_RAYS[_name]["in_data"]


def detector(name):
    """The preset of one detector (a copy), or a one-line error naming the choices."""
    if name not in DETECTORS:
        raise WorkbookError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")
    return dict(DETECTORS[name])


@functools.lru_cache(maxsize=8)
def siaf_polynomial(observatory, aperture):
    """The SIAF science-to-ideal polynomial of one aperture (pysiaf, shipped data, offline).

    Returns
    -------
    degree : int
    coeff_x, coeff_y : tuple of float
        Flattened triangular layout (pysiaf's): term k = (i, j) multiplies u^(i-j) v^j, arcsec.
    ref : (float, float)
        The reference pixel (XSciRef, YSciRef), 1-based science pixels.
    """
    import pysiaf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = pysiaf.Siaf(observatory)[aperture]
        coeffs = ap.get_polynomial_coefficients()
    return (int(ap.Sci2IdlDeg), tuple(float(c) for c in coeffs["Sci2IdlX"]),
            tuple(float(c) for c in coeffs["Sci2IdlY"]), (float(ap.XSciRef), float(ap.YSciRef)))


def _terms(degree):
    return [(i, j) for i in range(degree + 1) for j in range(i + 1)]


def _siaf_of(name, aperture=None):
    """(observatory, aperture) of a detector preset, or of another aperture of the same observatory
    (e.g. ACS/WFC's second chip, ``JWFC2FIX``)."""
    observatory, default = DETECTORS[name]["siaf"]
    return observatory, default if aperture is None else str(aperture)


def ideal_from_pixel(name, u, v, aperture=None):
    """SIAF ideal coordinates (arcsec) at offsets ``u, v`` (pixels) from the reference pixel."""
    degree, cx, cy, _ = siaf_polynomial(*_siaf_of(name, aperture))
    u, v = np.asarray(u, float), np.asarray(v, float)
    x = np.zeros(np.broadcast(u, v).shape)
    y = np.zeros_like(x)
    for k, (i, j) in enumerate(_terms(degree)):
        m = u ** (i - j) * v**j
        x += cx[k] * m
        y += cy[k] * m
    return x, y


def sip_from_siaf(name, aperture=None):
    """Linear part and SIP polynomials equivalent to the detector's SIAF distortion
    (``aperture``: another SIAF aperture of the same observatory, e.g. ``JWFC2FIX``).

    Returns
    -------
    linear : (2, 2) ndarray
        ``[[X10, X11], [Y10, Y11]]``, arcsec per pixel (ideal frame).
    a, b : ndarray
        SIP ``A_p_q``, ``B_p_q`` arrays (order = the SIAF degree; terms of total degree ≥ 2), pixels.
    """
    degree, cx, cy, _ = siaf_polynomial(*_siaf_of(name, aperture))
    terms = _terms(degree)
    lin = np.array([[cx[terms.index((1, 0))], cx[terms.index((1, 1))]],
                    [cy[terms.index((1, 0))], cy[terms.index((1, 1))]]])
    inv = np.linalg.inv(lin)
    a = np.zeros((degree + 1, degree + 1))
    b = np.zeros((degree + 1, degree + 1))
    for k, (i, j) in enumerate(terms):
        if i < 2:
            continue
        f, g = inv @ np.array([cx[k], cy[k]])
        a[i - j, j] = f
        b[i - j, j] = g
    return lin, a, b


def pixel_area_arcsec2(name, aperture=None):
    """Sky area of the reference pixel, arcsec² (|det| of the SIAF linear part; ACS/WFC 0.00239, not 0.05²)."""
    lin, _, _ = sip_from_siaf(name, aperture)
    return float(abs(np.linalg.det(lin)))


def max_distortion_pix(name):
    """Largest departure of the SIAF polynomial from its linear part over the whole chip, pixels."""
    lin, a, b = sip_from_siaf(name)
    ny, nx = DETECTORS[name]["chip"]
    u, v = np.meshgrid(np.linspace(-nx / 2, nx / 2, 41), np.linspace(-ny / 2, ny / 2, 41))
    x, y = ideal_from_pixel(name, u, v)
    du, dv = np.linalg.solve(lin, np.stack([x.ravel(), y.ravel()])) - np.stack([u.ravel(), v.ravel()])
    return float(np.max(np.hypot(du, dv)))


def exposure_wcs(name, crval, roll_deg, shape, origin=None, aperture=None):
    """TAN-SIP WCS of a detector sub-array, with the SIAF distortion.

    Parameters
    ----------
    name : str
        Key of :data:`DETECTORS`.
    crval : (float, float)
        Sky position (RA, Dec, degrees) of the chip's reference pixel.
    roll_deg : float
        Position angle of the ideal +y axis, degrees East of North.
    shape : (int, int)
        (ny, nx) of the simulated sub-array, pixels.
    origin : (int, int), optional
        0-based chip pixel (x0, y0) of the sub-array's first pixel; default centred on the chip.
        The reference pixel stays the chip's (as in flt/cal headers of sub-arrays), so the SIP is
        the whole chip's polynomial.
    aperture : str, optional
        SIAF aperture whose polynomial is the distortion (default the preset's; ``JWFC2FIX`` for
        ACS/WFC's second chip).

    Returns
    -------
    wcs : `~astropy.wcs.WCS`
        ``RA---TAN-SIP``; ``CRPIX`` is the chip centre in sub-array pixels.
    """
    from astropy.wcs import WCS, Sip

    det = DETECTORS[name]
    ny_chip, nx_chip = det["chip"]
    ny, nx = int(shape[0]), int(shape[1])
    if origin is None:
        origin = ((nx_chip - nx) // 2, (ny_chip - ny) // 2)
    lin, a, b = sip_from_siaf(name, aperture)
    pa = math.radians(roll_deg)
    # ideal (x, y) -> tangent plane (East, North): +y_idl at PA `roll`, x_idl to the West (parity -1)
    rot = np.array([[-math.cos(pa), math.sin(pa)], [math.sin(pa), math.cos(pa)]])
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crpix = [(nx_chip + 1) / 2.0 - origin[0], (ny_chip + 1) / 2.0 - origin[1]]
    w.wcs.crval = [float(crval[0]) % 360.0, float(crval[1])]
    w.wcs.cd = rot @ lin / 3600.0
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    w.pixel_shape = (nx, ny)
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.wcs.set()
    return w


def relative_pixel_area(wcs, shape):
    """Sky area of each pixel relative to the reference pixel's (the SIP Jacobian determinant).

    Flat-fielded HST and JWST exposures have a flat sky, so a point source's counts are divided by
    this area in the flt/cal (the pixel-area map of the instrument teams).
    """
    from .geometry import _smooth_field

    ny, nx = shape
    if wcs.sip is None:
        return np.ones((ny, nx))
    h = 0.5

    def jacobian_det(x, y):
        def foc(px, py):
            return wcs.sip_pix2foc(np.stack([px.ravel(), py.ravel()], axis=1), 0)

        fx1, fx0 = foc(x + h, y), foc(x - h, y)
        fy1, fy0 = foc(x, y + h), foc(x, y - h)
        dudx = (fx1[:, 0] - fx0[:, 0]) / (2 * h)
        dvdx = (fx1[:, 1] - fx0[:, 1]) / (2 * h)
        dudy = (fy1[:, 0] - fy0[:, 0]) / (2 * h)
        dvdy = (fy1[:, 1] - fy0[:, 1]) / (2 * h)
        return (dudx * dvdy - dudy * dvdx).reshape(x.shape)

    # the determinant of a polynomial map is smooth: exact on a 16-px grid, splined in between
    return _smooth_field(jacobian_det, (ny, nx))
