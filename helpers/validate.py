"""Checks at the public boundaries: bad input becomes one actionable `WorkbookError` line.

Layer 0 (imports only :mod:`helpers.errors`): every public function validates what a person
can get wrong (types, finiteness, ranges, lengths) with these helpers, and converts library
exceptions at the I/O boundaries (FITS open, WCS construction, text decoding) into a line
saying what was wrong and what to do, instead of a deep numpy/astropy traceback.
"""

import contextlib
import math
import numbers
import os
import re
from pathlib import Path

import numpy as np

from .errors import WorkbookError

__all__ = [
    "require_number",
    "require_path",
    "require_text",
    "require_same_length",
    "require_array",
    "require_instance",
    "require_table",
    "export_token",
    "open_fits",
    "celestial_wcs",
    "read_text_file",
]


def require_number(value, name, *, minimum=None, maximum=None, integer=False, allow_none=False,
                   example=None):
    """Return ``value`` as a finite float (or int) or raise one `WorkbookError` line.

    Parameters
    ----------
    value : object
        What the caller passed. Booleans and strings are refused (``True`` is not a radius,
        and ``"3"`` is most likely a mix-up of arguments).
    name : str
        Argument name, used in the message.
    minimum, maximum : float, optional
        Inclusive bounds.
    integer : bool
        Require a whole number; return an ``int``.
    allow_none : bool
        Return None for None instead of refusing it.
    example : str, optional
        A valid value shown in the message.

    Returns
    -------
    number : float or int or None
    """
    hint = f", e.g. {example}" if example is not None else ""
    for bound in (minimum, maximum):  # a programming error, not the user's: say so plainly
        if bound is not None and not isinstance(bound, numbers.Real):
            raise TypeError(f"require_number bound {bound!r} for {name} is not a number")
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WorkbookError(f"{name} = {value!r} is not a number; give a {'whole ' if integer else ''}number{hint}")
    out = float(value)
    if not math.isfinite(out):
        raise WorkbookError(f"{name} = {value!r} is not finite; give a finite number{hint}")
    if integer:
        if out != round(out):
            raise WorkbookError(f"{name} = {value!r} is not a whole number; give an integer{hint}")
        out = int(round(out))
    if minimum is not None and out < minimum:
        raise WorkbookError(f"{name} = {value!r} is below {minimum:g}; give a value >= {minimum:g}{hint}")
    if maximum is not None and out > maximum:
        raise WorkbookError(f"{name} = {value!r} is above {maximum:g}; give a value <= {maximum:g}{hint}")
    return out


def require_path(value, name="path"):
    """Return ``value`` as an expanded `~pathlib.Path`, or refuse a non-path in one line."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value).expanduser()
    raise WorkbookError(f"{name} = {value!r} is not a file path; give a str or pathlib.Path")


def require_text(value, name, allow_none=False):
    """Return ``value`` if it is a str (or None when allowed), else one `WorkbookError` line."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise WorkbookError(f"{name} = {value!r} is not text; give a str")
    return value


