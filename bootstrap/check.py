"""check (DESIGN.md, "Commands"): judge the site file and this host, change nothing.

Reads the site file, the account database, the install directory and the sockets;
binds a port only to see that it is free and closes it at once. Writes no file,
starts and signals nothing. A bad site file is a BootstrapError (status 2); what
is wrong with the host is reported, and makes the status 1.
"""

import errno
import json
import os
import shlex
import shutil
import sys

from bootstrap.errors import EXIT_FAILED, EXIT_OK, BootstrapError

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_PYTHON = (3, 6)


class Findings:
    """What check found, in the order it looked."""

    def __init__(self):
        self.items = []

    def add(self, status, subject, detail):
        self.items.append({"check": subject, "status": status, "detail": detail})

    def failed(self):
        return any(item["status"] == FAIL for item in self.items)


def run_check(ctx, as_json=False):
    """Check the site of ctx and this host; print the findings; return the status.

    With as_json, a site file that cannot be read is JSON too (ok false, its error
    under "site"), besides the error on stderr: a CI job parses one document.
    """
    try:
        site, source = ctx.site_and_source()
    except BootstrapError as exc:
        if as_json:
            print(json.dumps({"ok": False, "checks": [
                {"status": FAIL, "check": "site", "detail": str(exc)}]}, indent=1))
        raise
    findings = check_all(site, source)
    if as_json:
        print(json.dumps({"site": source, "deployment": site["deployment"],
                          "install_dir": site["install_dir"], "ok": not findings.failed(),
                          "checks": findings.items}, indent=1))
    else:
        for item in findings.items:
            print(f"{item['status'].upper():5} {item['check']}: {item['detail']}")
    return EXIT_FAILED if findings.failed() else EXIT_OK


def check_all(site, source):
    from bootstrap.paths import Layout

    findings = Findings()
    layout = Layout(site["install_dir"])
    findings.add(OK, "site", f"{source}: deployment {site['deployment']}, "
                             f"{len(site['instances'])} instance(s)")
    check_python(findings)
    check_accounts(site, findings)
    check_install_dir(site, layout, findings)
    for name in site["instances"]:
        check_socket(layout, name, findings)
        check_port(site, layout, name, findings)
    check_commands(site, findings)
    check_configs(site, layout, findings)
    return findings


def check_configs(site, layout, findings):
    """Render each instance's config into a temporary directory and parse it as deploy does.

    supervisor's parser needs an unpacked build: the install's own when it has
    this one, else a temporary copy; nothing in the install directory changes.
    """
    import tempfile

    from bootstrap import bundle, install, render
    from bootstrap.paths import Layout

    build_id = bundle.build_id()
    with tempfile.TemporaryDirectory(prefix="jaws-check-") as tmp:
        source = layout
        if not layout.site_packages(build_id).is_dir():
            source = Layout(tmp)
            source.lib.mkdir()
            # Compiling into a directory about to be removed would race its removal.
            install.unpack(source, build_id, compile_bytecode=False)
        install.activate(source, build_id)
        target = layout if layout.site.is_file() else _scratch_layout(tmp, site)
        for name in site["instances"]:
            subject = f"instances.{name}: supervisord config"
            path = os.path.join(tmp, f"supervisord-{name}.conf")
            try:
                text = render.render_instance(site, name, target, "check-only-key")
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
                render.check_config(path, shown=layout.config(name))
            except BootstrapError as exc:
                findings.add(FAIL, subject, str(exc))
                continue
            findings.add(OK, subject, "supervisord's own parser accepts it")


def _scratch_layout(tmp, site):
    """Return a Layout in tmp with the directories a rendered config names."""
    from bootstrap.paths import Layout

    scratch = Layout(os.path.join(tmp, "install"))
    for name in site["instances"]:
        os.makedirs(str(scratch.program_logs(name)), exist_ok=True)
    os.makedirs(str(scratch.run), exist_ok=True)
    return scratch


def check_python(findings):
    version = ".".join(str(v) for v in sys.version_info[:3])
    status = OK if sys.version_info[:2] >= MIN_PYTHON else FAIL
    findings.add(status, "python", f"{version} ({sys.executable})")


def check_accounts(site, findings):
    from bootstrap import safety

    me = os.geteuid()
    for name, table in site["instances"].items():
        subject = f"instances.{name}"
        uid = safety.uid_of(table["user"])
        text = f"runs as {table['user']}, controlled by group {table['control_group']}"
        if uid == 0:
            findings.add(WARN, subject, text + "; its programs run as root: set user")
        elif uid is not None and me not in (0, uid):
            findings.add(WARN, subject, text + f"; only {table['user']} or root can start it")
        else:
            findings.add(OK, subject, text)
    try:
        safety.check_accounts(site)
    except BootstrapError as exc:
        findings.add(FAIL, "accounts", str(exc))


