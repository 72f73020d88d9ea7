"""Run the workbook's notebooks headless, in order, with papermill (``make demo``).

Notebook 00 receives the field parameters; every later notebook receives only ``field`` and
``workspace_root`` and reads the rest from the field configuration, exactly as a person
running them in JupyterLab would. Executed copies (with outputs) go to
``<workspace>/<field>/executed/``; the notebooks in ``notebooks/`` stay output-free.

Command line::

    python -m helpers.chain --demo                      # the offline demo field
    python -m helpers.chain --field m101 --target "M101" --live
    python -m helpers.chain --field myfield --ra 150.1 --dec 2.2 --radius 3 --only 00 01
    python -m helpers.chain --field mine --image mosaic_drc.fits --targets targets.ecsv   # your own data, offline
    python -m helpers.chain --strip                     # remove outputs from notebooks/*.ipynb
"""

import argparse
import json
import sys
import time
from pathlib import Path

from .config import DEMO_FIELD, default_workspace_root
from .errors import WorkbookError
from ._io import atomic_path, ensure_writable_dir

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "run_chain", "strip_outputs", "main"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def list_notebooks(directory=NOTEBOOK_DIR):
    """The chain's notebooks, ``NN_*.ipynb`` in numeric order.

    Returns
    -------
    paths : list of `~pathlib.Path`
    """
    paths = sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise WorkbookError(f"no notebooks found in {directory}; run from a checkout of the workbook")
    return paths


