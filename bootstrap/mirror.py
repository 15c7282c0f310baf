"""supervisorctl's verbs across both instances (DESIGN.md, "Commands").

status asks each instance over XML-RPC (rpc.py) without loading supervisorctl,
and answers line for line and status for status as supervisorctl would. The
other verbs run the install's bundled supervisorctl once per instance concerned
and relay its output, each line prefixed by the instance, and its exit status.
Never starts or stops a supervisord itself (that is instances.py).
"""

import errno
import socket
import sys
import time
import xmlrpc.client

from bootstrap import instances, proc
from bootstrap import names as namespecs
from bootstrap import rpc, silence
from bootstrap.errors import (EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE,
                              EXIT_USAGE, BootstrapError, worst)
from bootstrap.statusline import STOPPED_STATE_NAMES, format_status_lines

FOLLOWING = ("tail", "maintail")
# A stop waits for stopwaitsecs of every program it stops; be as patient.
RELAY_TIMEOUT = 3600
PROGRESS_AFTER = 1.0


class Unreachable:
    """An instance that did not answer: supervisorctl's line about it and its status."""

    def __init__(self, text, status):
        self.text = text
        self.status = status


def fetch_statuses(layout, names):
    """Return {instance: list of process infos, or Unreachable}."""
    result = {}
    for name in names:
        # Asking a stopped supervisord would only wait out the answer timeout.
        stopped = instances.stopped_text(layout, name)
        if stopped is not None:
            result[name] = Unreachable(stopped, EXIT_UNREACHABLE)
            continue
        try:
            result[name] = rpc.server_proxy(layout, name).supervisor.getAllProcessInfo()
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode == 401:
                # supervisorctl's words, and what they mean here.
                text = "Server requires authentication" + why(layout, name, silence.KEY)
                result[name] = Unreachable(text, EXIT_UNREACHABLE)
            else:
                result[name] = Unreachable(f"{exc.errcode} {exc.errmsg}", EXIT_FAILED)
        except rpc.unreachable_errors() as exc:
            result[name] = unreachable(layout, name, exc)
    return result


def unreachable(layout, name, exc):
    """Return what supervisorctl says, and its status, when instance name is not there."""
    url = f"unix://{layout.socket(name)}"
    code = exc.args[0] if isinstance(exc, socket.error) and exc.args else None
    if code == errno.ENOENT:
        return Unreachable(f"{url} no such file" + why(layout, name, silence.REMOVED),
                           EXIT_UNREACHABLE)
    if code == errno.ECONNREFUSED:
        return Unreachable(f"{url} refused connection", EXIT_UNREACHABLE)
    if isinstance(exc, socket.timeout):
        return Unreachable(f"{url} does not answer within {rpc.answer_timeout():g}s",
                           EXIT_UNREACHABLE)
    if isinstance(exc, BootstrapError):
        return Unreachable(str(exc), exc.status)
    return Unreachable(f"{url}: {exc}", EXIT_FAILED)


def why(layout, name, found):
    """Return ": <what is wrong and what to do>" if name's supervisord runs, else ""."""
    pid = instances.supervisord_pid(layout, name)
    return "" if pid is None else ": " + silence.text(layout, name, pid, found)


def select_infos(infos, specs):
    """Return (error lines, matching infos, status) as supervisorctl's status has them."""
    if not specs or namespecs.ALL in specs:
        errors, matching, code = [], list(infos), EXIT_OK
    else:
        errors, matching, code = [], [], EXIT_OK
        for spec in specs:
            group, process = namespecs.split_namespec(spec)
            found = [i for i in infos if i["group"] == group
                     and (process is None or i["name"] == process)]
            if not found:
                errors.append(f"{group}: ERROR (no such group)" if process is None
                              else f"{spec}: ERROR (no such process)")
                code = EXIT_UNREACHABLE
            matching += found
    # supervisorctl decides "not running" last, so it outranks an unknown name.
    if any(i["statename"] in STOPPED_STATE_NAMES for i in matching):
        code = EXIT_NOT_RUNNING
    return errors, matching, code


def inventory(site, instance, infos):
    """Return the (group, process) pairs instance is known to hold, live or configured."""
    pairs = namespecs.configured_pairs(site, instance) if site else []
    if not isinstance(infos, Unreachable):
        pairs = pairs + [(i["group"], i["name"]) for i in infos]
    return pairs


def route_status(site, statuses, specs):
    if not specs:
        return {name: [] for name in statuses}
    inventories = {name: inventory(site, name, infos) for name, infos in statuses.items()}
    return namespecs.route(specs, inventories)


def status_lines(infos, specs):
    """Return (lines, status) of supervisorctl status specs on one instance."""
    if isinstance(infos, Unreachable):
        return [infos.text], infos.status
    errors, matching, code = select_infos(infos, specs)
    return errors + format_status_lines(matching), code


def status(layout, names, specs=(), site=None, as_json=False, out=None, err=None):
    """Print the status of specs (all programs if none) on each instance; return the status.

    Each line is supervisorctl's, prefixed by its instance; the line about an
    instance that does not answer goes to err, being an error. With as_json, one
    object per program and one per unreachable instance or unknown name.
    """
    out, err = out or sys.stdout, err or sys.stderr
    statuses = fetch_statuses(layout, names)
    routes = route_status(site, statuses, list(specs))
    if as_json:
        return _print_json(statuses, routes, out)
    width = max(len(n) for n in names)
    codes = []
    for name, told in routes.items():
        lines, code = status_lines(statuses[name], told)
        stream = err if isinstance(statuses[name], Unreachable) else out
        stream.write("".join(prefixed(name, width, line) for line in lines))
        codes.append(code)
    return worst(codes)


