"""Templates to configs (DESIGN.md, "The site file"): one supervisord config per instance.

Pure text work plus the check with supervisor's own parser; writing the files in
place is install.py's work.
"""

import logging
import os
import pwd
import re
import shlex
import string

from bootstrap import bundle
from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.sitecheck import INLINE_COMMENT, env_value_problem, value_problem

RUNNER_PROGRAM = "gitlab-runner"
SAFE_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
# supervisord expands %(name)s in these options twice (once as it reads the line,
# once more for the log file's name), so their % is escaped twice.
TWICE_EXPANDED = ("stdout_logfile", "stderr_logfile")
# The template values that come from install_dir.
PATH_VALUES = ("socket", "logfile", "pidfile", "childlogdir", "directory")
RUNNER_STOPSIGNAL = "QUIT"
log = logging.getLogger(__name__)


def render_instance(site, name, layout, key):
    """Return the text of supervisord-<name>.conf for instance name of site."""
    from bootstrap.sitefile import source_of

    table = site["instances"][name]
    source = source_of(site)
    warn_exposure(name, table)
    template = string.Template(bundle.read_payload_text("templates/supervisord.conf"))
    values = {
        "instance": name,
        "deployment": site["deployment"],
        "socket": layout.socket(name),
        "chown": _chown_line(table),
        "username": name,
        "password": key,
        "inet": _inet_section(table, name, key),
        "logfile": layout.logfile(name),
        "pidfile": layout.pidfile(name),
        "childlogdir": layout.program_logs(name),
        "directory": layout.root,
        "identifier": f"jaws-{site['deployment']}-{name}",
        "user": _user_line(table),
        "programs": _programs(site, name, layout, source),
    }
    # Section builders escape their own values; their line breaks are structure.
    built = ("chown", "inet", "user", "programs")
    escaped = {k: v if k in built else _escape(str(v), _template_key(k, source))
               for k, v in values.items()}
    return template.substitute(escaped)


def _template_key(name, source):
    """Return where a template value comes from, for errors."""
    return f"{source}: install_dir" if name in PATH_VALUES else name


def warn_exposure(name, table):
    """Warn (stderr) about an instance that runs as root or listens beyond this host."""
    from bootstrap.sitecheck import is_loopback

    try:
        as_root = os.getuid() == 0 and pwd.getpwnam(table["user"]).pw_uid == 0
    except KeyError:
        as_root = False
    if as_root:
        log.warning("instance %s: supervisord and its programs will run as root; set "
                    "instances.%s.user to the account that should run them", name, name)
    inet = table.get("inet")
    if inet and not is_loopback(inet.rpartition(":")[0].strip("[]")):
        log.warning("instance %s: listens on %s, beyond this host (allow_remote = true); "
                    "supervisor's HTTP is not encrypted, so the key and every command "
                    "cross the network in clear", name, inet)


def _chown_line(table):
    if os.getuid() != 0:
        # Only root may give the socket away; otherwise the account's own group
        # set decides, and chmod 0770 keeps everyone else out.
        return ""
    owner = _escape(f"{table['user']}:{table['control_group']}", "chown")
    return f"chown={owner}\n"


def _user_line(table):
    return f"user={_escape(table['user'], 'user')}\n" if os.getuid() == 0 else ""


def _inet_section(table, name, key):
    if not table.get("inet"):
        return ""
    return (f"\n[inet_http_server]\nport={_escape(table['inet'], 'inet')}\n"
            f"username={name}\npassword={key}\n")


def _programs(site, name, layout, source):
    table = site["instances"][name]
    sections = []
    for group, members in table["groups"].items():
        sections.append(f"\n[group:{group}]\nprograms={','.join(members)}\n")
    for prog, options in table["programs"].items():
        sections.append(_program_section(prog, options, name, layout, source))
    runner = site.get("runner")
    if runner and runner["supervised"] and runner["instance"] == name:
        sections.append(_program_section(RUNNER_PROGRAM, runner_options(runner), name,
                                         layout, source))
    return "".join(sections)


def runner_options(runner):
    """Return the [program:gitlab-runner] options for a supervised runner."""
    command = [runner["command"], "run", "--config", runner["config"],
               "--working-directory", runner["working_directory"]]
    return {
        "command": command,
        "directory": runner["working_directory"],
        "environment": runner["environment"],
        # The runner drains its jobs only on SIGQUIT; SIGTERM aborts them.
        "stopsignal": RUNNER_STOPSIGNAL,
        "stopwaitsecs": runner["stopwaitsecs"],
        "stopasgroup": False,
        "killasgroup": True,
        "autorestart": True,
        "startsecs": 2,
        # gitlab-runner logs to stderr; one file is what 'runner logs' shows.
        "redirect_stderr": True,
        "stderr_logfile": "NONE",
    }


