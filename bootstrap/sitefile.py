"""The site file (DESIGN.md, "The site file"): read it, check it, resolve it.

Pure: reads the site file and the account database, writes nothing. Every problem
is one BootstrapError with status 2 naming the file and the key.
"""

import difflib
import grp
import os
import pwd
import re

from bootstrap import bundle
from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.paths import default_install_dir

DEFAULT_SITE = "sites/default.toml"
EXAMPLE_SITE = "sites/example.toml"

DEPLOYMENT_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# supervisor splits names on ":" and lists on ","; keep to characters that survive
# a shell, a file name and supervisorctl's parser alike.
PROGRAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PLACEHOLDERS = ("deployment", "install_dir", "user", "python")

TOP_KEYS = {"deployment", "install_dir", "instances", "runner"}
INSTANCE_KEYS = {"user", "control_group", "inet", "allow_remote", "programs", "groups"}
RUNNER_KEYS = {
    "command", "config", "working_directory", "environment", "supervised",
    "instance", "stopwaitsecs", "user",
}

INT_OPTIONS = {
    "numprocs", "numprocs_start", "priority", "startsecs", "startretries",
    "stopwaitsecs", "stdout_logfile_backups", "stderr_logfile_backups",
}
BOOL_OPTIONS = {
    "autostart", "stopasgroup", "killasgroup", "redirect_stderr",
    "stdout_events_enabled", "stderr_events_enabled", "stdout_syslog", "stderr_syslog",
}
STR_OPTIONS = {
    "process_name", "stopsignal", "user", "stdout_logfile", "stderr_logfile",
    "directory", "umask", "serverurl",
}
SIZE_OPTIONS = {
    "stdout_logfile_maxbytes", "stderr_logfile_maxbytes",
    "stdout_capture_maxbytes", "stderr_capture_maxbytes",
}
PROGRAM_OPTIONS = (
    {"command", "autorestart", "exitcodes", "environment"}
    | INT_OPTIONS | BOOL_OPTIONS | STR_OPTIONS | SIZE_OPTIONS
)


def _fail(where, message):
    return BootstrapError(f"{where}: {message}", EXIT_USAGE)


def parse_toml(text, source):
    """Parse TOML text; a syntax error names source, line and column."""
    try:
        import tomllib as toml
    except ImportError:
        import tomli as toml

    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise _fail(source, f"not valid TOML: {exc}") from None


def read_site_text(config=None, example=False):
    """Return (text, source name) of the site file, the example or the default."""
    if config is not None:
        try:
            with open(config, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise _fail(config, f"cannot read the site file: {exc.strerror}") from None
        try:
            return data.decode("utf-8"), str(config)
        except UnicodeDecodeError:
            raise _fail(config, "the site file is not UTF-8 text") from None
    name = EXAMPLE_SITE if example else DEFAULT_SITE
    return bundle.read_payload_text(name), f"<embedded {name}>"


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
    _check_keys(raw, TOP_KEYS, source, "")
    name = deployment if deployment is not None else raw.get("deployment", "default")
    _check_type(name, str, source, "deployment")
    if not DEPLOYMENT_RE.match(name):
        raise _fail(source, f'deployment: "{name}" must match [a-z0-9][a-z0-9-]*')

    target = install_dir if install_dir is not None else raw.get("install_dir")
    if target is None:
        target = default_install_dir(name)
    _check_type(target, str, source, "install_dir")
    target = os.path.abspath(_expand(target, {"deployment": name}))

    site = {"deployment": name, "install_dir": target, "instances": {}, "runner": None}
    instances = raw.get("instances")
    if not isinstance(instances, dict) or not instances:
        raise _fail(source, "instances: at least one [instances.NAME] table is required")
    for inst_name, table in instances.items():
        site["instances"][inst_name] = _resolve_instance(inst_name, table, site, source)

    _check_programs_unique(site, source)
    if "runner" in raw:
        site["runner"] = _resolve_runner(raw["runner"], site, source)
    return site


def _resolve_instance(name, table, site, source):
    where = f"instances.{name}"
    if not INSTANCE_RE.match(name):
        raise _fail(source, f'{where}: instance name "{name}" must match [a-z0-9][a-z0-9_-]*')
    _check_type(table, dict, source, where)
    _check_keys(table, INSTANCE_KEYS, source, where + ".")

    user = table.get("user", current_user())
    _check_type(user, str, source, where + ".user")
    group = table.get("control_group", primary_group(user, source, where + ".user"))
    _check_type(group, str, source, where + ".control_group")
    inet = table.get("inet")
    if inet is not None:
        _check_type(inet, str, source, where + ".inet")
    allow_remote = table.get("allow_remote", False)
    _check_type(allow_remote, bool, source, where + ".allow_remote")

    values = {"deployment": site["deployment"], "install_dir": site["install_dir"],
              "user": user}
    programs = table.get("programs", {})
    _check_type(programs, dict, source, where + ".programs")
    resolved = {}
    for prog, options in programs.items():
        resolved[prog] = _resolve_program(prog, options, values, source, where)

    groups = _resolve_groups(table.get("groups"), resolved, site, source, where)
    return {"user": user, "control_group": group, "inet": inet,
            "allow_remote": allow_remote, "programs": resolved, "groups": groups}


def _resolve_program(name, options, values, source, where):
    where = f"{where}.programs.{name}"
    if not PROGRAM_RE.match(name):
        raise _fail(source, f'{where}: program name "{name}" may hold only letters, '
                            "digits, '.', '_' and '-', starting with a letter or digit")
    _check_type(options, dict, source, where)
    _check_keys(options, PROGRAM_OPTIONS, source, where + ".")
    if "command" not in options:
        raise _fail(source, f"{where}.command: every program needs a command")

    resolved = {}
    for key, value in options.items():
        _check_option(key, value, source, f"{where}.{key}")
        resolved[key] = _expand_value(value, values)
    command = resolved["command"]
    if (isinstance(command, str) and not command.strip()) or command == []:
        raise _fail(source, f"{where}.command: the command is empty")
    return resolved


def _check_option(key, value, source, where):
    if key in INT_OPTIONS:
        _check_type(value, int, source, where)
    elif key in BOOL_OPTIONS:
        _check_type(value, bool, source, where)
    elif key in STR_OPTIONS:
        _check_type(value, str, source, where)
    elif key in SIZE_OPTIONS:
        _check_type(value, (str, int), source, where)
    elif key == "command":
        _check_type(value, (str, list), source, where)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise _fail(source, f"{where}: a command list must hold only strings")
    elif key == "autorestart":
        _check_type(value, (str, bool), source, where)
    elif key == "exitcodes":
        _check_type(value, (str, list, int), source, where)
    elif key == "environment":
        check_environment(value, source, where)


def check_environment(value, source, where):
    _check_type(value, dict, source, where)
    for var, text in value.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var):
            raise _fail(source, f'{where}: "{var}" is not a valid variable name')
        _check_type(text, (str, int), source, f"{where}.{var}")


