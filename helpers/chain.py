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

from .config import DEMO_FIELD, _validate_name, default_workspace_root
from .errors import WorkbookError
from ._io import atomic_path, ensure_writable_dir

__all__ = ["NOTEBOOK_DIR", "DEMO_EXPOSURES", "DEMO_NOTEBOOK_PARAMETERS", "list_notebooks", "run_chain",
           "strip_outputs", "cli_message", "main"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

#: The demo fetches its products' member exposures (the replay serves the flc/cal files the drizzled bed
#: made each product from), so notebook 02 refines the positions by the joint fit on the exposures, the
#: estimator that reaches the Cramér–Rao bound (issue 13) where a fit on the product cannot.
DEMO_EXPOSURES = True
#: Parameters the demo gives notebooks after 00 (two-digit prefix -> papermill parameters), as a person
#: would set them in the notebook's parameters cell.
DEMO_NOTEBOOK_PARAMETERS = {"01": {"download_exposures": DEMO_EXPOSURES}}


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


def _ipc_kernel_manager_class():
    """A Jupyter kernel manager that talks to the kernel over local IPC sockets, not TCP.

    The kernel otherwise logs "Kernel is running over TCP without encryption" at every start:
    a warning nobody running the chain can act on. IPC sockets live in a private temporary
    directory (not in ``notebooks/``), removed when the kernel shuts down.
    """
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.transport = "ipc"
            self._ipc_dir = tempfile.mkdtemp(prefix="wb-kernel-")
            # unix socket paths are limited to ~100 characters: short names in a short directory
            self.ip = str(Path(self._ipc_dir) / uuid.uuid4().hex[:8])

        async def _async_interrupt_kernel(self):
            # jupyter_client interrupts before every shutdown; papermill shuts down an idle
            # kernel, which then only logs "KeyboardInterrupt caught in kernel" to the terminal
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart=False):
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                import shutil

                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return IPCKernelManager


