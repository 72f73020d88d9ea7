"""Hubble Advanced Products (HAP) layouts of the drizzled test bed: Single-Visit and Multi-Visit Mosaics.

The HST pipeline runs drizzlepac twice more after ``runastrodriz`` (the ``ipppssoot_drc`` products):
``runsinglehap`` makes Single-Visit Mosaics (SVM) and ``runmultihap`` Multi-Visit Mosaics (MVM, one
SkyCell layer per instrument/detector/filter). What this module reproduces, and where it comes from
(drizzlepac 3.x source, ``spacetelescope/drizzlepac``):

* **File names** (``doc/source/mast_data_products/hap_api.rst``; ``haputils/product.py``
  ``FilterProduct``, ``SkyCellProduct``, ``ExposureProduct``, ``SkyCellExposure``):

  - SVM filter product ``hst_<propid>_<obsetid>_<instr>_<detector>_<filter>_<ipppss>_dr[cz].fits``;
    its inputs renamed ``hst_<propid>_<obsetid>_<instr>_<detector>_<filter>_<ipppssoo>_fl[ct].fits``;
  - MVM SkyCell layer ``hst_skycell-p<PPPP>x<XX>y<YY>_<instr>_<detector>_<filter>_<layer>_dr[cz].fits``,
    ``<layer>`` = ``all`` (fine plate scale) or ``coarse-all``; inputs
    ``hst_skycell-p…_<instr>_<detector>_<filter>_<layer>-<ipppssoo>_fl[ct].fits``.

* **Plate scales**: SVM products keep the detector's native scale (``final_scale`` is null in every
  ``pars/hap_pars/svm_parameters`` file, so ``make_mosaic_wcs`` uses the reference chip's scale),
  North up (``final_rot`` 0). MVM layers are sub-arrays of a projection cell's tangent plane at
  ``haputils/cell_utils.SUPPORTED_SCALES = {'fine': 0.04, 'coarse': 0.12}`` arcsec/px: every
  detector has a fine layer, WFC3/IR also a coarse one (``mvm_products.rst``: e.g.
  ``hst_skycell-p1889x07y19_wfc3_ir_f105w_coarse-all_drz.fits`` at 0.12"/px).

* **Drizzle parameters** (``pars/hap_pars/{svm,mvm}_parameters/<instr>/<det>/*_astrodrizzle_*.json``):
  ``final_wht_type = "EXP"`` in every file; ``final_kernel = "square"``; ``final_pixfrac`` 1.0,
  except 0.8 for ACS/WFC and WFC3/UVIS SVM visits of 6 or more exposures (the ``_n6`` files).

* **Keywords** (``haputils/processing_utils.refine_product_headers``, ``product.py``):
  PRIMARY ``HAPLEVEL`` (2: SVM filter product; 4: MVM SkyCell layer), ``NUMEXP``, ``DATE-BEG``,
  ``DATE-END`` (ISO), ``ROOTNAME`` / ``FILENAME`` (the HAP name), ACS ``FILTER`` = the non-CLEAR
  wheel names joined by ``;`` (``get_acs_filters``) beside the instrument's own ``FILTER1/2``;
  the footprint keywords ``NPIXFRAC, MEANEXPT, MEDEXPT, MEANNEXP, MEDNEXP`` (``MASK_KWS``), MVM also
  ``SCELLID`` and ``MEANWHT, MEDWHT`` (``mvm_products.rst`` "MVM-specific keywords"), MVM
  ``PROPOSID`` as the ``"; "``-joined list of the inputs' proposals; the ``PHOT*`` keywords moved to
  SCI; SCI ``WCSNAME`` of the aligned inputs (``IDC_<idctab>-FIT_SVM_GAIAeDR3`` after the SVM
  alignment, ``svm_processing.rst``; MVM layers drizzle SVM-aligned exposures, so they carry the
  same name: drizzlepac defines no ``FIT_MVM`` WCS name) and ``WCSTYPE`` as
  ``updatehdr.interpret_wcsname_type`` words it; extensions PRIMARY, SCI, WHT, CTX, HDRTAB (one row
  per input exposure, with the ``HAPEXPNAME`` column; ``FILENAME`` is the renamed copy's HAP name, as
  ``product.ExposureProduct.copy_exposure`` sets it, the archive name is ``ROOTNAME``'s; the inputs'
  ``WCSNAME``/``WCSTYPE`` as the ``*_header_hap.rules`` move them there).

Not reproduced: the real projection-cell table (``allsky_cells.fits``): the projection cell here is
a tangent point on a whole-degree RA/Dec grid and its SkyCell numbers follow drizzlepac's format
(``SKYCELL_NAME_FMT``) but not its numbering; the ``total`` (white-light detection) products.
"""