def check_install_dir(site, layout, findings):
    from bootstrap import safety
    from bootstrap.paths import is_socket_path_too_long

    subject = "install_dir"
    try:
        safety.check_install_dir(layout, site)
    except BootstrapError as exc:
        findings.add(FAIL, subject, str(exc))
        return
    if not os.path.lexists(str(layout.root)):
        parent = _existing_parent(layout.root)
        can = os.access(str(parent), os.W_OK | os.X_OK)
        findings.add(OK if can else FAIL, subject, f"{layout.root} does not exist yet; "
                     + (f"init creates it in {parent}" if can
                        else f"this account cannot create it in {parent}"))
    else:
        findings.add(OK, subject, f"{layout.root}: owners and modes are safe")
    for name in site["instances"]:
        if is_socket_path_too_long(layout.socket(name)):
            findings.add(FAIL, f"instances.{name}", f"socket path {layout.socket(name)} is "
                         "longer than unix sockets allow; choose a shorter install_dir")


def _existing_parent(path):
    for parent in path.parents:
        if os.path.isdir(str(parent)):
            return parent
    return path.anchor


def check_socket(layout, name, findings):
    from bootstrap import instances, rpc

    subject = f"instances.{name}.socket"
    sock = layout.socket(name)
    if not os.path.lexists(str(sock)):
        findings.add(OK, subject, f"{sock}: not running")
        return
    try:
        rpc.read_key(layout, name)
    except BootstrapError as exc:
        findings.add(WARN, subject, f"{sock} exists but this account cannot use it: {exc}")
        return
    if rpc.is_answering(layout, name):
        pid = instances.read_pid(layout, name)
        findings.add(OK, subject, f"{sock}: supervisord answers (pid {pid})")
    else:
        findings.add(WARN, subject, f"{sock}: stale, no supervisord answers; up removes it")


def check_port(site, layout, name, findings):
    from bootstrap import ports
    from bootstrap.sitecheck import is_loopback

    inet = site["instances"][name].get("inet")
    if not inet:
        return
    subject = f"instances.{name}.inet"
    host, port = ports.split_inet(inet)
    if not is_loopback(host):
        findings.add(WARN, subject, f"{inet} is reachable beyond this host "
                     "(allow_remote); supervisor's HTTP is not encrypted")
    problem = ports.problem(host, port)
    if problem is None:
        findings.add(OK, subject, f"{inet} is free")
    elif problem == errno.EADDRINUSE and ports.held_by_instance(layout, name, port):
        findings.add(OK, subject, f"{inet} is in use by this instance's supervisord")
    elif problem == errno.EADDRINUSE:
        findings.add(FAIL, subject, f"{inet} is in use{ports.holder_text(port)}")
    else:
        findings.add(FAIL, subject, f"{inet} cannot be bound: {os.strerror(problem)}")


def check_commands(site, findings):
    for inst, table in site["instances"].items():
        for prog, options in table["programs"].items():
            directory = options.get("directory", site["install_dir"])
            check_command(findings, f"instances.{inst}.programs.{prog}.command",
                          options["command"], directory, table["user"])
    runner = site.get("runner")
    if runner:
        user = site["instances"][runner["instance"]]["user"]
        check_command(findings, "runner.command", runner["command"],
                      runner["working_directory"], user)


def refuse_broken_commands(site):
    """Raise BootstrapError (status 2) for a program whose command cannot run.

    deploy's guard: a typo in a command would otherwise replace a running
    service by one that never starts. Commands it cannot judge before init (a
    relative path in a directory not made yet, a bare name looked up on a PATH the
    program sets itself) are left to supervisord.
    """
    from bootstrap.errors import EXIT_USAGE

    findings = Findings()
    for inst, table in site["instances"].items():
        for prog, options in table["programs"].items():
            directory = options.get("directory", site["install_dir"])
            if _can_judge(options, directory):
                check_command(findings, f"instances.{inst}.programs.{prog}.command",
                              options["command"], directory, table["user"])
    for item in findings.items:
        if item["status"] == FAIL:
            raise BootstrapError(f"{item['check']}: {item['detail']}; deploy changed "
                                 "nothing", EXIT_USAGE)


def _can_judge(options, directory):
    command = options["command"]
    try:
        words = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError:
        return True
    first = words[0] if words else ""
    if "/" in first:
        return os.path.isabs(first) or os.path.isdir(directory)
    return "PATH" not in options.get("environment", {})


def check_command(findings, subject, command, directory, user):
    """Check that the first word of command names a file user can execute."""
    from bootstrap import proc

    try:
        words = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        findings.add(FAIL, subject, f"cannot split the command: {exc}")
        return
    program = words[0] if words else ""
    if "/" in program:
        path = os.path.join(directory, program)
    else:
        path = shutil.which(program, path=proc.clean_environment()["PATH"])
        if path is None:
            findings.add(FAIL, subject, f'"{program}" is not on PATH')
            return
    if not os.path.isfile(path):
        findings.add(FAIL, subject, f"{path}: no such file")
        return
    problem = _execute_problem(path, user)
    if problem:
        findings.add(FAIL, subject, f"{path}: {problem}")
    else:
        findings.add(OK, subject, f"{path} is executable by {user}")


def _execute_problem(path, user):
    from bootstrap import accounts

    if accounts.uid_of(user) in (None, os.geteuid()):
        return None if os.access(path, os.X_OK) else "not executable"
    return accounts.execute_problem(path, user)
