"""DS9 / CRTF region files for the sources, the MSATA stars and the MSA outline (notebook 05).

Performance: DS9 circles are formatted with one C-level ``str.__mod__`` pass per file (no
per-row Python branching; ``benchmarks/bench_export.py``). The DS9 text is byte-identical to
what `regions.Regions.serialize` writes for the same regions (tested).
"""

import numpy as np

from ..errors import WorkbookError
from .._io import atomic_path, refuse_existing
from ..validate import require_array, require_number, require_same_length, require_text

__all__ = [
    "write_ds9_circles",
    "write_regions",
    "outline_regions",
]


def _ds9_radius_string(radius_arcsec, precision=8):
    import astropy.units as u

    # exactly what regions' serializer does for a Quantity radius
    return (float(radius_arcsec) * u.arcsec).to(u.deg).to_string(precision=precision)[:-4]


def write_ds9_circles(ra, dec, path, radius_arcsec=0.3, color="green", text=None, overwrite=False,
                      width=None):
    """Write circles on the sky as a DS9 region file, fast (10^5 circles in ~0.1 s).

    The bytes are those `regions.Regions.serialize(format='ds9')` writes for the same
    `~regions.CircleSkyRegion` objects (``visual={'color': color}``, ``meta={'text': text}``),
    so DS9, CARTA and `regions.Regions.read` read it; only the per-object Python work is
    skipped. Positions: ICRS degrees, 8 decimals (0.04 mas), as regions writes them. (With
    ``width`` the order of the two global keys follows regions' set ordering, which can vary.)

    Parameters
    ----------
    ra, dec : array-like, deg (ICRS)
    path : str or `~pathlib.Path`
    radius_arcsec : float
    color : str
    text : array-like, optional
        One label per circle (e.g. the MPT IDs). Whitespace, ``#`` and non-ASCII characters
        become ``_`` and braces become parentheses, so the file reads back label for label.
    overwrite : bool
    width : int, optional
        Line width.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    WorkbookError
        Non-positive radius, RA/Dec/text of different lengths or not numeric, NaN positions,
        an existing file without ``overwrite=True``; nothing is written then.
    """
    from astropy.coordinates import Longitude
    import astropy.units as u

    path = refuse_existing(path, overwrite)
    radius_arcsec = require_number(radius_arcsec, "radius_arcsec", example="0.3")
    if radius_arcsec <= 0:
        raise WorkbookError(f"radius_arcsec = {radius_arcsec:g} must be positive; e.g. 0.3 arcsec")
    try:
        ra = np.atleast_1d(np.asarray(ra, float))
        dec = np.atleast_1d(np.asarray(dec, float))
    except (TypeError, ValueError):
        raise WorkbookError("ra and dec must be numbers in degrees (arrays of float); convert sexagesimal "
                            "strings with helpers.config.parse_coordinates first") from None
    if ra.ndim != 1 or dec.ndim != 1:
        raise WorkbookError(f"ra and dec must be 1-D (got shapes {ra.shape} and {dec.shape}); pass one value per circle")
    require_same_length(ra=ra, dec=dec, **({} if text is None else {"text": list(text)}))
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise WorkbookError("NaN positions in the region list; drop them before writing regions")
    ra = Longitude(ra * u.deg).deg  # wrap as SkyCoord would
    rad = _ds9_radius_string(radius_arcsec)
    n = ra.size
    visual = {"color": color}
    if width is not None:
        visual["width"] = width
    # '{', '}' end a DS9 text label and a newline ends the region: make labels single tokens
    labels = None if text is None else [_ds9_label(t) for t in text]
    if n == 1 or (labels is not None and len(set(labels)) == 1):
        # tiny/odd cases: let regions decide which keys become global
        regs = _circle_regions(ra, dec, radius_arcsec, color, labels, width)
        return write_regions(regs, path, overwrite=overwrite)
    header = "# Region file format: DS9 astropy/regions\n"
    if n == 0:
        body = ""
    else:
        glob = " ".join(f"{k}={v}" for k, v in visual.items())
        header += f"global {glob}\nicrs\n"
        fmt = "circle(%.8f,%.8f," + rad + ")"
        if labels is not None:
            body = "\n".join(map((fmt + " # text={%s}").__mod__, zip(ra.tolist(), dec.tolist(), labels))) + "\n"
        else:
            body = "\n".join(map(fmt.__mod__, zip(ra.tolist(), dec.tolist()))) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(header + body if n else "")
    return path


def _ds9_label(value):
    from ..validate import export_token

    return export_token(str(value).replace("{", "(").replace("}", ")"))


def _circle_regions(ra, dec, radius_arcsec, color, labels=None, width=None):
    from astropy.coordinates import SkyCoord
    import astropy.units as u
    from regions import CircleSkyRegion

    visual = {"color": color}
    if width is not None:
        visual["width"] = width
    out = []
    for i, (a, d) in enumerate(zip(np.atleast_1d(ra), np.atleast_1d(dec))):
        meta = {"text": labels[i]} if labels is not None else {}
        out.append(CircleSkyRegion(SkyCoord(a * u.deg, d * u.deg, frame="icrs"), radius_arcsec * u.arcsec,
                                   meta=meta, visual=dict(visual)))
    return out


def write_regions(regions_list, path, overwrite=False, format="ds9"):
    """Write `regions` objects with the regions package's own serializer, atomically.

    Parameters
    ----------
    regions_list : list of `~regions.Region` or `~regions.Regions`
    path : str or `~pathlib.Path`
    overwrite : bool
    format : {'ds9', 'crtf'}
        DS9 (also read by CARTA) or CASA CRTF.

    Returns
    -------
    path : `~pathlib.Path`
    """
    from regions import Region, Regions

    if not isinstance(regions_list, (list, tuple)) or not all(isinstance(r, Region) for r in regions_list):
        raise WorkbookError(f"regions_list = {regions_list!r:.40} is not a list of regions; pass what outline_regions "
                            "or slitlet_regions returned")
    path = refuse_existing(path, overwrite)
    text = Regions(list(regions_list)).serialize(format=format)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def outline_regions(outlines, color="yellow", labels=None):
    """`~regions.PolygonSkyRegion` objects for outlines: a dict ``name -> (N, 2)`` or a list
    of (N, 2) (ra, dec) arrays (labelled ``Q1, Q2, ...`` unless ``labels``)."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u
    from regions import PolygonSkyRegion

    if isinstance(outlines, dict):
        labels, outlines = list(outlines.keys()), list(outlines.values())
    if not isinstance(outlines, (list, tuple)):
        raise WorkbookError(f"outlines = {outlines!r:.40} is not a dict or list of polygons; pass pointing.outlines_sky()")
    outlines = [require_array(p, f"outline {k}", ndim=2, what="(ra, dec) corners in degrees", allow_nan=False)
                for k, p in enumerate(outlines, start=1)]
    if any(p.shape[1] != 2 or len(p) < 3 for p in outlines):
        raise WorkbookError("an outline is not an (N >= 3, 2) array of (ra, dec) corners; pass pointing.outlines_sky()")
    if labels is not None and len(labels) != len(outlines):
        raise WorkbookError(f"{len(labels)} labels for {len(outlines)} outlines; give one label per outline")
    require_text(color, "color")
    out = []
    for q, poly in enumerate(outlines, start=1):
        poly = np.asarray(poly, float)
        label = labels[q - 1] if labels else f"Q{q}"
        out.append(PolygonSkyRegion(SkyCoord(poly[:, 0] * u.deg, poly[:, 1] * u.deg, frame="icrs"),
                                    meta={"text": label}, visual={"color": color}))
    return out