def run_chain(field_parameters, workspace_root=None, only=None, kernel="python3", notebook_dir=NOTEBOOK_DIR,
              log=print, notebook_parameters=None):
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
    notebook_parameters : dict, optional
        Two-digit prefix -> extra parameters of that notebook (after 00), e.g.
        ``{"01": {"download_exposures": True}}`` (:data:`DEMO_NOTEBOOK_PARAMETERS` for the demo).

    Returns
    -------
    timings : dict
        Notebook file name → wall-clock seconds.

    Raises
    ------
    WorkbookError
        If a notebook fails: names the notebook, the error line, and the executed copy to open.
    """
    if not isinstance(field_parameters, dict):
        raise WorkbookError(f"field_parameters = {field_parameters!r} is not a dict; e.g. {{'field': 'demo-hudf', ...}}")
    field = field_parameters.get("field")
    if field is None or field == "":
        raise WorkbookError("field_parameters needs a 'field' name; e.g. {'field': 'demo-hudf', ...}")
    # Everything a person can get wrong is checked before anything is created: a name like
    # '../escaped' must not leave '<root>/../escaped/executed/' behind when it is refused.
    _validate_name(field)
    _check_setup_numbers(field_parameters)
    extra = _check_notebook_parameters(notebook_parameters)
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = default_workspace_root(workspace_root)
    executed_dir = ensure_writable_dir(root / field / "executed")
    timings = {}
    notebooks = list_notebooks(notebook_dir)
    if only:
        notebooks = [nb for nb in notebooks if nb.name[:2] in set(only)]
    for nb in notebooks:
        params = dict(field_parameters) if nb.name.startswith("00") else {**extra.get(nb.name[:2], {}), "field": field}
        params["workspace_root"] = str(root)
        out = executed_dir / nb.name
        log(f"[chain] {nb.name} ...")
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                       cwd=str(nb.parent), progress_bar=False, log_output=False,
                                       kernel_manager_class=_ipc_kernel_manager_class())
        except PapermillExecutionError as exc:
            # the whole message, whitespace collapsed: a network error keeps its root cause (host, reason)
            message = " ".join(str(exc.evalue).split()) if exc.evalue else exc.ename
            raise WorkbookError(
                f"{nb.name} failed in cell {exc.exec_count}: {exc.ename}: {message}; open {out} to see the cell") from None
        timings[nb.name] = time.perf_counter() - start
        log(f"[chain] {nb.name} done in {timings[nb.name]:.1f} s")
    log(f"[chain] total {sum(timings.values()):.1f} s; executed notebooks in {executed_dir}")
    return timings


def _check_notebook_parameters(notebook_parameters):
    """``{prefix: {name: value}}`` checked before anything runs (notebook 00 takes field_parameters)."""
    if notebook_parameters is None:
        return {}
    if not isinstance(notebook_parameters, dict) or not all(
            isinstance(k, str) and len(k) == 2 and k.isdigit() and isinstance(v, dict)
            for k, v in notebook_parameters.items()):
        raise WorkbookError(f"notebook_parameters = {notebook_parameters!r:.60} is not {{'NN': {{name: value}}}}; give "
                            "e.g. {'01': {'download_exposures': True}}")
    if "00" in notebook_parameters:
        raise WorkbookError("notebook 00's parameters are field_parameters; give them there, not in notebook_parameters")
    return notebook_parameters


def _check_setup_numbers(params):
    """Refuse radius/epoch values notebook 00 would refuse, before the chain creates anything.

    Falsy values (``epoch=0``, ``radius_arcmin=0``) are checked like any other, never dropped.
    """
    from .config import MAX_RADIUS_ARCMIN
    from .validate import require_number

    if params.get("radius_arcmin") is not None:
        radius = params["radius_arcmin"]
        radius = float(radius) if isinstance(radius, str) and _is_number(radius) else radius
        require_number(radius, "radius_arcmin", maximum=MAX_RADIUS_ARCMIN, example="2.5")
        if radius <= 0:
            raise WorkbookError(f"radius_arcmin = {radius:g} must be positive; the MSA needs about 2.5 arcmin")
    if params.get("epoch") is not None:
        epoch = params["epoch"]
        epoch = float(epoch) if isinstance(epoch, str) and _is_number(epoch) else epoch
        require_number(epoch, "epoch", minimum=1990.0, maximum=2100.0, example="2027.5")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


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


#: Notebook advice in library messages -> the command-line flag that does the same, for the CLI.
#: ``{offline}`` becomes advice that can work for the field at hand (see `cli_message`).
_CLI_ADVICE = (
    ("set live=True in notebook 00 to query MAST", "add --live to query MAST"),
    ("set live=True to ask Sesame", "add --live to ask Sesame"),
    ("set live=True in notebook 00", "add --live"),
    ("set live=True", "add --live"),
    ("or work offline with live=False (replayed demo data)", "{offline}"),
    ("or set live=False to work offline", "{offline}"),
    ("work offline with live=False (replayed demo data)", "{offline}"),
)


def cli_message(message, demo=False, live=False):
    """A library error message rewritten for the command line: flags instead of notebook settings.

    "Work offline" is advised only where it can work: offline, only the demo field is
    replayed, so an own field is told to give its own image (``--image``) instead.

    Parameters
    ----------
    message : str
    demo : bool
        The run is the demo field (``--demo``).
    live : bool
        The run used ``--live``.

    Returns
    -------
    str
    """
    offline = ("or run without --live (the demo field is replayed offline)" if demo else
               "or, to work offline, give your own pre-image with --image and run without --live")
    for notebook_words, cli_words in _CLI_ADVICE:
        message = message.replace(notebook_words, cli_words.format(offline=offline))
    return message


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
        import warnings

        from .targets import centre_and_radius, read_target_list

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what the reader assumed is said in notebook 02, once
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
            if args.image or args.targets:  # every fixable problem stops here, before a workspace exists
                from .targets.notebook import check_own_data

                check_own_data(args.image, args.targets, (ra, dec))
            params = {"field": args.field, "target": args.target, "ra": ra, "dec": dec,
                      "radius_arcmin": args.radius, "live": bool(args.live),
                      "images": [str(Path(p).expanduser().absolute()) for p in args.image or []],
                      "targets": str(Path(args.targets).expanduser().absolute()) if args.targets else None}
            if args.epoch is not None:  # --epoch 0 is checked (and refused), not ignored
                params["epoch"] = args.epoch
        timings = run_chain(params, workspace_root=args.workspace_root, only=args.only,
                            notebook_parameters=DEMO_NOTEBOOK_PARAMETERS if args.demo else None)
        print(json.dumps({k: round(v, 1) for k, v in timings.items()}))
        if params.get("targets"):  # the planner's answer, where they will look: the end of the output
            from .config import load_field
            from .targets.notebook import own_field_report

            for line in own_field_report(load_field(params["field"], args.workspace_root)):
                print(line)
        return 0
    except WorkbookError as exc:
        print(f"error: {cli_message(str(exc), demo=args.demo, live=args.live)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
