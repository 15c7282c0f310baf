"""Checks of single site-file values (DESIGN.md, "The site file"), used by sitefile.py.

Pure: looks at values and this interpreter's encodings only, never at the host.
Every problem is one BootstrapError with status 2 naming the file and the key.
"""

import codecs
import ipaddress
import locale
import re
import sys

from bootstrap.errors import EXIT_USAGE, BootstrapError

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
AUTORESTART_WORDS = ("true", "false", "unexpected")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters that would end a line of the rendered config or a C string.
FORBIDDEN_CHARS = {"\n": "a line break", "\r": "a carriage return", "\0": "a NUL character"}
LOOPBACK_NAMES = ("localhost",)
# supervisor's config parser takes "#" or ";" after white space as a comment's start.
INLINE_COMMENT = re.compile(r"\s[#;]")
HERE = "%(here)s"
# {word} not preceded by "$" (a shell's ${VAR} is no placeholder).
PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "a table",
               list: "an array"}


def fail(where, message):
    """Return the BootstrapError (status 2) for a problem at where."""
    return BootstrapError(f"{where}: {message}", EXIT_USAGE)


def check_keys(table, known, source, prefix):
    """Refuse the first key of table that is not in known, suggesting the nearest."""
    for key in table:
        if key in known:
            continue
        import difflib

        hint = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        if hint:
            also = f'; did you mean "{hint[0]}"?'
        else:
            also = f"; known keys: {', '.join(sorted(known))}"
        raise fail(source, f"{prefix}{key}: unknown key{also}")


def check_placeholders(value, known, source, where):
    """Refuse a {word} in value that is a misspelt placeholder (close to one in known).

    Braces that are no near miss ({print} in awk, ${HOME} in a shell) pass as they are.
    """
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        for word in PLACEHOLDER_RE.findall(text) if isinstance(text, str) else ():
            if word in known:
                continue
            import difflib

            hint = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)
            if hint:
                raise fail(source, f'{where}: "{{{word}}}" is not a placeholder; did you '
                                   f'mean "{{{hint[0]}}}"? (placeholders: '
                                   f"{', '.join('{' + k + '}' for k in known)})")


def check_type(value, types, source, where):
    """Refuse value unless it is one of types (a bool is not an int here)."""
    if not isinstance(types, tuple):
        types = (types,)
    # TOML booleans are ints to Python; an int option must not take true/false.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES[t] for t in types)
        raise fail(source, f"{where}: must be {wanted}, not {describe(value)}")
    if isinstance(value, str):
        check_text(value, source, where)


def check_text(text, source, where):
    """Refuse a string that holds a character no config line can carry."""
    for char, name in FORBIDDEN_CHARS.items():
        if char in text:
            raise fail(source, f"{where}: the value holds {name}, which no supervisord "
                               "config line can carry")


