"""Site files for the deploy, rollback and boot-entry tests: small real programs."""

import sys
from pathlib import Path

# A long-running program that says it is up and exits on SIGTERM; extra
# arguments only make its command differ.
SERVICE = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "print(sys.argv[1], 'up', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
# A program that fails at once, saying so on both streams.
CRASH = (
    "import sys\n"
    "print('crash-stdout: cannot open the database', flush=True)\n"
    "print('crash-stderr: giving up', file=sys.stderr, flush=True)\n"
    "sys.exit(3)\n"
)


def scripts(directory):
    """Write the service and crash scripts into directory; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in (("service.py", SERVICE), ("crash.py", CRASH)):
        paths[name] = directory / name
        paths[name].write_text(text)
    return paths


def program(directory, name, *extra, crash=False, options=""):
    """Return the TOML table of one program running the service (or crash) script."""
    path = scripts(directory)["crash.py" if crash else "service.py"]
    words = [sys.executable, str(path), name] + list(extra)
    command = "[" + ", ".join(f'"{w}"' for w in words) + "]"
    return f"command = {command}\nstartsecs = 1\nstartretries = 1\n{options}"


def write_site(directory, install_dir, programs, name="site.toml", extra=""):
    """Write a site file; programs is {instance: {program: TOML table text}}."""
    lines = ['deployment = "dep"', f'install_dir = "{install_dir}"']
    for instance, table in programs.items():
        lines.append(f"\n[instances.{instance}]")
        for prog, text in table.items():
            lines.append(f"\n[instances.{instance}.programs.{prog}]\n{text}")
    path = Path(directory) / name
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def basic_programs(directory, **changes):
    """Two programs on jaws, one on jtm; changes replaces or drops (None) entries."""
    programs = {
        "jaws": {"alpha": program(directory, "alpha"), "beta": program(directory, "beta")},
        "jtm": {"gamma": program(directory, "gamma")},
    }
    for prog, text in changes.items():
        instance = "jtm" if prog in ("gamma", "delta") else "jaws"
        if text is None:
            programs[instance].pop(prog, None)
        else:
            programs[instance][prog] = text
    return programs


def config_bytes(install_dir):
    """Return {file name: bytes} of both configs and site.toml of an install."""
    root = Path(install_dir)
    names = ["site.toml", "supervisord-jaws.conf", "supervisord-jtm.conf"]
    return {n: (root / n).read_bytes() for n in names if (root / n).exists()}