def require_same_length(**arrays):
    """Refuse arrays of different lengths in one line naming each length; return that length."""
    for key, v in arrays.items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
            raise WorkbookError(f"{key} = {v!r:.40} is not a list of values; give one value per source")
    lengths = {key: len(v) for key, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{key} has {n}" for key, n in lengths.items())
        raise WorkbookError(f"{described} values; give one value per source in each")
    return next(iter(lengths.values())) if lengths else 0


def require_array(values, name, *, ndim=1, what="numbers", allow_nan=True):
    """``values`` as a float `numpy.ndarray`, or one `WorkbookError` line saying why not.

    Parameters
    ----------
    values : array-like
        Numbers (lists, tuples, arrays, table columns; a scalar counts as one value when
        ``ndim`` is 1). Text, bytes, booleans, None and objects are refused, not parsed.
    name : str
        Argument name, used in the message.
    ndim : int or None
        Required number of dimensions after conversion (None: any).
    what : str
        What the numbers are (``"RA in degrees"``), used in the message.
    allow_nan : bool
        Accept NaN (missing values the caller handles); infinities are always refused.

    Returns
    -------
    array : ndarray of float
    """
    if values is None or isinstance(values, (str, bytes, dict)):
        raise WorkbookError(f"{name} = {values!r:.40} is not an array of {what}; give a list or array of {what}")
    raw = getattr(values, "value", values)  # astropy Quantity/Column: the numbers, unit already checked upstream
    try:
        arr = np.asarray(raw)
    except Exception as exc:  # noqa: BLE001 - ragged lists raise ValueError in numpy >= 1.24
        raise WorkbookError(f"{name} is not an array of {what} ({exc.__class__.__name__}); give equal-length "
                            f"lists or arrays of {what}") from None
    if arr.dtype.kind not in "iuf":
        raise WorkbookError(f"{name} holds {arr.dtype.kind!r}-type values ({arr.ravel()[:2].tolist()!r:.40}), "
                            f"not numbers; give {what} as numbers")
    arr = arr.astype(float, copy=False)
    if ndim == 1 and arr.ndim == 0:
        arr = arr.reshape(1)
    if ndim is not None and arr.ndim != ndim:
        raise WorkbookError(f"{name} has shape {arr.shape}, not {ndim}-D; give a {ndim}-D array of {what}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise WorkbookError(f"{name} has {int(bad.sum())} non-finite value(s); give finite {what} "
                            "(drop or mask the missing ones)")
    return arr


def require_instance(value, kinds, name, hint):
    """Return ``value`` if it is an instance of ``kinds``, else one `WorkbookError` line.

    Parameters
    ----------
    value : object
    kinds : type or tuple of type
    name : str
        Argument name, used in the message.
    hint : str
        What to pass instead (``"load it with helpers.config.load_field(field)"``).
    """
    if not isinstance(value, kinds):
        wanted = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise WorkbookError(f"{name} is a {type(value).__name__} ({value!r:.40}), not a {wanted}; {hint}")
    return value


def require_table(value, name, columns=(), hint="give the table the previous step returned", allow_empty=True,
                  numeric=()):
    """Return ``value`` if it is an astropy `~astropy.table.Table` holding ``columns``, else one line.

    Parameters
    ----------
    value : object
    name : str
        Argument name, used in the message.
    columns : sequence of str
        Columns the caller reads.
    hint : str
        What to pass instead, or where a valid table comes from (``"make it with make_truth"``).
    allow_empty : bool
        Accept a table without rows (an empty field is a valid scene).
    numeric : sequence of str
        Columns that, when present, must hold numbers (not text or objects); values are not
        checked (NaN and infinities are the caller's to handle).
    """
    from astropy.table import Table

    if not isinstance(value, Table):
        raise WorkbookError(f"{name} is a {type(value).__name__} ({value!r:.40}), not an astropy Table; {hint}")
    missing = [c for c in columns if c not in value.colnames]
    if missing:
        raise WorkbookError(f"{name} lacks column(s) {', '.join(missing)} "
                            f"(has {', '.join(value.colnames[:8]) or 'none'}); {hint}")
    if not allow_empty and len(value) == 0:
        raise WorkbookError(f"{name} has no rows; {hint}")
    for c in numeric:
        if c in value.colnames and value[c].dtype.kind not in "iufb":
            raise WorkbookError(f"{name}[{c!r}] holds {value[c].dtype.kind!r}-type values "
                                f"({list(value[c][:2])!r:.40}), not numbers; {hint}")
    return value


# Characters that would break a whitespace-delimited line with '#' comments: any whitespace
# (space, tab, newline, carriage return, Unicode spaces), '#', and non-printable characters.
_UNSAFE = re.compile(r"[\s#]|[^\x21-\x7e]")


def export_token(value, empty="-"):
    """One whitespace-free, comment-free ASCII token for a text value in an exported table.

    MPT catalogs and the workbook's own readers split lines on whitespace and skip lines
    starting with ``#``: a label with a space, tab, newline or ``#`` would shift columns or
    hide a source. Each such character (and any non-printable or non-ASCII one) becomes
    ``_``; an empty value becomes ``empty``. The mapping is documented where it is used and
    counted so the caller can say how many values changed.

    Examples
    --------
    >>> export_token("NGC 104\\n#3")
    'NGC_104__3'
    """
    token = _UNSAFE.sub("_", str(value).strip())
    return token or empty


@contextlib.contextmanager
def open_fits(path, what="file", **kwargs):
    """`astropy.io.fits.open` whose failures on a bad file are one `WorkbookError` line.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    what : str
        What the file is for (``"image"``, ``"product"``), used in the message.
    **kwargs
        Passed to `astropy.io.fits.open`.
    """
    from astropy.io import fits

    path = require_path(path)
    if not path.is_file():
        raise WorkbookError(f"{what} {path} not found (or not a file); check the path")
    try:
        hdul = fits.open(path, **kwargs)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise WorkbookError(f"{path.name} is not a readable FITS file ({exc.__class__.__name__}: "
                            f"{' '.join(str(exc).split())[:80]}); download it again or choose another file") from None
    try:
        yield hdul
    finally:
        hdul.close()


def celestial_wcs(header, where="the image", fobj=None):
    """Build an `~astropy.wcs.WCS` from a header; an inconsistent WCS is one `WorkbookError` line.

    A header with an RA axis but no Dec axis (or other inconsistent ``CTYPE``s) makes
    astropy raise ``InconsistentAxisTypesError`` deep inside wcslib. ``fobj`` (the open
    `~astropy.io.fits.HDUList`) lets astropy read distortion look-up tables (D2IM, CPDIS).
    """
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    missing = _missing_lookup_tables(header, fobj) if hasattr(header, "get") else None
    if missing:
        raise WorkbookError(f"{where}: its WCS names {missing}, which this file does not hold; download the "
                            "whole flt/flc again from MAST (the look-up arrays travel in it), or rebuild them with "
                            "stwcs.updatewcs and the reference files from CRDS (jref$/iref$)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            return WCS(header, fobj)
    except Exception as exc:  # noqa: BLE001 - wcslib raises a family of its own exception types
        ctypes = [str(header.get(f"CTYPE{i}", "")) for i in (1, 2)] if hasattr(header, "get") else []
        raise WorkbookError(f"the WCS of {where} is unusable ({exc.__class__.__name__}; CTYPE1/2 = {ctypes}); "
                            "it needs a matching RA---/DEC-- axis pair: use a calibrated drz/drc/i2d product") from None


def _missing_lookup_tables(header, fobj):
    """What distortion look-up tables a header names that ``fobj`` lacks, in words, or ``""``.

    An HST flt/flc carries its detector-to-image (D2IM, ``D2IMDISj = 'Lookup'``, array in ``D2IMARR``)
    and non-polynomial (NPOL, ``CPDISj = 'Lookup'``, arrays in ``WCSDVARR``) corrections as extensions
    whose version the record-valued ``D2IMj.EXTVER`` / ``DPj.EXTVER`` give; ``D2IMEXT`` / ``NPOLEXT``
    name the reference file they were copied from. A SCI header saved alone (or a file cut down to its
    SCI extension) names arrays that are absent, and astropy then fails deep in its look-up code.
    """
    missing = []
    for kind, dis, rec, ext, ref in (("D2IM", "D2IMDIS", "D2IM", "D2IMARR", "D2IMEXT"),
                                     ("NPOL", "CPDIS", "DP", "WCSDVARR", "NPOLEXT")):
        for j in (1, 2):
            if str(header.get(f"{dis}{j}", "")).strip().upper() != "LOOKUP":
                continue
            try:
                extver = int(float(header.get(f"{rec}{j}.EXTVER", 1)))
            except (TypeError, ValueError):
                extver = 1
            present = False
            if fobj is not None:
                try:
                    fobj[(ext, extver)]
                    present = True
                except (KeyError, IndexError):
                    present = False
            if not present:
                named = str(header.get(ref, "") or "").strip()
                missing.append(f"the {kind} look-up table {ext},{extver}" + (f" (from {named})" if named else ""))
                break
    return " and ".join(missing)


def read_text_file(path, what="file"):
    """Text of a file as UTF-8; missing, directory, unreadable or binary files are one line."""
    path = require_path(path)
    if not path.exists():
        raise WorkbookError(f"{what} {path} not found; check the path")
    if path.is_dir():
        raise WorkbookError(f"{what} {path} is a directory; give the path of the file inside it")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkbookError(f"cannot read {what} {path} ({exc.strerror or exc}); check its permissions") from None
    if b"\x00" in raw:
        raise WorkbookError(f"{what} {path} is binary, not text; give the text file the workbook wrote")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkbookError(f"{what} {path} is not UTF-8 text (byte {exc.start}); give the text file the "
                            "workbook wrote, or re-save it as UTF-8") from None
