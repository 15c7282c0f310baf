"""The figures of the benchmark (DESIGN.md, "Performance targets"), each beside its
native counterpart, measured in the same run on the same interpreter.

Every process these start belongs to an install directory under the run's own
temporary directory; Bench.cleanup stops them by pid.
"""

import glob
import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

PROGRAM_PID = re.compile(r"^(\S+)\s+(\S+)\s+RUNNING\s+pid (\d+),", re.M)
STRACE = "/usr/bin/strace"
SUPERVISOR = "4.3.0"
WHEEL_CACHE = Path(__file__).resolve().parent.parent / "build" / "bench"


def median_ms(samples):
    return statistics.median(samples) * 1000


def site_text(deployment, install_dir, programs, sleep):
    """Return a two-instance site file with `programs` sleeping programs per instance."""
    lines = [f'deployment = "{deployment}"', f'install_dir = "{install_dir}"']
    for instance in ("jaws", "jtm"):
        lines += ["", f"[instances.{instance}]"]
        for n in range(programs):
            lines += ["", f"[instances.{instance}.programs.{instance}-p{n:03d}]",
                      f'command = "{sleep} 86400"', "startsecs = 1"]
    return "\n".join(lines) + "\n"


class Bench:
    """Runs the .pyz and supervisor's own tools under one Python, in one directory."""

    def __init__(self, pyz, python, workdir, log):
        self.pyz = Path(pyz)
        self.python = python
        self.workdir = Path(workdir)
        self.log = log
        self.installs = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PYTHON", "SHIV_", "PYTEST"))}

    def run(self, argv, check=True, timeout=600):
        """Run argv; return (seconds, CompletedProcess)."""
        argv = [str(a) for a in argv]
        start = time.perf_counter()
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=self.env, timeout=timeout,
                                universal_newlines=True)
        elapsed = time.perf_counter() - start
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {result.returncode}:\n"
                               f"{result.stdout}{result.stderr}")
        return elapsed, result

    def tool(self, *args, pyz=None, check=True):
        """Run the .pyz with args; remember any install directory it names."""
        args = [str(a) for a in args]
        if "--install-dir" in args:
            root = args[args.index("--install-dir") + 1]
            if root not in self.installs:
                self.installs.append(root)
        return self.run([self.python, pyz or self.pyz] + args, check=check)

    def native_ctl(self, install, instance, *args, check=True):
        """Run the install's bin/supervisorctl the ordinary way, on this interpreter."""
        install = Path(install)
        return self.run([self.python, install / "bin" / "supervisorctl",
                         "-c", install / f"supervisord-{instance}.conf"] + list(args),
                        check=check)

    def deploy_site(self, name, programs, timeout=600):
        """Write a site with `programs` programs per instance, deploy it; return the install."""
        install = self.workdir / name
        config = self.workdir / f"{name}.toml"
        config.write_text(site_text(name, install, programs, shutil.which("sleep")))
        self.tool("--config", config, "--install-dir", install, "deploy",
                  "--timeout", timeout)
        return install

    def program_pids(self, install):
        """Return {(instance, program): pid} from the tool's status."""
        _, result = self.tool("--install-dir", install, "status", check=False)
        return {(m.group(1), m.group(2)): int(m.group(3))
                for m in PROGRAM_PID.finditer(result.stdout)}

    def shut_down(self, install):
        """Shut one install down with the tool; then stop by pid whatever is left."""
        try:
            self.tool("--install-dir", install, "down", check=False)
        except (OSError, subprocess.SubprocessError):
            pass
        for pidfile in glob.glob(os.path.join(str(install), "run", "*.pid")):
            _stop_pid_file(pidfile)

    def cleanup(self):
        """Shut down every install of this run."""
        for install in self.installs:
            self.shut_down(install)