def program_defaults(prog, instance, layout):
    return {
        "stdout_logfile": str(layout.program_logs(instance) / f"{prog}.log"),
        "stderr_logfile": str(layout.program_logs(instance) / f"{prog}.err.log"),
        "directory": str(layout.root),
    }


def _program_section(prog, options, instance, layout, source):
    merged = program_defaults(prog, instance, layout)
    merged.update(options)
    lines = [f"\n[program:{prog}]"]
    for key, value in merged.items():
        where = f"{_site_key(prog, instance, source)}.{key}"
        if key not in options:
            where = f"{source}: install_dir"  # the defaults are paths under it
        lines.append(f"{key}={format_option(key, value, where)}")
    return "\n".join(lines) + "\n"


def _site_key(prog, instance, source):
    """Return where the options of prog come from: the site file and its table."""
    if prog == RUNNER_PROGRAM:
        return f"{source}: runner"
    return f"{source}: instances.{instance}.programs.{prog}"


def format_option(key, value, where):
    """Return value as supervisord reads it back: quoted, with % escaped.

    where names the site file and key the value comes from, for errors.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if key == "command":
        return _escape(_command_text(value, where), where)
    if key == "exitcodes" and isinstance(value, list):
        return ",".join(str(v) for v in value)
    if key == "environment":
        return ",".join(f"{var}={_quote_env(str(text), where, var)}"
                        for var, text in value.items())
    if key in TWICE_EXPANDED:
        return _escape(str(value), where).replace("%", "%%")
    return _escape(str(value), where)


def _quote_env(text, where, var):
    # The site file's check refuses such values already (sitecheck); a
    # placeholder expanded since then may still bring one.
    problem = env_value_problem(text)
    if problem:
        raise BootstrapError(f"{where}.{var}: {problem}", EXIT_USAGE)
    quoted = f"'{text}'" if '"' in text else f'"{text}"'
    return _escape(quoted, f"{where}.{var}")


def _command_text(value, where):
    # supervisord splits command= with a POSIX shlex; a string is kept as written
    # unless its config line would lose a tail to an inline comment (see below).
    if isinstance(value, list):
        return " ".join(quote_word(part) for part in value)
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise BootstrapError(f"{where}: supervisord cannot split this command: {exc}",
                             EXIT_USAGE) from None
    return " ".join(quote_word(w) for w in words) if INLINE_COMMENT.search(value) else value


def quote_word(word):
    """Return word quoted for a POSIX shlex, with no inline-comment mark in the text.

    supervisor's config parser cuts a value at "#" or ";" after white space, quotes
    or not; outside quotes those two (and the quote itself) are escaped instead.
    """
    if SAFE_WORD.match(word):
        return word
    parts, run = [], ""
    for char in word:
        if char in "'#;":
            parts += [f"'{run}'"] if run else []
            parts.append("\\" + char)
            run = ""
        else:
            run += char
    if run or not parts:
        parts.append(f"'{run}'")
    return "".join(parts)


def _escape(text, where):
    problem = value_problem(text)
    if problem:
        raise BootstrapError(f"{where}: {problem}", EXIT_USAGE)
    return text.replace("%", "%%")


def check_config(path, shown=None):
    """Parse path with supervisor's own config parser; raise BootstrapError if it fails.

    supervisor must be importable (install.activate). Messages name shown (the
    file a staged copy will replace) instead of path when it is given.
    """
    from supervisor.options import ServerOptions

    check_encoding(path, shown)
    options = ServerOptions()
    options.configfile = str(path)
    try:
        options.process_config(do_usage=False)
    except ValueError as exc:
        # supervisor names the staged temporary file, which is gone by the time anyone reads this.
        reason = re.sub(r"\s*\(file: '[^']*'\)", "", str(exc))
        raise BootstrapError(f"{shown or path}: supervisord rejects the config: {reason}",
                             EXIT_USAGE) from None


def check_encoding(path, shown=None):
    """Refuse non-ASCII text in a config that this Python would read in another encoding.

    supervisord reads its config, and passes arguments and environment on, in the
    locale's encoding: Python 3.6 under the C locale (no LANG) knows only ASCII.
    """
    import codecs
    import locale
    import sys

    with open(str(path), "rb") as fh:
        data = fh.read()
    encoding = locale.getpreferredencoding(False)
    if data.isascii() if hasattr(data, "isascii") else max(data or b"\0") < 128:
        return
    if codecs.lookup(encoding).name != "utf-8":
        version = ".".join(str(v) for v in sys.version_info[:2])
        raise BootstrapError(f"{shown or path}: holds non-ASCII text, but Python "
                             f"{version} runs with the locale encoding {encoding}, so "
                             "supervisord would not read it; set LANG=C.UTF-8 (or another "
                             "UTF-8 locale) and run again", EXIT_USAGE)