import math

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import WorkbookError

#: Layouts :func:`.drizzled.make_drizzled` writes.
LAYOUTS = ("pipeline", "hap-svm", "hap-mvm")
#: MVM plate scales, arcsec/px (drizzlepac ``haputils/cell_utils.SUPPORTED_SCALES``).
MVM_SCALES = {"fine": 0.04, "coarse": 0.12}
#: SkyCells per projection-cell side (``cell_utils.SKYCELL_NXY``).
SKYCELL_NXY = 50
#: HAPLEVEL of the products made here (``product.py``: FilterProduct 2, SkyCellProduct 4).
HAPLEVEL = {"hap-svm": 2, "hap-mvm": 4}
#: Simulated identifiers: a proposal, a visit (obset) and the 3-character program code of ipppssoo.
SIM_PROPOSAL, SIM_VISIT, SIM_PROGRAM = "17999", "01", "zz9"
_INSTRUMENT_LETTER = {"ACS": "j", "WFC3": "i"}


def check_layout(layout, telescope, detector_name, wht_type):
    """The layout name, refused in one line when it cannot be made for this detector or weight type."""
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise WorkbookError(f"layout = {layout!r:.30}; use one of {', '.join(LAYOUTS)}")
    if layout != "pipeline" and telescope != "HST":
        raise WorkbookError(f"layout = {layout!r} is a Hubble Advanced Product; {detector_name} is a JWST detector, "
                            "use layout='pipeline' (an i2d)")
    if layout != "pipeline" and str(wht_type).upper() != "EXP":
        raise WorkbookError(f"wht_type = {wht_type!r} with layout = {layout!r}: HAP products are always weighted by "
                            "exposure time (final_wht_type = EXP in drizzlepac's hap_pars); use wht_type='EXP' or "
                            "layout='pipeline'")
    return layout


def layout_drizzle_parameters(layout, detector_name, native_scale, n_exposures, out_scale, pixfrac):
    """Output scale (arcsec), pixfrac and MVM layer (``"fine"``/``"coarse"``/None) of one layout.

    ``None`` for ``out_scale`` or ``pixfrac`` means the layout's own choice: the pipeline's native
    scale and pixfrac 0.8 (the test bed's historical default); HAP's as in the module docstring. A
    value given for an MVM layer must be one of the SkyCell plate scales.
    """
    if layout == "pipeline":
        return float(out_scale or native_scale), float(0.8 if pixfrac is None else pixfrac), None
    if pixfrac is None:
        many = n_exposures >= 6 and detector_name in ("ACS/WFC", "WFC3/UVIS")
        pixfrac = 0.8 if (layout == "hap-svm" and many) else 1.0
    if layout == "hap-svm":
        return float(out_scale or native_scale), float(pixfrac), None
    scale = float(out_scale or MVM_SCALES["fine"])
    layer = next((k for k, v in MVM_SCALES.items() if abs(v - scale) < 1e-9), None)
    if layer is None or (layer == "coarse" and detector_name != "WFC3/IR"):
        allowed = "0.04 (fine) or 0.12 (coarse)" if detector_name == "WFC3/IR" else "0.04 (fine)"
        raise WorkbookError(f"out_scale = {scale:g} is not an MVM SkyCell scale for {detector_name}; use {allowed} "
                            "(drizzlepac cell_utils.SUPPORTED_SCALES)")
    return scale, float(pixfrac), layer


def projection_cell(ra, dec):
    """Tangent point (RA, Dec, degrees) and SkyCell name of the simulated projection cell holding a position.

    The tangent point is on a whole-degree grid (not drizzlepac's ``allsky_cells`` table); the name
    has drizzlepac's format ``skycell-p<PPPP>x<XX>y<YY>``: ``PPPP`` numbers the cells by Dec band
    then RA, ``XX, YY`` (1-based, 1..50) count SkyCells of 0.2° from the cell's corner.
    """
    ra0, dec0 = float(round(ra)) % 360.0, float(max(-89.0, min(89.0, round(dec))))
    pcell = int((dec0 + 90.0) * 360 + ra0) % 10000
    east = (ra - ra0 + 180.0) % 360.0 - 180.0
    xx = int(min(SKYCELL_NXY, max(1, math.floor(east * math.cos(math.radians(dec0)) / 0.2 + SKYCELL_NXY / 2 + 1))))
    yy = int(min(SKYCELL_NXY, max(1, math.floor((dec - dec0) / 0.2 + SKYCELL_NXY / 2 + 1))))
    return (ra0, dec0), f"skycell-p{pcell:04d}x{xx:02d}y{yy:02d}"