def status_records(statuses, routes):
    """Return (records for status --json, one status per instance)."""
    records, codes = [], []
    for name, told in routes.items():
        infos = statuses[name]
        if isinstance(infos, Unreachable):
            records.append({"instance": name, "error": infos.text})
            codes.append(infos.status)
            continue
        errors, matching, code = select_infos(infos, told)
        records += [{"instance": name, "error": text} for text in errors]
        records += [program_record(name, info) for info in matching]
        codes.append(code)
    return records, codes


def program_record(instance, info):
    """Return the --json object of one process info (never a key: infos hold none)."""
    running = info["statename"] == "RUNNING"
    return {
        "instance": instance, "group": info["group"], "name": info["name"],
        "state": info["statename"], "pid": info["pid"],
        "uptime": max(0, info["now"] - info["start"]) if running else 0,
        "exitstatus": info["exitstatus"], "description": info["description"],
    }


def _print_json(statuses, routes, out):
    import json

    records, codes = status_records(statuses, routes)
    out.write(json.dumps(records, indent=2) + "\n")
    return worst(codes)


def prefixed(instance, width, line):
    return f"{instance:<{width}}  {line}\n" if line else f"{instance}\n"


def ctl_argv(layout, instance, args):
    """Return the argv that runs the install's supervisorctl against instance."""
    launcher = layout.launcher("supervisorctl")
    if not launcher.is_file():
        raise BootstrapError(f"{launcher}: missing; run init (or up --config SITE.toml) "
                             "to restore the install")
    # Through the interpreter: /tmp may be mounted noexec.
    return ([sys.executable, *proc.ISOLATED, str(launcher), "-c", str(layout.config(instance))]
            + args)


def ctl(layout, instance, args):
    """Run supervisorctl against instance on our terminal; return its exit status."""
    # supervisorctl would wait on a stopped supervisord for as long as it stays stopped.
    stopped = instances.stopped_text(layout, instance)
    if stopped is not None:
        raise BootstrapError(stopped, EXIT_UNREACHABLE)
    return proc.run_attached(ctl_argv(layout, instance, list(args)))


def verb_inventories(site, layout, names, verb, args):
    """Return {instance: pairs} for routing verb's names; ask live only if names need it."""
    _, specs, _ = namespecs.split_args(verb, args)
    live = any(spec != namespecs.ALL for spec in specs)
    statuses = fetch_statuses(layout, names) if live else {}
    return {name: inventory(site, name, statuses.get(name, [])) for name in names}


def run_verb(site, layout, names, verb, args, out=None, err=None):
    """Run supervisorctl's verb on each instance that args concern; return the worst status.

    tail -f and maintail -f follow one instance on our terminal until Ctrl-C.
    """
    out, err = out or sys.stdout, err or sys.stderr
    args = list(args)
    plan = namespecs.plan(verb, args, verb_inventories(site, layout, names, verb, args))
    width = max(len(n) for n in names)
    # supervisorctl would wait on a hung supervisord for as long as it stays hung.
    hung = {name: hung_text(layout, name) for name in plan}
    hung = {name: text for name, text in hung.items() if text is not None}
    for name, text in hung.items():
        err.write(prefixed(name, width, f"error: {text}"))
        del plan[name]
    if verb in FOLLOWING and args[:1] == ["-f"] and plan:
        return follow(layout, plan, verb, err)
    results = run_parallel(layout, plan, verb, err) if plan else {}
    for name, result in results.items():
        for text, stream in ((result.stdout, out), (result.stderr, err)):
            lines = text.rstrip("\n").splitlines()
            stream.write("".join(prefixed(name, width, line) for line in lines))
    return worst([result.returncode for result in results.values()]
                 + [EXIT_UNREACHABLE for _ in hung])


def hung_text(layout, instance):
    """Return why instance's supervisord cannot be asked, if it runs but does not answer."""
    stopped = instances.stopped_text(layout, instance)
    if stopped is not None:
        return stopped
    if rpc.is_answering(layout, instance):
        return None
    pid = instances.supervisord_pid(layout, instance)
    return None if pid is None else instances.hung_text(layout, instance, pid)


def follow(layout, plan, verb, err):
    if len(plan) != 1:
        raise BootstrapError(f"{verb} -f follows one instance at a time; choose one of "
                             f"{', '.join(plan)} with -i", EXIT_USAGE)
    name, args = next(iter(plan.items()))
    print(f"==> instance {name} <==", file=err)
    err.flush()
    return proc.run_attached(ctl_argv(layout, name, [verb] + args))


def run_parallel(layout, plan, verb, err):
    """Run supervisorctl verb on every instance of plan at once; return their results."""
    # Only the relayed verbs pay for these; status never needs them.
    import threading

    argvs = {name: ctl_argv(layout, name, [verb] + args) for name, args in plan.items()}
    results = {}

    def work(name):
        try:
            results[name] = proc.run(argvs[name], timeout=RELAY_TIMEOUT, check=False)
        except Exception as exc:  # noqa: BLE001 - raised again in the main thread, below
            results[name] = exc

    threads = [threading.Thread(target=work, args=(name,), daemon=True) for name in plan]
    for thread in threads:
        thread.start()
    _wait(threads, list(plan), verb, err)
    for name in plan:
        if isinstance(results[name], Exception):
            raise results[name]
    return {name: results[name] for name in plan}


def _wait(threads, names, verb, err):
    deadline = time.monotonic() + PROGRESS_AFTER
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    pending = [name for name, thread in zip(names, threads) if thread.is_alive()]
    if pending:
        print(f"waiting for supervisorctl {verb} on {', '.join(pending)}", file=err)
        err.flush()
    for thread in threads:
        thread.join()