def run_chain(field_parameters, workspace_root=None, only=None, kernel="python3", notebook_dir=NOTEBOOK_DIR,
              log=print):
    """Execute notebooks 00→05 headless on one field.

    Parameters
    ----------
    field_parameters : dict
        Parameters for notebook 00 (``field``, ``target`` or ``ra``/``dec``, ``radius_arcmin``,
        ``epoch``, ``live`` ...). ``field`` names the field for all later notebooks.
    workspace_root : str or `~pathlib.Path`, optional
        Parent of field workspaces; default :func:`helpers.config.default_workspace_root`.
    only : list of str, optional
        Two-digit prefixes to run (e.g. ``["00", "01"]``); default all.
    kernel : str
        Jupyter kernel name.
    notebook_dir : `~pathlib.Path`
    log : callable
        Where progress lines go.

    Returns
    -------
    timings : dict
        Notebook file name → wall-clock seconds.

    Raises
    ------
    WorkbookError
        If a notebook fails: names the notebook, the error line, and the executed copy to open.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = default_workspace_root(workspace_root)
    field = field_parameters.get("field")
    if not field:
        raise WorkbookError("field_parameters needs a 'field' name; e.g. {'field': 'demo-hudf', ...}")
    executed_dir = ensure_writable_dir(root / field / "executed")
    timings = {}
    notebooks = list_notebooks(notebook_dir)
    if only:
        notebooks = [nb for nb in notebooks if nb.name[:2] in set(only)]
    for nb in notebooks:
        params = dict(field_parameters) if nb.name.startswith("00") else {"field": field}
        params["workspace_root"] = str(root)
        out = executed_dir / nb.name
        log(f"[chain] {nb.name} ...")
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                       cwd=str(nb.parent), progress_bar=False, log_output=False)
        except PapermillExecutionError as exc:
            message = str(exc.evalue).splitlines()[0] if exc.evalue else exc.ename
            raise WorkbookError(
                f"{nb.name} failed in cell {exc.exec_count}: {exc.ename}: {message}; open {out} to see the cell") from None
        timings[nb.name] = time.perf_counter() - start
        log(f"[chain] {nb.name} done in {timings[nb.name]:.1f} s")
    log(f"[chain] total {sum(timings.values()):.1f} s; executed notebooks in {executed_dir}")
    return timings


def strip_outputs(paths=None):
    """Remove outputs and execution counts from notebooks (they are committed output-free).

    Parameters
    ----------
    paths : list of path-like, optional
        Default: every notebook in ``notebooks/``.

    Returns
    -------
    changed : list of `~pathlib.Path`
    """
    import nbformat

    changed = []
    for path in map(Path, paths or list_notebooks()):
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                cell.outputs = []
                cell.execution_count = None
                dirty = True
            for key in ("execution", "papermill"):
                if key in cell.get("metadata", {}):
                    del cell.metadata[key]
                    dirty = True
        if dirty:
            with atomic_path(path, overwrite=True) as tmp:
                nbformat.write(nb, tmp)
            changed.append(path)
    return changed


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m helpers.chain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="run the offline demo field (HUDF, simulated imaging)")
    parser.add_argument("--field", help="field name (workspace directory)")
    parser.add_argument("--target", help="object name to resolve (needs --live)")
    parser.add_argument("--ra", help="field centre RA (deg or hh:mm:ss)")
    parser.add_argument("--dec", help="field centre Dec (deg or dd:mm:ss)")
    parser.add_argument("--radius", type=float, default=2.5, help="search radius, arcmin (default 2.5)")
    parser.add_argument("--epoch", type=float, help="decimal year of the planned observation")
    parser.add_argument("--image", action="append", metavar="PATH",
                        help="your own FITS image (path or glob; repeat for more); offline it replaces MAST")
    parser.add_argument("--targets", metavar="PATH", help="your target list (ECSV, FITS, VOTable, CSV, ASCII, MPT)")
    parser.add_argument("--live", action="store_true", help="use the network (MAST, Gaia, Sesame)")
    parser.add_argument("--workspace-root", help="parent directory of field workspaces")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, e.g. --only 00 01")
    parser.add_argument("--strip", action="store_true", help="strip outputs from notebooks/*.ipynb and exit")
    return parser.parse_args(argv)


def _own_data_centre(images, targets):
    """Default field centre: the target list's centre, else the first image's (degrees, and what from)."""
    if targets:
        from .targets import centre_and_radius, read_target_list

        t = read_target_list(targets)
        ra0, dec0, _, _ = centre_and_radius(t["ra"], t["dec"])
        return float(ra0), float(dec0), f"the target list {Path(targets).name}"
    from .archive import expand_image_paths, image_center

    first = expand_image_paths(images)[0]
    ra0, dec0 = image_center(first)
    return ra0, dec0, f"the image {first.name}"


def main(argv=None):
    """Command-line entry point; returns the process exit code."""
    args = _parse(argv)
    try:
        if args.strip:
            changed = strip_outputs()
            print(f"stripped outputs from {len(changed)} notebook(s)")
            return 0
        if args.demo:
            params = {"field": DEMO_FIELD["name"], "target": DEMO_FIELD["target"], "ra": DEMO_FIELD["ra"],
                      "dec": DEMO_FIELD["dec"], "radius_arcmin": DEMO_FIELD["radius_arcmin"],
                      "epoch": DEMO_FIELD["epoch"], "live": False}
        else:
            if not args.field:
                raise WorkbookError("give --field NAME (and --ra/--dec or --target), or --demo for the offline demo")
            ra, dec = args.ra, args.dec
            if (ra is None) != (dec is None):
                raise WorkbookError("give both --ra and --dec (or neither, to centre on the targets or the first image)")
            if ra is None and not args.target and (args.targets or args.image):
                ra, dec, centre_from = _own_data_centre(args.image, args.targets)
                print(f"field centre from {centre_from}: RA {ra:.6f}, Dec {dec:+.6f} deg")
            params = {"field": args.field, "target": args.target, "ra": ra, "dec": dec,
                      "radius_arcmin": args.radius, "live": bool(args.live),
                      "images": [str(Path(p).expanduser().absolute()) for p in args.image or []],
                      "targets": str(Path(args.targets).expanduser().absolute()) if args.targets else None}
            if args.epoch:
                params["epoch"] = args.epoch
        timings = run_chain(params, workspace_root=args.workspace_root, only=args.only)
        print(json.dumps({k: round(v, 1) for k, v in timings.items()}))
        return 0
    except WorkbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