def _ipppssoo(instrument, k):
    return f"{_INSTRUMENT_LETTER.get(instrument, 'x')}{SIM_PROGRAM}{SIM_VISIT}{k:02d}"[:8].ljust(8, "q")


def names(layout, instrument, detector, filter, suffix, exp_suffix, n_exposures, skycell=None, layer=None,
          name="sim"):
    """Product rootname and file name, and the input exposures' file names, as each layout names them."""
    if layout == "pipeline":
        return name, f"{name}_{suffix}.fits", None
    inst, det, filt = instrument.lower(), detector.lower(), filter.lower()
    ipppss = _ipppssoo(instrument, 1)[:6]
    if layout == "hap-svm":
        base = f"hst_{SIM_PROPOSAL}_{SIM_VISIT}_{inst}_{det}_{filt}"
        root = f"{base}_{ipppss}"
        inputs = [f"{base}_{_ipppssoo(instrument, k)}_{exp_suffix}.fits" for k in range(1, n_exposures + 1)]
    else:
        label = "all" if layer == "fine" else "coarse-all"
        base = f"hst_{skycell}_{inst}_{det}_{filt}"
        root = f"{base}_{label}"
        inputs = [f"{base}_{label}-{_ipppssoo(instrument, k)}_{exp_suffix}.fits" for k in range(1, n_exposures + 1)]
    return root, f"{root}_{suffix}.fits", inputs


def wcstype(wcsname):
    """``WCSTYPE`` words for a ``WCSNAME``, as drizzlepac's ``updatehdr.interpret_wcsname_type`` gives them."""
    fits_terms = {"REL": "relatively aligned to {}", "IMG": "aligned image-by-image to {}",
                  "EVM": "aligned by visit-exposures to {}", "SVM": "aligned by visit to {}"}
    parts = str(wcsname or "").upper().split("-")
    base = {"IDC": "undistorted ", "OPU": "pipeline default "}.get(parts[0][:3])
    if base is None:
        return "user-defined"
    if len(parts) == 1:
        return base + "not aligned"
    if "FIT" not in parts[1]:
        return base + f"a priori solution based on {parts[1]}"
    fit = parts[1].split("_")
    return base + "a posteriori solution " + fits_terms.get(fit[1], "aligned to {}").format(fit[2] if len(fit) > 2 else "")


def hap_wcsname(pipeline_wcsname):
    """The SCI ``WCSNAME`` after the SVM alignment: the a-posteriori term becomes ``FIT_SVM_<catalog>``."""
    parts = str(pipeline_wcsname).split("-")
    idc = parts[0] if parts[0].upper().startswith("IDC") else "IDC_simulated"
    return f"{idc}-FIT_SVM_GAIAeDR3"


