"""version (DESIGN.md, "Commands"): this tool's, supervisor's and Python's versions.

Also says which build each running supervisord runs, and flags one that does not
run the build the install's launchers now point at. Reads only.
"""

import os
import re
import sys

LAUNCHER_BUILD = re.compile(r"""/lib/([^/'"]+)/site-packages""")


def supervisor_version():
    """Return the bundled supervisor's version, without importing supervisor.options."""
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


def installed_build(layout):
    """Return the build id that the install's launchers run, or None."""
    try:
        text = layout.launcher("supervisord").read_text()
    except OSError:
        return None
    found = LAUNCHER_BUILD.search(text)
    return found.group(1) if found else None


def running_builds(layout, names):
    """Return {instance: (pid, build id)} of the supervisords that answer.

    The build id is "" for a supervisord too old to say which build it runs.
    """
    import xmlrpc.client

    from bootstrap import instances, rpc

    found = {}
    for name in names:
        if instances.stopped_text(layout, name) is not None:
            continue  # stopped (SIGSTOP): asking would wait out the answer timeout
        try:
            proxy = rpc.server_proxy(layout, name)
            pid = proxy.supervisor.getPID()
        except rpc.unreachable_errors():
            continue
        try:
            found[name] = (pid, proxy.jaws.getBuildId())
        except xmlrpc.client.Fault:
            found[name] = (pid, "")
    return found


def instance_records(layout, names):
    """Return one record per running instance: pid, build, and whether it is current."""
    installed = installed_build(layout)
    records = []
    for name, (pid, build) in running_builds(layout, names).items():
        records.append({"instance": name, "pid": pid, "build_id": build,
                        "current": bool(build) and build == installed,
                        "older": _is_older(layout, build, installed)})
    return installed, records


def _is_older(layout, build, installed):
    """Return True if build was unpacked before the installed build (or cannot say)."""
    if not installed or build == installed:
        return False
    try:
        return (os.stat(str(layout.lib_for(build))).st_mtime
                <= os.stat(str(layout.lib_for(installed))).st_mtime)
    except (OSError, ValueError):
        return True


def version_text(bundle, layout=None, names=()):
    """Return the human text of version, with the running builds when layout is given."""
    info = version_info(bundle)
    lines = [f"{k}: {v}" for k, v in info.items()]
    if layout is not None:
        installed, records = instance_records(layout, names)
        lines.append(f"installed_build: {installed or 'none'} ({layout.root})")
        lines += [_instance_line(record, installed) for record in records]
    return "".join(line + "\n" for line in lines)


def _instance_line(record, installed):
    name, build = record["instance"], record["build_id"] or "unknown"
    text = f"instance {name}: supervisord pid {record['pid']} runs build {build}"
    if record["current"]:
        return text
    age = "an older build" if record["older"] else "another build"
    return (f"{text}: {age} than the installed {installed}; 'down {name}' then "
            f"'up {name}' moves it (its programs restart)")


def version_json(bundle, layout=None, names=()):
    """Return the --json text of version."""
    import json

    info = version_info(bundle)
    if layout is not None:
        info["installed_build"], info["instances"] = instance_records(layout, names)
    return json.dumps(info, indent=2) + "\n"
