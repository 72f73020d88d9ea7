"""Regenerate ``drizzlepac_psfs.fits`` from the drizzlepac wheel's library PSFs (see PROVENANCE.md).

Usage::

    pip download --no-deps drizzlepac==3.11.0 -d /tmp/whl
    unzip -o /tmp/whl/drizzlepac-3.11.0-*.whl 'drizzlepac/pars/psfs/*' -d /tmp/dp
    python data/psfs/make_psf_data.py /tmp/dp/drizzlepac/pars/psfs

Each library array is cropped to ``2 * HALF + 1`` pixels around its central pixel (the PSF's
centre; the light outside is < 2-4 % and the fits use <= 12 px) and written as one image HDU named
``<INSTRUMENT>_<DETECTOR>_<FILTER>`` with the original header keywords (PIXSCALE, aberrations,
SPECTRUM, the charge-diffusion COMMENT) plus the crop and the source file name.
"""

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

#: The filters the workbook's instruments commonly use (broad bands); others come from an
#: installed drizzlepac or the instrument model (helpers.sources.library).
WANTED = {
    ("acs", "wfc"): ["f435w", "f475w", "f555w", "f606w", "f775w", "f814w", "f850lp"],
    ("acs", "hrc"): ["f435w", "f475w", "f555w", "f606w", "f775w", "f814w", "f850lp"],
    ("wfc3", "uvis"): ["f275w", "f336w", "f438w", "f475w", "f555w", "f606w", "f775w", "f814w", "f850lp"],
    ("wfc3", "ir"): ["f105w", "f110w", "f125w", "f140w", "f160w"],
}
HALF = 22
OUT = Path(__file__).resolve().parent / "drizzlepac_psfs.fits"


def main(root):
    root = Path(root)
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["ORIGIN"] = ("drizzlepac 3.11.0 wheel, drizzlepac/pars/psfs", "source of the arrays")
    hdus[0].header["LICENSE"] = ("BSD-3-Clause (AURA)", "drizzlepac licence")
    hdus[0].header["CROPHALF"] = (HALF, "arrays cropped to 2*CROPHALF+1 px about n//2")
    for (inst, det), filters in WANTED.items():
        for filt in filters:
            path = root / inst / det / f"{inst}_{det}_{filt}.fits"
            with fits.open(path) as h:
                data = np.asarray(h[0].data, dtype=np.float32)
                header = h[0].header.copy()
            cy, cx = data.shape[0] // 2, data.shape[1] // 2
            peak = np.unravel_index(np.argmax(data), data.shape)
            crop = data[cy - HALF:cy + HALF + 1, cx - HALF:cx + HALF + 1]
            hdu = fits.ImageHDU(crop, name=f"{inst}_{det}_{filt}".upper())
            for key in ("INSTRUME", "PIXSCALE", "SPECTRUM", "FILTER", "FOCUS", "X_COMA", "Y_COMA", "X_ASTIG",
                        "Y_ASTIG", "X_CLOVER", "Y_CLOVER", "SPHERICL", "X_PSF", "Y_PSF", "CREATED"):
                if key in header:
                    hdu.header[key] = (header[key], header.comments[key])
            for line in header.get("COMMENT", []):
                hdu.header.add_comment(str(line))
            hdu.header["SRCFILE"] = (f"{inst}/{det}/{inst}_{det}_{filt}.fits", "file in drizzlepac/pars/psfs")
            hdu.header["SRCSHAPE"] = (f"{data.shape[0]}x{data.shape[1]}", "original array shape")
            hdu.header["SRCPEAK"] = (f"{peak[0]},{peak[1]}", "original peak pixel (row,col)")
            hdu.header["CROPFRAC"] = (float(crop.sum() / data.sum()), "fraction of the light kept by the crop")
            hdus.append(hdu)
    fits.HDUList(hdus).writeto(OUT, overwrite=True)
    print(f"{OUT}: {len(hdus) - 1} PSFs, {OUT.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dp/drizzlepac/pars/psfs")