def describe(value):
    """Name the TOML type of value, as a user wrote it."""
    for kind, name in ((bool, "true or false"), (int, "an integer"), (str, "a string"),
                       (dict, "a table"), (list, "an array"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def check_option(key, value, source, where):
    """Check one [program:x] option's type and, where supervisor is strict, its value."""
    if key in INT_OPTIONS:
        check_type(value, int, source, where)
        least = 1 if key == "numprocs" else -(2 ** 31) if key == "priority" else 0
        if not least <= value < 2 ** 31:
            raise fail(source, f"{where}: {value} is out of range (at least {least})")
    elif key in BOOL_OPTIONS:
        check_type(value, bool, source, where)
    elif key in STR_OPTIONS or key in SIZE_OPTIONS:
        check_type(value, (str, int) if key in SIZE_OPTIONS else str, source, where)
        check_config_value(str(value), source, where)
    elif key == "command":
        check_command(value, source, where)
    elif key == "autorestart":
        check_type(value, (str, bool), source, where)
        if isinstance(value, str) and value.lower() not in AUTORESTART_WORDS:
            raise fail(source, f'{where}: "{value}" is not one of true, false, "unexpected"')
    elif key == "exitcodes":
        check_exitcodes(value, source, where)
    elif key == "environment":
        check_environment(value, source, where)


def check_command(value, source, where):
    """Refuse a command that is not a string or a list of strings, or is empty."""
    check_type(value, (str, list), source, where)
    if isinstance(value, list):
        for i, part in enumerate(value):
            check_type(part, str, source, f"{where}[{i}]")
    words = value.split() if isinstance(value, str) else value
    if not words or not words[0].strip():
        raise fail(source, f"{where}: the command is empty")
    # The command is quoted when rendered, so only %(here)s is beyond repair.
    if any(HERE in word for word in words):
        raise fail(source, f"{where}: {value_problem(HERE)}")


def check_exitcodes(value, source, where):
    check_type(value, (str, list, int), source, where)
    codes = value if isinstance(value, list) else [value]
    for i, code in enumerate(codes):
        check_type(code, (int, str), source, f"{where}[{i}]")
    text = ",".join(str(c) for c in codes)
    if not re.match(r"^\s*\d+\s*(,\s*\d+\s*)*$", text):
        raise fail(source, f'{where}: "{text}" is not a list of exit statuses')


def check_environment(value, source, where):
    """Refuse an environment that is not a table of NAME = string or integer."""
    check_type(value, dict, source, where)
    for var, text in value.items():
        if not ENV_NAME_RE.match(var):
            raise fail(source, f'{where}: "{var}" is not a valid variable name')
        check_type(text, (str, int), source, f"{where}.{var}")
        problem = env_value_problem(str(text))
        if problem:
            raise fail(source, f"{where}.{var}: {problem}")


def check_config_value(text, source, where):
    """Refuse text that a supervisord config line cannot carry unchanged."""
    problem = value_problem(text)
    if problem:
        raise fail(source, f"{where}: {problem}")


def value_problem(text):
    """Return why a config line cannot carry text unchanged, or None."""
    if "\n" in text or "\r" in text:
        return "a value may not hold a line break"
    if INLINE_COMMENT.search(text):
        return "supervisord would cut this value at a '#' or ';' that follows white space"
    if HERE in text:
        return (f"supervisord replaces {HERE} in every value, even escaped; the value "
                "may not hold it")
    return None


def env_value_problem(text):
    """Return why supervisord's environment= cannot carry text unchanged, or None.

    supervisor splits environment= with a non-POSIX shlex and strips quote
    characters from both ends: a value may hold one kind of quote, not both, and
    may not start or end with one.
    """
    if text and (text[0] in "'\"" or text[-1] in "'\""):
        return "may not start or end with a quote character; supervisord would drop it"
    if "'" in text and '"' in text:
        return "holds both ' and \"; supervisord cannot read such a value"
    return value_problem(text)


def split_inet(inet):
    """Return (host, separator, port) of "HOST:PORT" or "[V6]:PORT", unchecked."""
    host, sep, port = inet.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, sep, port


def check_inet(inet, allow_remote, source, where):
    """Refuse a malformed HOST:PORT, and a non-loopback host unless allow_remote."""
    check_type(inet, str, source, where)
    host, sep, port = split_inet(inet)
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(source, f'{where}: "{inet}" must be HOST:PORT with a port from 1 to '
                           '65535, e.g. "127.0.0.1:9001"')
    if not allow_remote and not is_loopback(host):
        raise fail(source, f'{where}: "{host or "*"}" is not a loopback address; '
                           "supervisor's HTTP is not encrypted: use 127.0.0.1, or set "
                           "allow_remote = true to accept the risk")


def check_ports_apart(inets, source):
    """Refuse two instances on one port unless each binds its own remote address.

    inets maps each instance's key (instances.NAME.inet) to its checked HOST:PORT.
    Loopback names, wildcards and host names may all end up on one address, so
    only two distinct IP addresses that are neither may share a port.
    """
    seen = {}
    for where, inet in inets.items():
        host, _, port = split_inet(inet)
        for other_where, other in seen.get(int(port), []):
            if not _may_share_port(host, split_inet(other)[0]):
                raise fail(source, f'{other_where} and {where}: both use port {port} '
                                   f'("{other}", "{inet}"), but two supervisords may '
                                   "share a port only when each binds its own specific "
                                   "non-loopback IP address; give one of them another port")
        seen.setdefault(int(port), []).append((where, inet))


def _may_share_port(host, other):
    addresses = []
    for name in (host, other):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if address.is_loopback or address.is_unspecified:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        addresses.append(mapped or address)
    return addresses[0] != addresses[1]


def check_locale_text(text, where):
    """Refuse non-ASCII text that this Python could not write into paths and configs.

    where is the whole place named in the message (file and key, or an option).
    Under the C locale Python 3.6 knows only ASCII; text that is not valid UTF-8
    (bytes from the command line) cannot go into a config under any locale.
    """
    if all(ord(char) < 128 for char in text):
        return
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    narrow = non_utf8_locale()
    if narrow:
        raise BootstrapError(f'{where}: "{shown}" holds non-ASCII text, but {narrow}, '
                             "which cannot carry it into file names and configs; set "
                             "LANG=C.UTF-8 (or another UTF-8 locale) and run again",
                             EXIT_USAGE)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BootstrapError(f'{where}: "{shown}" is not valid UTF-8, which every path '
                             "in a supervisord config must be", EXIT_USAGE) from None


def non_utf8_locale():
    """Return how this Python's encoding is not UTF-8 ("Python 3.6 runs ..."), or None."""
    encodings = (locale.getpreferredencoding(False), sys.getfilesystemencoding())
    for encoding in encodings:
        if codecs.lookup(encoding).name != "utf-8":
            version = ".".join(str(v) for v in sys.version_info[:2])
            return f"Python {version} runs with the locale encoding {encoding}"
    return None


def is_loopback(host):
    """Return True if host names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_name(name, pattern, source, where, what, rule):
    """Refuse a table name that does not match pattern, saying rule."""
    if not pattern.match(name):
        raise fail(source, f'{where}: {what} name "{name}" {rule}')
