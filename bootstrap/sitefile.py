"""The site file (DESIGN.md, "The site file"): read it, check it, resolve it.

Pure: reads the site file and the account database, writes nothing. Every problem
is one BootstrapError with status 2 naming the file and the key.
"""

import grp
import os
import pwd
import re

from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.paths import default_install_dir
from bootstrap.sitecheck import (
    PLACEHOLDER_RE, PROGRAM_OPTIONS, check_command, check_environment, check_inet, check_keys,
    check_locale_text, check_name, check_option, check_placeholders, check_ports_apart,
    check_type, fail, value_problem,
)
# parse_toml and read_site_text are part of this module's API (deploy, previous).
from bootstrap.siteread import parse_toml, read_site_text

DEPLOYMENT_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# supervisor splits names on ":" and lists on ","; keep to characters that survive
# a shell, a file name and supervisorctl's parser alike.
PROGRAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_RULE = ("may hold only letters, digits, '.', '_' and '-', starting with a letter "
             "or digit (supervisor reserves ':' and ',')")
# What useradd and groupadd accept, and nothing that could end a config line.
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$")
ACCOUNT_RULE = "is not a valid account name"
PLACEHOLDERS = ("deployment", "install_dir", "user", "python")

TOP_KEYS = {"deployment", "install_dir", "instances", "runner"}
INSTANCE_KEYS = {"user", "control_group", "inet", "allow_remote", "programs", "groups"}
RUNNER_KEYS = {
    "command", "config", "working_directory", "environment", "supervised",
    "instance", "stopwaitsecs", "user",
}

_fail = fail
# The runner's checks below use these spellings.
_check_type = check_type
_check_keys = check_keys


