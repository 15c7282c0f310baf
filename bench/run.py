"""Measure jaws-bootstrap against the native tools and print one table of ratios.

    python3 bench/run.py [--pyz PATH] [--repeat N] [--cold-repeat N] [--programs N]

Builds the .pyz (or takes --pyz), sets up its own instances in a temporary
directory, and prints a Markdown table: each figure is the median of repeated
runs, next to its counterpart measured in the same run, with the ratio and the
target of DESIGN.md ("Performance targets"). Progress goes to stderr. Every
process it starts is stopped before it exits.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import measure  # noqa: E402 - the repository root is on the path only now


def log(text):
    print(f"bench: {text}", file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", type=Path, help="measure this .pyz instead of building one")
    parser.add_argument("--python", default=os.path.realpath(sys.executable),
                        help="the interpreter for both sides (default: this one, "
                        "resolved past any shim)")
    parser.add_argument("--repeat", type=int, default=21,
                        help="runs of each status command (default 21)")
    parser.add_argument("--cold-repeat", type=int, default=9,
                        help="cold starts and venv + pip installs (default 9)")
    parser.add_argument("--redeploy-repeat", type=int, default=3,
                        help="unchanged redeploys (default 3)")
    parser.add_argument("--programs", type=int, default=200,
                        help="programs per instance of the large install (default 200)")
    return parser.parse_args(argv)


def build_pyz(workdir, python):
    target = workdir / "jaws-bootstrap.pyz"
    log(f"building {target}")
    subprocess.run([python, str(ROOT / "build.py"), "--output", str(target)], check=True,
                   stdout=subprocess.DEVNULL)
    return target


def machine_lines(python, pyz):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"python: {version} ({python})",
        f".pyz: {pyz} ({pyz.stat().st_size} bytes)",
    ]


def ratio(ours, theirs):
    return ours / theirs if theirs else float("nan")


def row(figure, ours, counterpart, theirs, value, target, met):
    return f"| {figure} | {ours} | {counterpart} | {theirs} | {value} | {target} | {met} |"


def timed_row(figure, ours, counterpart, theirs, limit):
    value = ratio(ours, theirs)
    met = "" if limit is None else ("yes" if value <= limit else "**no**")
    return row(figure, f"{ours:.1f} ms", counterpart, f"{theirs:.1f} ms", f"{value:.2f}",
               "" if limit is None else f"<= {limit}", met)


NATIVE_STATUS = "`supervisorctl status`, one instance"
BARE = "(for scale: the bare interpreter, `python3 -c pass`)"
OLD_WAY = "`stop all`, `reread`, `update`, `start all` per instance"


def measure_all(bench, args):
    """Run every measurement; return the table's rows."""
    wheel = measure.supervisor_wheel(bench)
    log(f"deploying two installs: 2 and {args.programs} programs per instance")
    small = bench.deploy_site("small", 2)
    large = bench.deploy_site("large", args.programs)
    rows = status_rows(bench, small, large, args)
    # 400 programs and their supervisords would tick beside every later figure.
    bench.shut_down(large)

    log("counting file-name system calls of status")
    rows += file_rows(measure.file_calls(bench, small))

    log(f"unchanged redeploys, {args.redeploy_repeat} of each")
    rows += redeploy_rows(measure.redeploy(bench, small, args.redeploy_repeat))
    bench.shut_down(small)

    log(f"cold starts and venv + pip installs, {args.cold_repeat} of each")
    cold = measure.cold_start(bench, args.cold_repeat)
    return rows + wheel_rows(bench, wheel, cold)


def status_rows(bench, small, large, args):
    log(f"warm status, {args.repeat} runs each")
    warm = measure.warm_status(bench, small, args.repeat)
    scaling = measure.status_scaling(bench, small, large, args.repeat)
    many = f"`status`, {args.programs} programs per instance"
    return [
        timed_row("`status`, both instances, warm (2 programs each)", warm["tool"],
                  NATIVE_STATUS, warm["native"], 0.5),
        timed_row(BARE, warm["bare"], NATIVE_STATUS, warm["native"], None),
        timed_row("`bin/jaws-bootstrap status`, the install's launcher", warm["tool_launcher"],
                  "`bin/supervisorctl status`, one instance", warm["native_launcher"], None),
        timed_row(many, scaling["tool_large"], "our `status`, 2 programs per instance",
                  scaling["tool_small"], 2),
        timed_row(many, scaling["tool_large"], f"`supervisorctl status`, one instance of "
                  f"{args.programs}", scaling["native_large"], None),
    ]


def file_rows(files):
    figure = "file-name system calls of `status` (open, stat, ...)"
    if files is None:
        return [row(figure, "(no strace)", "", "", "", "", "")]
    return [row(figure, str(files["tool"]), NATIVE_STATUS, str(files["native"]),
                f"{ratio(files['tool'], files['native']):.2f}", "fewer", ""),
            row(BARE, str(files["bare"]), NATIVE_STATUS, str(files["native"]),
                f"{ratio(files['bare'], files['native']):.2f}", "", "")]


def redeploy_rows(again):
    restarted = again["tool"]["restarted"]
    return [
        row("redeploy with no change: programs restarted", f"{restarted:g}", OLD_WAY,
            f"{again['native']['restarted']:g}", "", "0",
            "yes" if restarted == 0 else "**no**"),
        timed_row("redeploy with no change: wall time", again["tool"]["ms"], OLD_WAY,
                  again["native"]["ms"], None),
    ]


def wheel_rows(bench, wheel, cold):
    """Return the rows that compare with the supervisor wheel: cold start and size."""
    cold_figure = "cold start: copied .pyz to both instances answering (`up --example`)"
    if wheel is None:
        return [row(cold_figure, "(no supervisor wheel)", "", "", "", "", ""),
                row(".pyz size", "(no supervisor wheel)", "", "", "", "", "")]
    size, wheel_size = bench.pyz.stat().st_size, wheel.stat().st_size
    size_ratio = ratio(size, wheel_size)
    return [
        timed_row(cold_figure, cold["tool"], "`python3 -m venv` + `pip install --no-index` "
                  "supervisor wheel", cold["native"], 0.1),
        row(".pyz size", f"{size} bytes", "supervisor wheel it carries", f"{wheel_size} bytes",
            f"{size_ratio:.2f}", "<= 1.5", "yes" if size_ratio <= 1.5 else "**no**"),
    ]


def main(argv=None):
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="jb-bench-", dir="/tmp"))
    bench = None
    try:
        pyz = args.pyz.resolve() if args.pyz else build_pyz(workdir, args.python)
        bench = measure.Bench(pyz, args.python, workdir, log)
        header = machine_lines(args.python, pyz)
        rows = measure_all(bench, args)
    finally:
        if bench is not None:
            log("stopping every instance of this run")
            bench.cleanup()
        shutil.rmtree(str(workdir), ignore_errors=True)
    print("\n".join(header))
    print()
    print(row("figure", "jaws-bootstrap", "counterpart", "counterpart's", "ratio", "target",
              "met"))
    print("|---|---:|---|---:|---:|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
