"""Field configuration (notebook 00): where the field is, how big, when, and where files go.

Every later notebook starts with :func:`load_field`, so a planner adapts the whole chain by
editing the parameters cell of notebook 00. The configuration is a small JSON file,
``<workspace_root>/<field name>/field.json``, written atomically.

Workspace layout (all git-ignored, never inside ``data/``)::

    <workspace_root>/<name>/
        field.json        this configuration (plus the pointing chosen in notebook 04)
        archive/          downloaded or replayed images, reference catalogs (notebook 01)
        catalogs/         source catalogs with errors (notebook 02), astrometry results (03)
        figures/          PNGs saved by the notebooks
        export/           files for APT (notebook 05)
        executed/         notebooks executed by ``make demo`` / :mod:`helpers.chain`
"""

import dataclasses
import datetime
import json
import math
import os
import re
from pathlib import Path

from .errors import WorkbookError
from ._io import atomic_path, ensure_writable_dir
from .validate import require_instance, require_number, require_path, require_text

__all__ = [
    "DEMO_FIELD",
    "MAX_RADIUS_ARCMIN",
    "FieldConfig",
    "default_workspace_root",
    "parse_coordinates",
    "resolve_target",
    "create_field",
    "load_field",
    "record_own_data",
]

#: MPT accepts catalogs whose sources all lie within 1 degree (REFERENCE.md section 3).
MAX_RADIUS_ARCMIN = 60.0

#: The embedded offline demo: the Hubble Ultra Deep Field in GOODS-South (ICRS, degrees).
#: Coordinates of the HUDF centre (Beckwith et al. 2006, AJ 132, 1729): 03h32m39.0s -27d47m29.1s.
DEMO_FIELD = {
    "name": "demo-hudf",
    "target": "Hubble Ultra Deep Field",
    "ra": 53.1625,
    "dec": -27.791417,
    "radius_arcmin": 2.5,
    "epoch": 2027.5,
}

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SUBDIRS = ("archive", "catalogs", "figures", "export", "executed")
CONFIG_FILENAME = "field.json"


def default_workspace_root(workspace_root=None):
    """Directory under which per-field workspaces live.

    ``workspace_root`` when given; else ``$MSA_WORKBOOK_WORKSPACE`` if set; otherwise
    ``workspace/`` at the top of the workbook checkout (found from this package's location),
    or in the current directory when the package is installed elsewhere.

    Parameters
    ----------
    workspace_root : str or `~pathlib.Path`, optional
        An explicit choice (e.g. a notebook's ``workspace_root`` parameter), returned expanded.

    Returns
    -------
    root : `~pathlib.Path`
    """
    if workspace_root:
        return require_path(workspace_root, "workspace_root")
    env = os.environ.get("MSA_WORKBOOK_WORKSPACE")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists() and (checkout / "notebooks").is_dir():
        return checkout / "workspace"
    return Path.cwd() / "workspace"