def _resolve_groups(groups, programs, site, source, where):
    if groups is None:
        return {f"jaws-{site['deployment']}": sorted(programs)} if programs else {}
    _check_type(groups, dict, source, where + ".groups")
    placed = {}
    for gname, members in groups.items():
        gwhere = f"{where}.groups.{gname}"
        if not PROGRAM_RE.match(gname):
            raise _fail(source, f'{gwhere}: group name "{gname}" is not a valid name')
        _check_type(members, list, source, gwhere)
        for member in members:
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
    _check_type(table, dict, source, where)
    _check_keys(table, RUNNER_KEYS, source, where + ".")
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
        _check_type(runner[key], str, source, f"{where}.{key}")
    _check_type(runner["supervised"], bool, source, f"{where}.supervised")
    _check_type(runner["stopwaitsecs"], int, source, f"{where}.stopwaitsecs")
    check_environment(runner["environment"], source, f"{where}.environment")
    if runner["instance"] not in site["instances"]:
        raise _fail(source, f'{where}.instance: no instance "{runner["instance"]}"')

    user = site["instances"][runner["instance"]]["user"]
    values = {"deployment": site["deployment"], "install_dir": site["install_dir"],
              "user": user}
    return _expand_value(runner, values)


def _check_programs_unique(site, source):
    seen = {}
    for inst, table in site["instances"].items():
        for prog in table["programs"]:
            if prog in seen:
                raise _fail(source, f'instances.{inst}.programs.{prog}: program "{prog}" '
                                    f"is also defined in instances.{seen[prog]}")
            seen[prog] = inst


def _check_keys(table, known, source, prefix):
    for key in table:
        if key in known:
            continue
        hint = difflib.get_close_matches(key, sorted(known), n=1)
        also = f'; did you mean "{hint[0]}"?' if hint else ""
        raise _fail(source, f'{prefix}{key}: unknown key{also}')


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "a table",
               list: "an array"}


def _check_type(value, types, source, where):
    if not isinstance(types, tuple):
        types = (types,)
    # TOML booleans are ints to Python; an int option must not take true/false.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES[t] for t in types)
        raise _fail(source, f"{where}: must be {wanted}, not {_describe(value)}")


def _describe(value):
    for kind, name in ((bool, "true or false"), (int, "an integer"), (str, "a string"),
                       (dict, "a table"), (list, "an array")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


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


def _toml(value):
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string with ASCII escapes is also a TOML basic string.
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {value!r} as TOML")
