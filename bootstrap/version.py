"""version (DESIGN.md, "Commands"): this tool's, supervisor's and Python's versions."""

import sys


def supervisor_version():
    """Return the bundled supervisor's version, without importing supervisor.options."""
    import os

    import supervisor

    path = os.path.join(os.path.dirname(supervisor.__file__), "version.txt")
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        import pkgutil

        return pkgutil.get_data("supervisor", "version.txt").decode().strip()


def version_info(bundle):
    from bootstrap import __version__

    return {
        "jaws-bootstrap": __version__,
        "supervisor": supervisor_version(),
        "python": bundle.python_version(),
        "python_executable": sys.executable,
        "build_id": bundle.build_id(),
    }


def version_text(bundle):
    info = version_info(bundle)
    return "".join(f"{k}: {v}\n" for k, v in info.items())