def footprint_keywords(ctx, wht, exptimes, layout):
    """HAP's footprint keywords from the CTX bit planes and the WHT (``product.generate_footprint_mask``).

    ``NPIXFRAC`` is the fraction of output pixels with data; ``MEANEXPT``/``MEDEXPT`` the exposure time
    and ``MEANNEXP``/``MEDNEXP`` the number of exposures per pixel with data; MVM adds
    ``MEANWHT``/``MEDWHT``, the mean and median WHT there.
    """
    ctx = np.asarray(ctx)
    planes = ctx[None] if ctx.ndim == 2 else ctx
    bits = np.zeros(planes.shape[1:], np.int64)
    expt = np.zeros(planes.shape[1:], float)
    for k, t in enumerate(exptimes):
        hit = ((planes[k // 32].astype(np.int64) >> (k % 32)) & 1).astype(bool)
        bits += hit
        expt += hit * float(t)
    good = bits > 0
    out = {"NPIXFRAC": (float(good.mean()), "Fraction of pixels with data")}
    if good.any():
        out.update({"MEANEXPT": (float(expt[good].mean()), "Mean exposure time per pixel with data"),
                    "MEDEXPT": (float(np.median(expt[good])), "Median exposure time per pixel with data"),
                    "MEANNEXP": (float(bits[good].mean()), "Mean number of exposures per pixel with data"),
                    "MEDNEXP": (float(np.median(bits[good])), "Median number of exposures per pixel with data")})
        if layout == "hap-mvm":
            w = np.asarray(wht, float)[good]
            out.update({"MEANWHT": (float(w.mean()), "Mean weight (typically exposure time) over pixels with data"),
                        "MEDWHT": (float(np.median(w)), "Median weight (typically exposure time) over pixels with data")})
    return out


def _fit(header):
    """Shorten the comments of cards HAP's long file names push past 80 characters (the value is kept)."""
    for card in header.cards:
        room = 80 - len(fits.Card(card.keyword, card.value).image.rstrip()) - 3
        if card.comment and len(card.comment) > room:
            header.comments[card.keyword] = card.comment[:max(room, 0)]


def hap_headers(layout, primary, sci, exposures, extensions, inputs, root, filename, skycell=None):
    """Turn the pipeline-like headers of a drizzled product into HAP's, in place; return the HDRTAB table.

    Parameters
    ----------
    layout : {"hap-svm", "hap-mvm"}
    primary, sci : `~astropy.io.fits.Header`
        From :func:`.drizzled._headers` (D00n* keywords included).
    exposures : list of `.exposures.Exposure`
    extensions : dict
        ``SCI, WHT, CTX`` arrays.
    inputs : list of str
        The inputs' HAP file names (:func:`names`).
    root, filename : str
        The product's HAP rootname and file name.
    skycell : str, optional
        ``skycell-p<PPPP>x<XX>y<YY>`` (MVM).
    """
    from astropy.time import Time

    old = primary["FILENAME"]
    primary["ROOTNAME"] = (root, "rootname of the HAP product")
    primary["FILENAME"] = (filename, "name of file")
    for k, hap_input in enumerate(inputs, start=1):
        p = f"D{k:03d}"
        primary[f"{p}DATA"] = (f"{hap_input}[SCI,1]", "")  # HAP names are long: no room for a comment
        for key in ("OUDA", "OUWE", "OUCO"):
            primary[f"{p}{key}"] = str(primary[f"{p}{key}"]).replace(old, filename)
    primary["HAPLEVEL"] = (HAPLEVEL[layout], "Classification level of this product")
    primary["NUMEXP"] = (len(exposures), "number of input exposures")
    primary["DATE-BEG"] = (Time(primary["EXPSTART"], format="mjd").isot, "Starting Date and Time")
    primary["DATE-END"] = (Time(primary["EXPEND"], format="mjd").isot, "Ending Date and Time")
    if primary.get("INSTRUME") == "ACS":
        wheels = [str(primary.get(k, "")) for k in ("FILTER1", "FILTER2")]
        named = [w for w in wheels if w and "CLEAR" not in w.upper()]
        primary["FILTER"] = (";".join(named) or "clear", "element selected from filter wheels (HAP)")
    primary["PROPOSID"] = (SIM_PROPOSAL if layout == "hap-svm" else "; ".join([SIM_PROPOSAL]),
                           "PEP proposal identifier" + (" (all inputs)" if layout == "hap-mvm" else ""))
    if layout == "hap-mvm":
        # product.py: SCELLID = skycell_name.strip("skycell-"), e.g. "p0797x12y05"
        primary["SCELLID"] = (skycell[len("skycell-"):] if skycell else "", "ID of the SkyCell this mosaic covers")
    for key, value in footprint_keywords(extensions["CTX"], extensions["WHT"], [e.spec.exptime for e in exposures],
                                         layout).items():
        primary[key] = value
    for key in ("PHOTMODE", "PHOTFLAM", "PHOTFNU", "PHOTZPT", "PHOTPLAM", "PHOTBW"):
        if key in primary:  # processing_utils: "Insure PHOT* keywords are always in SCI extension"
            sci[key] = (primary[key], primary.comments[key])
            del primary[key]
    sci["WCSNAME"] = (hap_wcsname(sci["WCSNAME"]), "WCS of the SVM-aligned inputs (simulated)")
    sci["WCSTYPE"] = (wcstype(sci["WCSNAME"]), "")
    primary.add_history(f"HAP {layout[4:].upper()} layout (drizzlepac run{'single' if layout == 'hap-svm' else 'multi'}"
                        "hap): final_wht_type = EXP, final_kernel = square")
    # HDRTAB as drizzlepac writes it: FILENAME is the renamed copy's (copy_exposure sets it to the HAP
    # name), the archive name is ROOTNAME's; the inputs' WCSNAME/WCSTYPE move there (*_header_hap.rules)
    rows = [(e.header["ROOTNAME"], hap_input, hap_input.rsplit("_", 1)[0], SIM_PROPOSAL,
             float(e.header["EXPSTART"]), float(e.header["EXPEND"]), float(e.spec.exptime), sci["WCSNAME"],
             sci["WCSTYPE"])
            for e, hap_input in zip(exposures, inputs)]
    table = Table(rows=rows, names=("ROOTNAME", "FILENAME", "HAPEXPNAME", "PROPOSID", "EXPSTART", "EXPEND", "EXPTIME",
                                    "WCSNAME", "WCSTYPE"))
    _fit(primary)
    _fit(sci)
    return table


def hdrtab_hdu(table):
    """The HDRTAB binary-table extension (one row per input exposure)."""
    hdu = fits.BinTableHDU(table, name="HDRTAB")
    hdu.header["EXTVER"] = 1
    return hdu
