"""Instrument and filter presets of the simulated images, and the unit constants they share.

``INSTRUMENTS`` sets telescope, pupil, pixel scale, noise and header keywords per camera;
``FILTERS`` sets pivot wavelength, zero point and bandwidth per filter. Used by the PSF
(:mod:`.psf`), the renderer (:mod:`.images`) and, downstream, ``archive_replay`` and
``astrometry``.
"""

import math

ARCSEC_PER_RAD = 180.0 / math.pi * 3600.0
MAS_PER_DEG = 3.6e6

#: Instrument presets. ``blur_arcsec`` is the Gaussian sigma standing in for charge diffusion
#: and the drizzle kernel; ``read_noise`` is per exposure (e-); ``full_well`` per exposure (e-).
INSTRUMENTS = {
    "ACS/WFC": dict(telescope="HST", instrume="ACS", detector="WFC", pupil="hst", pixel_scale=0.05,
                    native_scale=0.05, read_noise=4.0, full_well=84700.0, blur_arcsec=0.028,
                    wcsname="IDC_0461802ej-FIT_REL_GAIAeDR3", product="drc"),
    "ACS/HRC": dict(telescope="HST", instrume="ACS", detector="HRC", pupil="hst", pixel_scale=0.025,
                    native_scale=0.025, read_noise=4.7, full_well=155000.0, blur_arcsec=0.014,
                    wcsname="IDC_47d1628hj", product="drz"),
    "WFC3/UVIS": dict(telescope="HST", instrume="WFC3", detector="UVIS", pupil="hst", pixel_scale=0.04,
                      native_scale=0.04, read_noise=3.1, full_well=63000.0, blur_arcsec=0.020,
                      wcsname="FIT_SVM_GAIAeDR3", product="drc"),
    "WFC3/IR": dict(telescope="HST", instrume="WFC3", detector="IR", pupil="hst", pixel_scale=0.06,
                    native_scale=0.13, read_noise=15.0, full_well=78000.0, blur_arcsec=0.040,
                    wcsname="IDC_w3m18525i-FIT_REL_GAIAeDR3", product="drz"),
    "WFPC2": dict(telescope="HST", instrume="WFPC2", detector="WF", pupil="hst", pixel_scale=0.1,
                  native_scale=0.1, read_noise=5.3, full_well=53000.0, blur_arcsec=0.030,
                  wcsname="IDC_u5t1624ou", product="drz"),
    "NIRCAM": dict(telescope="JWST", instrume="NIRCAM", detector="NRCBLONG", pupil="jwst", pixel_scale=0.063,
                   native_scale=0.063, read_noise=15.0, full_well=100000.0, blur_arcsec=0.006,
                   wcsname="FIT_REL_GAIADR3", product="i2d"),
}

#: Filter pivot wavelengths (micron), AB zero points for 1 e-/s, fractional bandwidth.
#: Pivot wavelengths and zero points approximate the STScI instrument handbooks' values
#: (ACS/WFC and WFC3/UVIS zeropoint tables; NIRCam JDox "NIRCam Filters").
FILTERS = {
    "F435W": dict(pivot_um=0.4330, zp_ab=25.66, width=0.21),
    "F475W": dict(pivot_um=0.4745, zp_ab=26.06, width=0.29),
    "F606W": dict(pivot_um=0.5921, zp_ab=26.49, width=0.39),
    "F775W": dict(pivot_um=0.7692, zp_ab=25.66, width=0.19),
    "F814W": dict(pivot_um=0.8045, zp_ab=25.94, width=0.31),
    "F850LP": dict(pivot_um=0.9033, zp_ab=24.84, width=0.18),
    "F125W": dict(pivot_um=1.2486, zp_ab=26.23, width=0.24),
    "F160W": dict(pivot_um=1.5369, zp_ab=25.95, width=0.18),
    "F115W": dict(pivot_um=1.154, zp_ab=27.6, width=0.20),
    "F150W": dict(pivot_um=1.501, zp_ab=27.9, width=0.21),
    "F200W": dict(pivot_um=1.990, zp_ab=28.0, width=0.23),
    "F277W": dict(pivot_um=2.786, zp_ab=28.0, width=0.24),
    "F356W": dict(pivot_um=3.563, zp_ab=28.1, width=0.22),
    "F444W": dict(pivot_um=4.421, zp_ab=28.0, width=0.23),
}