def _stop_pid_file(pidfile):
    try:
        pid = int(Path(pidfile).read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def interleaved(bench, repeat, commands):
    """Time each of commands (name -> callable) repeat times, taking turns; return medians."""
    samples = {name: [] for name in commands}
    for command in commands.values():
        command()  # untimed: the first run may write bytecode caches
    for _ in range(repeat):
        for name, command in commands.items():
            samples[name].append(command()[0])
    return {name: median_ms(values) for name, values in samples.items()}


def warm_status(bench, install, repeat):
    """Median ms of the tool's status of both instances and of one native status."""
    return interleaved(bench, repeat, {
        "tool": lambda: bench.tool("--install-dir", install, "status"),
        "native": lambda: bench.native_ctl(install, "jaws", "status"),
        "bare": lambda: bench.run([bench.python, "-c", "pass"]),
        # The install's launchers, run by their #! lines (both -I -S).
        "tool_launcher": lambda: bench.run([install / "bin" / "jaws-bootstrap", "status"]),
        "native_launcher": lambda: bench.run([install / "bin" / "supervisorctl", "-c",
                                              install / "supervisord-jaws.conf", "status"]),
    })


def status_scaling(bench, small, large, repeat):
    """Median ms of status with few and with many programs, tool and native."""
    return interleaved(bench, repeat, {
        "tool_small": lambda: bench.tool("--install-dir", small, "status"),
        "tool_large": lambda: bench.tool("--install-dir", large, "status"),
        "native_large": lambda: bench.native_ctl(large, "jaws", "status"),
    })


def cold_start(bench, repeat):
    """Median ms of a copied .pyz to both instances answering, and of venv + pip."""
    wheel = supervisor_wheel(bench)
    tool, native = [], []
    if wheel is None:
        return None
    for n in range(repeat):
        place = bench.workdir / f"cold{n}"
        place.mkdir()
        pyz = place / "jaws-bootstrap.pyz"
        shutil.copyfile(str(bench.pyz), str(pyz))
        seconds, _ = bench.tool("--example", "--install-dir", place / "i", "up", pyz=pyz)
        tool.append(seconds)
        bench.tool("--install-dir", place / "i", "down", pyz=pyz)
        native.append(_venv_and_pip(bench, place / "venv", wheel))
    return {"tool": median_ms(tool), "native": median_ms(native)}


def supervisor_wheel(bench):
    """Return the supervisor wheel the .pyz carries, downloaded once into build/bench.

    Returns None if there is none and pip cannot download it (no network).
    """
    cache = WHEEL_CACHE
    found = sorted(cache.glob(f"supervisor-{SUPERVISOR}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        bench.log(f"downloading the supervisor {SUPERVISOR} wheel into {cache}")
        _, result = bench.run([bench.python, "-m", "pip", "download", "--quiet", "--no-deps",
                               "--disable-pip-version-check", "--only-binary", ":all:",
                               "--dest", cache, f"supervisor=={SUPERVISOR}"], check=False)
        if result.returncode != 0:
            bench.log(f"no supervisor wheel: {result.stderr.strip()[-300:]}")
        found = sorted(cache.glob(f"supervisor-{SUPERVISOR}-*.whl"))
    return found[0] if found else None


def _venv_and_pip(bench, venv, wheel):
    start = time.perf_counter()
    bench.run([bench.python, "-m", "venv", venv])
    bench.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index",
               "--disable-pip-version-check", wheel])
    return time.perf_counter() - start


def redeploy(bench, install, repeat):
    """Redeploy an unchanged site; count restarts and time it, beside the old shell way.

    The old way, per instance: supervisorctl stop all, reread, update, start all.
    """
    config = bench.workdir / f"{install.name}.toml"
    tool = {"seconds": [], "restarted": 0}
    native = {"seconds": [], "restarted": 0}
    for _ in range(repeat):
        before = bench.program_pids(install)
        seconds, _ = bench.tool("--config", config, "--install-dir", install, "deploy")
        tool["seconds"].append(seconds)
        tool["restarted"] += _changed(before, bench.program_pids(install))

        before = bench.program_pids(install)
        start = time.perf_counter()
        for instance in ("jaws", "jtm"):
            for args in (("stop", "all"), ("reread",), ("update",), ("start", "all")):
                bench.native_ctl(install, instance, *args)
        native["seconds"].append(time.perf_counter() - start)
        native["restarted"] += _changed(before, bench.program_pids(install))
    return {side: {"ms": median_ms(v["seconds"]), "restarted": v["restarted"] / repeat}
            for side, v in (("tool", tool), ("native", native))}


def _changed(before, after):
    return sum(1 for key, pid in before.items() if after.get(key) != pid)


def file_calls(bench, install):
    """Count file-name system calls (open, stat, access...) of both status commands."""
    if not os.access(STRACE, os.X_OK):
        return None
    counts = {}
    for side, argv in (
            ("tool", [bench.python, bench.pyz, "--install-dir", install, "status"]),
            ("native", [bench.python, install / "bin" / "supervisorctl",
                        "-c", install / "supervisord-jaws.conf", "status"]),
            ("bare", [bench.python, "-c", "pass"])):
        out = bench.workdir / f"strace-{side}.txt"
        bench.run([STRACE, "-f", "-c", "-e", "trace=%file", "-o", out, "--"] + argv)
        counts[side] = _strace_total(out.read_text())
    return counts


def _strace_total(text):
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[-1] == "total":
            return int(fields[3])
    return 0
