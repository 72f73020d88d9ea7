"""The benchmarks' command line, parsed one way: case names as words, options as ``--name value``.

``bench_drizzled.py`` and ``bench_exposures.py`` take the same shapes (``acs nircam --pixfrac 1.0
--pixfrac 0.8 --seeds 6``); a benchmark has no other interface, so a dozen lines beat argparse's
usage machinery. Imported as ``_args`` (the benchmarks run as scripts from this directory).
"""


def words(args, allowed, default):
    """The arguments that are among ``allowed`` (in order), or ``default`` when none is."""
    return [a for a in args if a in allowed] or list(default)


def values(args, name, cast, default=()):
    """Every value given after ``--name`` (the option may repeat), cast; ``default`` when absent.

    A trailing ``--name`` with no value, or a value ``cast`` refuses, stops the benchmark with a
    one-line message instead of being ignored.
    """
    out = []
    for i, a in enumerate(args):
        if a != name:
            continue
        if i + 1 >= len(args):
            raise SystemExit(f"{name} needs a value, e.g. {name} {default[0] if default else 1}")
        try:
            out.append(cast(args[i + 1]))
        except ValueError:
            raise SystemExit(f"{name} {args[i + 1]!r}: not a valid value") from None
    return out or list(default)
