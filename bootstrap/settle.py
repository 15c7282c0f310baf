"""Waiting until a deploy's programs are RUNNING, or done (DESIGN.md, "Commands": deploy).

A program counts when supervisord says RUNNING, except a one-shot (autorestart =
false), which counts once it has exited with one of its exitcodes. FATAL, or a
one-shot's other exit code, ends the wait at once; the error names each program
left, with the tail of its logs.
"""

import sys
import time
import xmlrpc.client

from bootstrap import render, rpc
from bootstrap.errors import EXIT_FAILED, BootstrapError

FATAL_STATES = {"FATAL"}
PROGRESS_EVERY = 1.0
LOG_TAIL_BYTES = 1600
# In a fresh-program list: every program of the instance (its supervisord just started).
ALL = "*"


def wait_running(layout, site, names, timeout, report=None, fresh=None):
    """Wait until every autostart program of the named instances is RUNNING (or done).

    A one-shot program (autorestart = false) is waited for until it has exited.
    fresh maps an instance to the programs this run started or restarted (group,
    group:name or ALL); it changes only what the progress lines and errors say.
    Raises BootstrapError naming each program that did not get there, with the
    tail of its stdout and stderr logs: at once for one that is FATAL, or that
    site says is never restarted and that exited with a code not among its
    exitcodes; at the timeout for the rest.
    """
    report = report or _stderr
    fresh = fresh or {}
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last_report = started
    proxies = {name: rpc.server_proxy(layout, name) for name in names}
    policies = {name: _restart_policies(site, name) for name in names}
    while True:
        pending, failed = _pending(proxies, policies)
        if not pending:
            return
        now = time.monotonic()
        if failed or now > deadline:
            text = _failure_text(proxies, pending, timeout, failed, fresh)
            raise BootstrapError(text, EXIT_FAILED)
        if now - last_report >= PROGRESS_EVERY:
            report(f"waiting {now - started:.0f}s for {_waiting_text(pending, fresh)}")
            last_report = now
        time.sleep(0.2)


def _waiting_text(pending, fresh):
    """Say what the wait is for: RUNNING for most programs, the end of one-shots."""
    usual = [f"{_where(i, p)} {p['statename']}" for i, p, once in pending if not once]
    parts = [f"RUNNING: {', '.join(usual)}"] if usual else []
    for instance, info, once in pending:
        if once:
            old = "" if _is_fresh(fresh, instance, info) else ", not started by this run"
            parts.append(f"one-shot {_where(instance, info)} to finish "
                         f"({info['statename']}{old})")
    return "; ".join(parts)


def _where(instance, info):
    return f"{instance}:{info['group']}:{info['name']}"


def _is_fresh(fresh, instance, info):
    """True if this run started or restarted the program info describes."""
    names = {ALL, info["group"], f"{info['group']}:{info['name']}"}
    return not names.isdisjoint(fresh.get(instance, ()))


def _pending(proxies, policies):
    pending, failed = [], False
    for name, proxy in proxies.items():
        configs = _configs(proxy)
        for info in proxy.supervisor.getAllProcessInfo():
            config = configs.get(f"{info['group']}:{info['name']}")
            policy = policies[name].get(info["name"], "unexpected")
            if _settled(info, config, policy):
                continue
            pending.append((name, info, policy == "false"))
            failed = (failed or info["statename"] in FATAL_STATES
                      or (info["statename"] == "EXITED" and policy == "false"))
    return pending, failed


def _restart_policies(site, instance):
    """Return {program: its autorestart, "true", "false" or "unexpected"}."""
    programs = dict(site["instances"][instance]["programs"])
    runner = site.get("runner")
    if runner and runner["supervised"] and runner["instance"] == instance:
        programs[render.RUNNER_PROGRAM] = render.runner_options(runner)
    return {prog: str(options.get("autorestart", "unexpected")).lower()
            for prog, options in programs.items()}


def _configs(proxy):
    return {f"{c['group']}:{c['name']}": c for c in proxy.supervisor.getAllConfigInfo()}


def _settled(info, config, policy):
    """True for a program that runs, that nobody asked to start, or that has done its work.

    A program that supervisord does not restart (autorestart = false, or
    "unexpected") that ran its startsecs and exited with one of its exitcodes
    stays EXITED, as supervisord expects: waiting for it to be RUNNING would only
    end at the timeout. With autorestart = true supervisord starts it again, so
    EXITED is only a moment. A one-shot (false) that is RUNNING is still at its
    work, a migration say, which the programs started next may need done.
    """
    if info["statename"] == "RUNNING" and policy != "false":
        return True
    if config is None:
        return False
    if not config["autostart"]:
        return True
    return (policy != "true" and info["statename"] == "EXITED"
            and info["exitstatus"] in config["exitcodes"])


def _failure_text(proxies, pending, timeout, failed, fresh):
    lines = []
    for instance, info, once in pending:
        spec = f"{info['group']}:{info['name']}"
        exited = (f" with exit status {info['exitstatus']}"
                  if info["statename"] == "EXITED" else "")
        lines.append(("one-shot " if once else "")
                     + f"program {spec} of instance {instance} is {info['statename']}{exited}"
                     + ("" if failed else f" after {timeout}s")
                     + (f" ({info['description']})" if info.get("description") else ""))
        if once and exited and not _is_fresh(fresh, instance, info):
            lines.append(f"  not started again by this run: 'start -i {instance} {spec}' "
                         "runs it again")
        lines += _tails(proxies[instance], info)
    head = "not every program is RUNNING or done: " + ", ".join(
        f"{p['group']}:{p['name']} ({i})" for i, p, _ in pending)
    return head + "\n" + "\n".join(lines)


def _tails(proxy, info):
    spec = f"{info['group']}:{info['name']}"
    lines = []
    for stream, method in (("stdout", proxy.supervisor.tailProcessStdoutLog),
                           ("stderr", proxy.supervisor.tailProcessStderrLog)):
        lines.append(f"--- last lines of its {stream} ({info.get(stream + '_logfile')}):")
        lines.append(_tail(method, spec))
    return lines


def _tail(method, spec):
    try:
        text = method(spec, 0, LOG_TAIL_BYTES)[0]
    except xmlrpc.client.Fault as fault:
        return f"  ({fault.faultString})"
    rows = text.splitlines()[-10:] if text else []
    return "\n".join("  " + row for row in rows) if rows else "  (empty)"


def _stderr(text):
    print(text, file=sys.stderr)
