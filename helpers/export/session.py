"""The session file (notebook 05): everything needed to re-run the chain and audit the export."""

import datetime
import hashlib
import json
import platform
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .._io import atomic_path, refuse_existing
from ..validate import require_instance

__all__ = [
    "software_versions",
    "write_session",
    "read_session",
    "recreate_field_from_session",
]


def software_versions():
    """Versions of Python and the packages the chain depends on (``None`` if not installed)."""
    import importlib.metadata as md

    names = ["msa-astrometry-workbook", "numpy", "scipy", "astropy", "astroquery", "photutils", "sep",
             "pysiaf", "regions", "spherical-geometry", "shapely", "matplotlib", "papermill"]
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_session(path, cfg, files=None, inputs=None, msata=None, notes=None, overwrite=False, plan=None):
    """Write the session file: everything needed to re-run the chain and audit the export.

    Contents: the field configuration as notebook 00 takes it (name, target, ra, dec, radius,
    epoch, instruments, live), the pointing (notebook 04) and, when notebook 04 optimised it, the
    planning record (date, disperser, yield and expected yield, alternatives), ``cfg.extra`` (images with product
    IDs, WCSNAME and provenance; the astrometry verdict), the inputs used here, the MSATA
    selection summary, every file written with size and SHA-256, software versions, and the
    command that re-creates the field (:func:`recreate_field_from_session`).

    Parameters
    ----------
    path : str or `~pathlib.Path`
    cfg : `helpers.config.FieldConfig`
    files : dict, optional
        ``{label: path}`` of files written.
    inputs, msata, notes : dict, optional
        Free-form JSON-serialisable records.
    overwrite : bool
    plan : dict, optional
        The plan as it goes to APT (notebook 05): ``mpt_pointing`` (`mpt_pointing`: MSA
        reference-point RA/Dec and APA as MPT's planner takes them), ``n_planned`` (targets
        counted at that pointing), ``expected`` (notebook 04's expected yield), ``overlaps``
        (`overlap_record`) and ``slitlet_regions`` (file name); stored as ``plan``.

    Returns
    -------
    path : `~pathlib.Path`
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    path = refuse_existing(path, overwrite)
    field = cfg.to_dict()
    record = {
        "schema": "msa-astrometry-workbook/session/1",
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "field": {k: field.get(k) for k in ("name", "target", "ra", "dec", "radius_arcmin", "epoch",
                                            "instruments", "live", "created")},
        "pointing": field.get("pointing"),
        # notebook 04's optimizer run (chosen pointing, expected yield, alternatives), if any
        "planning": (field.get("extra") or {}).get("planning"),
        "images": (field.get("extra") or {}).get("images"),
        "astrometry": (field.get("extra") or {}).get("astrometry"),
        "extra": field.get("extra"),
        "inputs": inputs or {},
        "msata": msata or {},
        "plan": plan or {},
        "files": {},
        "software": software_versions(),
        "notes": notes or {},
        "rerun": _rerun_commands(field),
    }
    for label, p in (files or {}).items():
        p = Path(p)
        if p.exists():
            record["files"][label] = {"path": p.name if p.parent == path.parent else str(p),
                                      "bytes": p.stat().st_size, "sha256": _sha256(p)}
    text = json.dumps(record, indent=2, default=_json_default) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def _rerun_commands(field):
    """How to re-run the chain from this session (pointing kept, or everything from scratch)."""
    name = field.get("name")
    scratch = (f"python -m helpers.chain --field {name} --ra {field.get('ra')} --dec {field.get('dec')} "
               f"--radius {field.get('radius_arcmin')} --epoch {field.get('epoch')}" + (" --live" if field.get("live") else ""))
    return {
        "keep_pointing": ["python -c \"from helpers import export; export.recreate_field_from_session('session.json')\"",
                          f"python -m helpers.chain --field {name} --only 01 02 03 04 05"],
        "from_scratch": scratch,
        "note": "add --workspace-root ROOT (and workspace_root=ROOT) to use another workspace; notebook 04 "
                "starts from the saved pointing when it is kept",
    }


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def read_session(path):
    """Read a session file written by :func:`write_session` (dict)."""
    from ..validate import read_text_file

    text = read_text_file(path, "session file")
    path = Path(path).expanduser()
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise WorkbookError(f"session file {path} is not valid JSON ({exc}); re-export it with notebook 05") from None
    problem = _session_problem(record)
    if problem:
        raise WorkbookError(f"session file {path} {problem}; re-export it with notebook 05")
    return record


def _session_problem(record):
    """What makes a session record unusable for :func:`recreate_field_from_session` (or None)."""
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a session record"
    field = record.get("field")
    if not isinstance(field, dict):
        return "has no 'field' section (name, ra, dec, radius_arcmin, epoch)"
    missing = [k for k in ("name", "ra", "dec", "radius_arcmin", "epoch") if k not in field]
    if missing:
        return f"lacks field setting(s) {', '.join(missing)}"
    if record.get("pointing") is not None and not isinstance(record["pointing"], dict):
        return f"has a pointing {record['pointing']!r} that is not an object"
    return None


def recreate_field_from_session(session, workspace_root=None, name=None, overwrite=True):
    """Re-create the field configuration (notebook 00 result + pointing) from a session file.

    Parameters
    ----------
    session : dict or path
    workspace_root : optional
    name : str, optional
        New field name (default: the session's).
    overwrite : bool

    Returns
    -------
    cfg : `helpers.config.FieldConfig`
    """
    from .. import config

    if not isinstance(session, dict):
        session = read_session(session)
    problem = _session_problem(session)
    if problem:
        raise WorkbookError(f"the session record {problem}; pass the dict read_session returns for a file notebook 05 wrote")
    f = session["field"]
    cfg = config.create_field(name or f["name"], target=f.get("target"), ra=f["ra"], dec=f["dec"],
                              radius_arcmin=f["radius_arcmin"], epoch=f["epoch"], workspace_root=workspace_root,
                              instruments=f.get("instruments"), live=bool(f.get("live")), overwrite=overwrite)
    if session.get("pointing"):
        cfg.update(pointing=session["pointing"])
    return cfg
