"""The embedded offline demo field: one truth and the specs of its three products, made by the drizzled test bed."""

from .images import ImageSpec
from .truth import make_truth


def demo_field(size_pix=3000):
    """The embedded offline demo: a GOODS-South / HUDF-like field seen three ways.

    Three independent drizzled products of one truth, as a planner might find in MAST, each made by
    the drizzled test bed (:func:`.mosaic.make_mosaic`) the way the pipelines make them: detector
    exposures with SIAF distortion, cosmic rays, hot pixels and bleeding, combined by STScI's
    ``drizzle``:

    * ACS/WFC F814W and F606W (2004.8): one pointing of both WFC chips, a 4-point dither of 3000 s
      (2500 s) exposures filling the inter-chip gap at reduced depth, drizzled onto CANDELS-style
      0.06"/px ``drc`` mosaics (SCI e-/s, WHT exposure time, CTX, no ERR), with a Gaia-aligned WCS;
    * NIRCam F277W (2023.8): a 2 x 2 mosaic of the NRCA5 long-wavelength detector, 3 dithered
      2000 s exposures per tile, resampled at 0.063"/px into an ``i2d`` (SCI MJy/sr, ERR, CON,
      WHT, VAR_*).

    All three use pixfrac 1.0, the default of AstroDrizzle's ``final_pixfrac`` and of the jwst
    ``resample`` step. (At pixfrac 0.8 and 0.6 the drizzled PSF depends more on each star's sub-pixel
    phase; the extraction's errors carry it as the drizzle floor, which method 5 keeps rather than
    rescales: on the 1500-px demo notebook 03's verdict reads 0.76-0.86x the truth at 1.0, 0.87-0.96x
    at 0.8 and 1.03-1.15x at 0.6 over three seeds, ``benchmarks/bench_astrometry.py demo``; issue 13.)

    Each header WCS carries a known error (``wcs_shift_mas``, ``wcs_rotation_arcsec``). Star density
    is boosted well above the real HUDF's so that every astrometric method has hundreds of pairs —
    the demo exercises the methods; a real deep field has far fewer stars (notebook 03 says how
    many it used).

    Parameters
    ----------
    size_pix : int
        Side of the ACS images in pixels (0.06"/px; 3000 px = 180").

    Returns
    -------
    truth : `~astropy.table.Table`
    specs : list of ImageSpec
        ``drizzled=True``: :func:`.make_image` renders them through the bed.
    """
    from ..config import DEMO_FIELD
    from ..validate import require_number

    size_pix = require_number(size_pix, "size_pix", integer=True, minimum=16, maximum=20000, example="3000")

    center = (DEMO_FIELD["ra"], DEMO_FIELD["dec"])
    side = size_pix * 0.06
    truth = make_truth(center=center, size_arcsec=side * 1.08, n_stars=int(900 * (side / 180.0) ** 2),
                       n_galaxies=int(1400 * (side / 180.0) ** 2), n_pairs=int(40 * (side / 180.0) ** 2),
                       n_saturated=6, star_mag_range=(19.5, 28.0), seed=2004)
    nircam_px = int(round(size_pix * 0.06 / 0.063))
    # NIRCam LW's detector spans 129": tiles on a 2 x 2 grid once the field is wider, overlapping by
    # what the field leaves over (a single pointing for a field that fits)
    step = max(side - NRCA5_SPAN_ARCSEC + 6.0, 0.0) / 2.0
    tiles = ((0.0, 0.0),) if step == 0 else tuple((sx * step, sy * step) for sy in (-1, 1) for sx in (-1, 1))
    specs = [
        ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(size_pix, size_pix), center=center, pixel_scale=0.06,
                  orientat=0.0, epoch=2004.8, exptime=12000.0, n_exposures=4, sky=0.12, seed=11,
                  wcs_shift_mas=(1.5, -1.0), name="hst_9978_acs_wfc_f814w_demo", drizzled=True, pixfrac=1.0),
        ImageSpec(instrument="ACS/WFC", filter="F606W", shape=(size_pix, size_pix), center=center, pixel_scale=0.06,
                  orientat=0.0, epoch=2004.8, exptime=10000.0, n_exposures=4, sky=0.10, seed=12,
                  wcs_shift_mas=(-2.0, 2.5), wcs_rotation_arcsec=0.05, name="hst_9978_acs_wfc_f606w_demo",
                  drizzled=True, pixfrac=1.0),
        ImageSpec(instrument="NIRCAM", filter="F277W", shape=(nircam_px, nircam_px), center=center,
                  pixel_scale=0.063, orientat=20.0, epoch=2023.8, exptime=6000.0, n_exposures=3, sky=0.25,
                  seed=13, wcs_shift_mas=(4.0, -3.0), chip_gap=False, name="jw01180_nircam_f277w_demo",
                  drizzled=True, tiles=tiles, pixfrac=1.0),
    ]
    return truth, specs


#: Side of NIRCam's NRCA5 (LW) detector on the sky, arcsec (2048 px x 0.063").
NRCA5_SPAN_ARCSEC = 2048 * 0.063