class Site(dict):
    """A resolved site (plain dicts), knowing the file it came from for messages."""

    def __init__(self, source, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source


def source_of(site):
    """Return the file a resolved site came from, as messages name it."""
    return getattr(site, "source", "site")


def load_site(config=None, example=False, deployment=None, install_dir=None):
    """Read, check and resolve a site file; see resolve_site."""
    text, source = read_site_text(config, example)
    raw = parse_toml(text, source)
    return resolve_site(raw, source, deployment=deployment, install_dir=install_dir)


def resolve_site(raw, source, deployment=None, install_dir=None):
    """Check raw (a parsed site file) and return the resolved site as plain dicts.

    deployment and install_dir override the file's values. Placeholders are
    expanded, defaults filled in, every program belongs to exactly one group.
    """
    check_keys(raw, TOP_KEYS, source, "")
    name = deployment if deployment is not None else raw.get("deployment", "default")
    check_type(name, str, source, "deployment")
    check_name(name, DEPLOYMENT_RE, source, "deployment", "deployment",
               "must match [a-z0-9][a-z0-9-]*")

    target = _install_dir(install_dir, raw, name, source)
    site = Site(source, deployment=name, install_dir=target, instances={}, runner=None)
    instances = raw.get("instances")
    if instances is not None:
        check_type(instances, dict, source, "instances")
    if not instances:
        raise _fail(source, "instances: at least one [instances.NAME] table is required")
    for inst_name, table in instances.items():
        site["instances"][inst_name] = _resolve_instance(inst_name, table, site, source)

    _check_programs_unique(site, source)
    check_ports_apart({f"instances.{inst}.inet": table["inet"]
                       for inst, table in site["instances"].items() if table["inet"]}, source)
    if "runner" in raw:
        site["runner"] = _resolve_runner(raw["runner"], site, source)
    return site


def _install_dir(override, raw, deployment, source):
    target = override if override is not None else raw.get("install_dir")
    if target is None:
        target = default_install_dir(deployment)
    check_type(target, str, source, "install_dir")
    if not target.strip():
        raise _fail(source, "install_dir: must not be empty")
    if override is None:
        for word in PLACEHOLDER_RE.findall(target):
            if word != "deployment":
                raise _fail(source, f'install_dir: "{{{word}}}" is not a placeholder here; '
                                    "install_dir knows only {deployment}")
    target = _expand(target, {"deployment": deployment})
    # --install-dir is relative to where it is typed; a site file's value would be
    # relative to wherever the tool happens to run, so it must be absolute.
    if override is None and not os.path.isabs(target):
        raise _fail(source, f'install_dir: "{target}" must be an absolute path')
    where = "--install-dir" if override is not None else f"{source}: install_dir"
    check_locale_text(target, where)
    problem = value_problem(target)
    if problem:
        raise BootstrapError(f"{where}: {problem}", EXIT_USAGE)
    return os.path.abspath(target)


def _resolve_instance(name, table, site, source):
    where = f"instances.{name}"
    check_name(name, INSTANCE_RE, source, where, "instance", "must match [a-z0-9][a-z0-9_-]*")
    check_type(table, dict, source, where)
    check_keys(table, INSTANCE_KEYS, source, where + ".")

    user, group = _accounts(table, source, where)
    allow_remote = table.get("allow_remote", False)
    check_type(allow_remote, bool, source, where + ".allow_remote")
    inet = table.get("inet")
    if inet is not None:
        check_inet(inet, allow_remote, source, where + ".inet")

    values = {"deployment": site["deployment"], "install_dir": site["install_dir"],
              "user": user}
    programs = table.get("programs", {})
    check_type(programs, dict, source, where + ".programs")
    resolved = {}
    for prog, options in programs.items():
        resolved[prog] = _resolve_program(prog, options, values, source, where)

    groups = _resolve_groups(table.get("groups"), resolved, site, source, where)
    return {"user": user, "control_group": group, "inet": inet,
            "allow_remote": allow_remote, "programs": resolved, "groups": groups}


def _accounts(table, source, where):
    """Return the (user, control_group) of an instance table, checked."""
    user = table.get("user", current_user())
    check_type(user, str, source, where + ".user")
    check_name(user, ACCOUNT_RE, source, where + ".user", "account", ACCOUNT_RULE)
    if "control_group" not in table:
        return user, primary_group(user, source, where + ".user")
    group = table["control_group"]
    check_type(group, str, source, where + ".control_group")
    check_name(group, ACCOUNT_RE, source, where + ".control_group", "group", ACCOUNT_RULE)
    return user, group


def _resolve_program(name, options, values, source, where):
    where = f"{where}.programs.{name}"
    check_name(name, PROGRAM_RE, source, where, "program", NAME_RULE)
    check_type(options, dict, source, where)
    check_keys(options, PROGRAM_OPTIONS, source, where + ".")
    if "command" not in options:
        raise _fail(source, f"{where}.command: every program needs a command")

    resolved = {}
    for key, value in options.items():
        check_option(key, value, source, f"{where}.{key}")
        check_placeholders(value, PLACEHOLDERS, source, f"{where}.{key}")
        resolved[key] = _expand_value(value, values)
    # A placeholder may expand to nothing, so look again once expanded.
    check_command(resolved["command"], source, f"{where}.command")
    return resolved


def _resolve_groups(groups, programs, site, source, where):
    if groups is None:
        return {f"jaws-{site['deployment']}": sorted(programs)} if programs else {}
    check_type(groups, dict, source, where + ".groups")
    placed = {}
    for gname, members in groups.items():
        gwhere = f"{where}.groups.{gname}"
        check_name(gname, PROGRAM_RE, source, gwhere, "group", NAME_RULE)
        check_type(members, list, source, gwhere)
        for i, member in enumerate(members):
            check_type(member, str, source, f"{gwhere}[{i}]")
            if member not in programs:
                raise _fail(source, f'{gwhere}: no program "{member}" in {where}.programs')
            if member in placed:
                raise _fail(source, f'{gwhere}: program "{member}" is already in group '
                                    f'"{placed[member]}"')
            placed[member] = gname
    for prog in programs:
        if prog not in placed:
            raise _fail(source, f'{where}.groups: program "{prog}" is in no group')
    return {g: list(m) for g, m in groups.items()}


def _resolve_runner(table, site, source):
    where = "runner"
    check_type(table, dict, source, where)
    check_keys(table, RUNNER_KEYS, source, where + ".")
    if "user" in table:
        raise _fail(source, f"{where}.user: the runner runs as the account of its instance; "
                            "set instances.NAME.user instead")
    for key in ("command", "config"):
        if key not in table:
            raise _fail(source, f"{where}.{key}: the runner needs its {key}")
    instances = list(site["instances"])
    default_instance = "jaws" if "jaws" in instances else instances[0]
    runner = {
        "command": table["command"], "config": table["config"],
        "working_directory": table.get("working_directory", site["install_dir"]),
        "environment": table.get("environment", {}),
        "supervised": table.get("supervised", False),
        "instance": table.get("instance", default_instance),
        "stopwaitsecs": table.get("stopwaitsecs", 3600),
    }
    for key in ("command", "config", "working_directory", "instance"):
        check_type(runner[key], str, source, f"{where}.{key}")
    check_type(runner["supervised"], bool, source, f"{where}.supervised")
    check_type(runner["stopwaitsecs"], int, source, f"{where}.stopwaitsecs")
    check_environment(runner["environment"], source, f"{where}.environment")
    if runner["instance"] not in site["instances"]:
        raise _fail(source, f'{where}.instance: no instance "{runner["instance"]}"')

    user = site["instances"][runner["instance"]]["user"]
    values = {"deployment": site["deployment"], "install_dir": site["install_dir"],
              "user": user}
    runner = _expand_value(runner, values)
    _check_runner_values(runner, site, source)
    return runner


def _check_runner_values(runner, site, source):
    command = runner["command"]
    if not command.strip():
        raise _fail(source, "runner.command: the command is empty")
    if "/" in command and not os.path.isabs(command):
        raise _fail(source, f'runner.command: "{command}" must be an absolute path '
                            "or a bare name found on PATH")
    # gitlab-runner resolves both against its own working directory; a relative
    # path would mean something different for each way it is started.
    for key in ("config", "working_directory"):
        if not os.path.isabs(runner[key]):
            raise _fail(source, f'runner.{key}: "{runner[key]}" must be an absolute path')
    if runner["stopwaitsecs"] < 1:
        raise _fail(source, "runner.stopwaitsecs: must be at least 1 second")
    table = site["instances"][runner["instance"]]
    if runner["supervised"] and ("gitlab-runner" in table["programs"]
                                 or "gitlab-runner" in table["groups"]):
        raise _fail(source, f"instances.{runner['instance']}: the name gitlab-runner is "
                            "taken by the supervised runner; rename that program or group")


def _check_programs_unique(site, source):
    seen = {}
    for inst, table in site["instances"].items():
        for prog in table["programs"]:
            if prog in seen:
                raise _fail(source, f'instances.{inst}.programs.{prog}: program "{prog}" '
                                    f"is also defined in instances.{seen[prog]}")
            seen[prog] = inst


def _expand(text, values):
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _expand_value(value, values):
    values = dict(values)
    values.setdefault("python", python_executable())
    if isinstance(value, str):
        return _expand(value, values)
    if isinstance(value, list):
        return [_expand_value(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _expand_value(v, values) for k, v in value.items()}
    return value


def python_executable():
    import sys

    return os.path.abspath(sys.executable)


def current_user():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def primary_group(user, source, where):
    """Return the name of user's primary group; the user must exist."""
    try:
        gid = pwd.getpwnam(user).pw_gid
    except KeyError:
        raise _fail(source, f'{where}: no account "{user}" on this host') from None
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def dump_site(site):
    """Return the resolved site as TOML text that load_site reads back unchanged."""
    lines = ["# The resolved site that the last init rendered; written by jaws-bootstrap.",
             f"deployment = {_toml(site['deployment'])}",
             f"install_dir = {_toml(site['install_dir'])}"]
    for inst, table in site["instances"].items():
        lines += ["", f"[instances.{inst}]"]
        for key in ("user", "control_group", "inet", "allow_remote"):
            if table[key] is not None:
                lines.append(f"{key} = {_toml(table[key])}")
        if table["groups"]:
            lines.append(f"groups = {_toml(table['groups'])}")
        for prog, options in table["programs"].items():
            lines += ["", f"[instances.{inst}.programs.{_toml_key(prog)}]"]
            lines += [f"{_toml_key(k)} = {_toml(v)}" for k, v in options.items()]
    if site["runner"] is not None:
        lines += ["", "[runner]"]
        lines += [f"{k} = {_toml(v)}" for k, v in site["runner"].items()]
    return "\n".join(lines) + "\n"


def _toml_key(key):
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _toml(key)


def _toml_string(text):
    """Return text as a TOML basic string: quotes, backslashes and controls escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {value!r} as TOML")