@dataclasses.dataclass
class FieldConfig:
    """Configuration of one planning field.

    Attributes
    ----------
    name : str
        Short field name, used as the workspace directory name.
    ra, dec : float
        Field centre, ICRS, degrees.
    radius_arcmin : float
        Search radius for imaging and reference catalogs, arcmin (0 < r <= 60).
    epoch : float
        Decimal year of the planned NIRSpec observation; reference catalogs are propagated
        to the image epochs and positions are reported for this epoch where it matters.
    workspace : str
        Absolute path of this field's workspace directory.
    target : str or None
        The name the user typed, if any.
    instruments : list of str
        Imaging to consider in notebook 01 (e.g. ``["ACS/WFC", "WFC3/UVIS", "NIRCAM"]``).
    live : bool
        Query MAST/Gaia over the network (True) or use recorded/replayed answers (False).
    pointing : dict or None
        Set by notebook 04: ``{"ra": deg, "dec": deg, "apa": deg, "filter": str}``.
    extra : dict
        Results later notebooks record for the session file (verdict, products used, ...).
    """

    name: str
    ra: float
    dec: float
    radius_arcmin: float
    epoch: float
    workspace: str
    target: str | None = None
    instruments: list = dataclasses.field(default_factory=lambda: ["ACS/WFC", "WFC3/UVIS", "NIRCAM"])
    live: bool = False
    pointing: dict | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    created: str = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        # a FieldConfig built by hand (not create_field/load_field) is checked here, so a bad value is refused
        # where it was given rather than deep in a notebook
        require_text(self.name, "name")
        if not self.name.strip():
            raise WorkbookError("name is empty; give a short field name, e.g. 'goods-s'")
        self.ra = require_number(self.ra, "ra", minimum=0.0, maximum=360.0, example=53.16)
        self.dec = require_number(self.dec, "dec", minimum=-90.0, maximum=90.0, example=-27.79)
        self.radius_arcmin = require_number(self.radius_arcmin, "radius_arcmin", minimum=1e-3, example=2.5)
        self.epoch = require_number(self.epoch, "epoch", minimum=1900.0, maximum=2100.0, example=2027.0)
        require_path(self.workspace, "workspace")
        require_text(self.target, "target", allow_none=True)
        require_instance(self.instruments, (list, tuple), "instruments", "give a list such as ['ACS/WFC', 'NIRCAM']")
        require_instance(self.live, bool, "live", "give True (query MAST/Gaia) or False (recorded answers)")
        if self.pointing is not None:
            require_instance(self.pointing, dict, "pointing", "give {'ra': deg, 'dec': deg, 'apa': deg} or None")
        require_instance(self.extra, dict, "extra", "give a dict (or leave the default)")

    @property
    def path(self):
        """Workspace directory (`~pathlib.Path`)."""
        return Path(self.workspace)

    @property
    def config_file(self):
        """Path of ``field.json``."""
        return self.path / CONFIG_FILENAME

    def subdir(self, which):
        """Path of one workspace sub-directory (created if missing).

        Parameters
        ----------
        which : {'archive', 'catalogs', 'figures', 'export', 'executed'}
        """
        if which not in _SUBDIRS:
            raise WorkbookError(f"unknown workspace area {which!r}; use one of {', '.join(_SUBDIRS)}")
        return ensure_writable_dir(self.path / which)

    @property
    def coord(self):
        """Field centre as an ICRS `~astropy.coordinates.SkyCoord`."""
        from astropy.coordinates import SkyCoord
        import astropy.units as u

        return SkyCoord(self.ra * u.deg, self.dec * u.deg, frame="icrs")

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self):
        """Write ``field.json`` atomically (replacing the previous version)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        with atomic_path(self.config_file, overwrite=True) as tmp:
            tmp.write_text(text)
        return self.config_file

    def update(self, **changes):
        """Change fields (e.g. ``pointing=...``) and save atomically.

        Parameters
        ----------
        **changes
            Attribute names and new values; ``extra`` is merged, not replaced.
        """
        for key, value in changes.items():
            if key in ("extra",) and not isinstance(value, dict):
                raise WorkbookError(f"extra = {value!r} is not a dict; pass extra={{'key': value}}")
            if key == "pointing" and value is not None and not isinstance(value, dict):
                raise WorkbookError(f"pointing = {value!r} is not a dict; pass pointing={{'ra': ..., 'dec': ..., 'apa': ...}}")
            if key == "extra":
                self.extra.update(value)
            elif key in {f.name for f in dataclasses.fields(self)}:
                setattr(self, key, value)
            else:
                raise WorkbookError(f"FieldConfig has no setting {key!r}; valid: "
                                    + ", ".join(f.name for f in dataclasses.fields(self)))
        return self.save()


def _validate_name(name):
    # fullmatch, not match: '$' would accept a trailing newline ("m101\n")
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise WorkbookError(
            f"field name {name!r} is not usable as a directory name; use letters, digits, '-', '_' or '.' "
            "(e.g. 'goodss-deep'), at most 64 characters")
    return name


def _as_float(value, what):
    if isinstance(value, bool):  # True is not 1 degree
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(out):
        raise WorkbookError(f"{what} is {value!r}; give a finite number")
    return out


def parse_coordinates(ra, dec):
    """Parse an RA/Dec pair given as degrees or sexagesimal strings.

    Parameters
    ----------
    ra : float or str
        Degrees (``53.1625``) or hours sexagesimal (``"03:32:39.0"``, ``"3h32m39s"``).
    dec : float or str
        Degrees (``-27.79``) or sexagesimal (``"-27:47:29.1"``, ``"-27d47m29.1s"``).

    Returns
    -------
    coord : `~astropy.coordinates.SkyCoord`
        ICRS.

    Raises
    ------
    WorkbookError
        If either value is malformed or out of range (RA outside [0, 360) deg, Dec outside
        [-90, 90] deg).

    Examples
    --------
    >>> c = parse_coordinates("03:32:39.0", "-27:47:29.1")
    >>> round(c.ra.deg, 4), round(c.dec.deg, 4)
    (53.1625, -27.7914)
    """
    from astropy.coordinates import Angle, SkyCoord
    import astropy.units as u

    if ra is None or dec is None:
        raise WorkbookError("both ra and dec are needed; give them in degrees or as sexagesimal strings")
    ra_deg = _as_float(ra, "ra")
    dec_deg = _as_float(dec, "dec")
    try:
        if ra_deg is None:
            ra_deg = Angle(str(ra).strip(), unit=u.hourangle).deg
        if dec_deg is None:
            dec_deg = Angle(str(dec).strip(), unit=u.deg).deg
    except (ValueError, TypeError, u.UnitsError):
        raise WorkbookError(
            f"could not read coordinates ra={ra!r}, dec={dec!r}; use degrees (53.1625, -27.7914) "
            "or sexagesimal ('03:32:39.0', '-27:47:29.1')") from None
    if not 0.0 <= ra_deg < 360.0:
        raise WorkbookError(f"ra = {ra_deg:g} deg is outside [0, 360); check the value and its unit (degrees, or hours as 'hh:mm:ss')")
    if not -90.0 <= dec_deg <= 90.0:
        raise WorkbookError(f"dec = {dec_deg:g} deg is outside [-90, 90]; check the value and its sign")
    return SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs")


def resolve_target(target=None, ra=None, dec=None, live=False):
    """Turn a target name or RA/Dec into an ICRS position.

    Explicit ``ra``/``dec`` win over the name. A name is resolved with
    `astropy.coordinates.SkyCoord.from_name` (Sesame) when ``live``; offline only the demo
    field's name is known.

    Parameters
    ----------
    target : str, optional
        Object name, e.g. ``"Hubble Ultra Deep Field"`` or ``"NGC 104"``.
    ra, dec : float or str, optional
        Coordinates (see :func:`parse_coordinates`).
    live : bool
        Allow the network lookup.

    Returns
    -------
    coord : `~astropy.coordinates.SkyCoord`

    Raises
    ------
    WorkbookError
        Unresolvable name, no network offline, malformed or out-of-range coordinates.
    """
    if ra is not None or dec is not None:
        return parse_coordinates(ra, dec)
    if not target or not str(target).strip():
        raise WorkbookError("no target given; set target to an object name or give ra and dec")
    name = str(target).strip()
    if name.lower() in {DEMO_FIELD["target"].lower(), "hudf", DEMO_FIELD["name"]}:
        return parse_coordinates(DEMO_FIELD["ra"], DEMO_FIELD["dec"])
    if not live:
        raise WorkbookError(
            f"cannot resolve target name {name!r} offline; give ra and dec, or set live=True to ask Sesame")
    from astropy.coordinates import SkyCoord
    from astropy.coordinates.name_resolve import NameResolveError

    try:
        return SkyCoord.from_name(name, frame="icrs")
    except NameResolveError:
        raise WorkbookError(
            f"target name {name!r} could not be resolved by Sesame; check the spelling or give ra and dec") from None
    except OSError as exc:
        raise WorkbookError(
            f"could not reach the name resolver for {name!r} ({exc.__class__.__name__}); "
            "give ra and dec, or set live=False to work offline") from None


def create_field(name, target=None, ra=None, dec=None, radius_arcmin=2.5, epoch=None,
                 workspace_root=None, instruments=None, live=False, overwrite=True):
    """Validate the field parameters and write ``field.json`` (notebook 00).

    Parameters
    ----------
    name : str
        Field name (directory name).
    target : str, optional
        Object name to resolve (ignored when ``ra`` and ``dec`` are given).
    ra, dec : float or str, optional
        Field centre, degrees or sexagesimal.
    radius_arcmin : float
        Search radius in arcmin. The MSA spans about 3.6' x 3.4', so 2.5' covers it with
        margin; at most 60' (MPT's 1 degree limit).
    epoch : float, optional
        Decimal year of the planned observation; default: one year from now.
    workspace_root : str or `~pathlib.Path`, optional
        Parent directory of field workspaces; default :func:`default_workspace_root`.
    instruments : list of str, optional
        Imaging to consider in notebook 01.
    live : bool
        Use the network (MAST, Gaia, Sesame).
    overwrite : bool
        Replace an existing configuration of the same name (keeps nothing from it).

    Returns
    -------
    config : FieldConfig

    Raises
    ------
    WorkbookError
        For any invalid parameter or an unwritable workspace; nothing is written then.
    """
    _validate_name(name)
    if workspace_root is not None and not isinstance(workspace_root, (str, os.PathLike)):
        raise WorkbookError(f"workspace_root = {workspace_root!r} is not a directory path; give a str or pathlib.Path")
    if not isinstance(live, bool):
        raise WorkbookError(f"live = {live!r} is not True or False; pass live=True to use the network")
    if isinstance(instruments, str):  # one name, not its letters
        instruments = [instruments]
    if instruments is not None and (not hasattr(instruments, "__iter__")
                                    or not all(isinstance(i, str) for i in instruments)):
        raise WorkbookError(f"instruments = {instruments!r} is not a list of names; e.g. ['ACS/WFC', 'NIRCAM']")
    if target is not None and not isinstance(target, str):
        raise WorkbookError(f"target = {target!r} is not a name; give the object name as text, or ra and dec")
    radius = _as_float(radius_arcmin, "radius_arcmin")
    if radius is None:
        raise WorkbookError(f"radius_arcmin = {radius_arcmin!r} is not a number; give the radius in arcmin, e.g. 2.5")
    if radius <= 0:
        raise WorkbookError(f"radius_arcmin = {radius:g} must be positive; the MSA needs about 2.5 arcmin")
    if radius > MAX_RADIUS_ARCMIN:
        raise WorkbookError(
            f"radius_arcmin = {radius:g} exceeds MPT's 1 degree catalog limit; use at most {MAX_RADIUS_ARCMIN:g} arcmin")
    if epoch is None:
        now = datetime.datetime.now(datetime.timezone.utc)
        epoch = round(now.year + (now.timetuple().tm_yday - 1) / 365.25 + 1.0, 2)
    epoch_value = _as_float(epoch, "epoch")
    if epoch_value is None or not 1990.0 <= epoch_value <= 2100.0:
        raise WorkbookError(f"epoch = {epoch!r} is not a decimal year between 1990 and 2100; e.g. 2027.5")
    coord = resolve_target(target=target, ra=ra, dec=dec, live=live)
    root = default_workspace_root(workspace_root)
    field_dir = root / name
    if (field_dir / CONFIG_FILENAME).exists() and not overwrite:
        raise WorkbookError(f"field {name!r} already exists in {root}; pass overwrite=True or choose another name")
    ensure_writable_dir(field_dir)
    config = FieldConfig(
        name=name,
        ra=float(coord.ra.deg),
        dec=float(coord.dec.deg),
        radius_arcmin=radius,
        epoch=epoch_value,
        workspace=str(field_dir.resolve()),
        target=str(target) if target else None,
        instruments=list(instruments) if instruments else FieldConfig.__dataclass_fields__["instruments"].default_factory(),
        live=bool(live),
    )
    config.save()
    return config


def _check_loaded_settings(data):
    """What is wrong with the settings read from ``field.json`` (None when they are usable).

    Checked here, at load time, so a hand-edited file fails with one line instead of deep in
    astropy when a later notebook uses the value.
    """
    def number(key, low, high):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{key} = {value!r} is not a number"
        if not low <= value <= high:
            return f"{key} = {value!r} is outside [{low:g}, {high:g}]"
        return None

    missing = [k for k in ("name", "ra", "dec", "radius_arcmin", "epoch") if k not in data]
    if missing:
        return f"missing setting(s) {', '.join(missing)}"
    if not isinstance(data["name"], str) or not _NAME_PATTERN.fullmatch(data["name"]):
        return f"name = {data['name']!r} is not a valid field name"
    for key, low, high in (("ra", 0.0, 360.0), ("dec", -90.0, 90.0), ("radius_arcmin", 1e-9, MAX_RADIUS_ARCMIN),
                           ("epoch", 1990.0, 2100.0)):
        problem = number(key, low, high)
        if problem:
            return problem
    for key, kinds, text in (("target", (str, type(None)), "text or null"), ("live", (bool,), "true or false"),
                             ("pointing", (dict, type(None)), "an object or null"), ("extra", (dict,), "an object"),
                             ("instruments", (list,), "a list of names"), ("workspace", (str,), "text")):
        if key in data and not isinstance(data[key], kinds):
            return f"{key} = {data[key]!r} should be {text}"
    if "instruments" in data and not all(isinstance(i, str) for i in data["instruments"]):
        return f"instruments = {data['instruments']!r} should be a list of names"
    return None


def load_field(name_or_path, workspace_root=None):
    """Read a field configuration written by notebook 00.

    Parameters
    ----------
    name_or_path : str or `~pathlib.Path`
        Field name (looked up under the workspace root), its directory, or its ``field.json``.
    workspace_root : str or `~pathlib.Path`, optional
        Parent of field workspaces; default :func:`default_workspace_root`.

    Returns
    -------
    config : FieldConfig

    Raises
    ------
    WorkbookError
        If no configuration exists there (run notebook 00 first) or it is unreadable.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise WorkbookError(f"field = {name_or_path!r} is not a field name or path; give e.g. 'demo-hudf'")
    candidate = Path(str(name_or_path)).expanduser()
    if candidate.suffix == ".json":
        path = candidate
    elif candidate.is_dir():
        path = candidate / CONFIG_FILENAME
    else:
        root = default_workspace_root(workspace_root)
        path = root / str(name_or_path) / CONFIG_FILENAME
    if not path.exists():
        raise WorkbookError(
            f"no field configuration at {path}; run notebook 00 (00_setup_field) for field {str(name_or_path)!r} first")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WorkbookError(f"field configuration {path} is unreadable ({' '.join(str(exc).split())[:80]}); "
                            "re-run notebook 00 to rewrite it") from None
    if not isinstance(data, dict):
        raise WorkbookError(f"field configuration {path} holds a JSON {type(data).__name__}, not an object of "
                            "settings; re-run notebook 00 to rewrite it")
    problem = _check_loaded_settings(data)
    if problem:
        raise WorkbookError(f"field configuration {path}: {problem}; fix it or re-run notebook 00 to rewrite it")
    known = {f.name for f in dataclasses.fields(FieldConfig)}
    try:
        config = FieldConfig(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise WorkbookError(f"field configuration {path} is incomplete ({exc}); re-run notebook 00 to rewrite it") from None
    # The workspace may have moved with its directory: trust where the file is.
    config.workspace = str(path.parent.resolve())
    return config


def record_own_data(cfg, images=None, targets=None):
    """Record the planner's own images and target list in ``field.json`` (notebook 00, issue #14).

    Parameters
    ----------
    cfg : FieldConfig
    images : str or list of str, optional
        FITS paths or globs; stored as absolute paths (globs kept as given, expanded by notebook 01's
        ``helpers.archive.local_images``, which also verifies the files).
    targets : str, optional
        The target list (any format `helpers.targets.read_target_list` reads).

    Returns
    -------
    cfg : FieldConfig
        Updated: ``extra["own_images"]`` (list) and ``extra["targets_path"]`` (str or None).

    Raises
    ------
    WorkbookError
        A target list path that does not exist.
    """
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if images is not None:
        require_instance(images, (list, tuple), "images", "give a FITS path, a glob, or a list of them")
    if targets is not None and not isinstance(targets, (str, os.PathLike)):
        raise WorkbookError(f"targets = {targets!r:.40} is not a file path; give the path of your target list (str)")
    own = [str(require_path(p, "image path").absolute()) for p in (images or [])]
    target_path = None
    if targets:
        target_path = Path(targets).expanduser().absolute()
        if not target_path.exists():
            raise WorkbookError(f"target list {targets} not found; give the path of your target list (--targets PATH)")
        target_path = str(target_path)
    cfg.update(extra={"own_images": own, "targets_path": target_path})
    return cfg
