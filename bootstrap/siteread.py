"""Reading a site file (DESIGN.md, "The site file"): its bytes, its text, its TOML.

Used by sitefile.py. Reads only the file it is given, and only a regular file;
writes nothing. Every problem is one BootstrapError with status 2 naming the file.
"""

import os
import re
import stat

from bootstrap import bundle
from bootstrap.sitecheck import fail

DEFAULT_SITE = "sites/default.toml"
EXAMPLE_SITE = "sites/example.toml"
BOM = b"\xef\xbb\xbf"
_WHERE_RE = re.compile(r"\s*\((at line (\d+), column (\d+)|at end of document)\)\s*$")
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def parse_toml(text, source):
    """Parse TOML text; a syntax error names source, line and column."""
    try:
        import tomllib as toml
    except ImportError:
        import tomli as toml

    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise fail(f"{source}{_syntax_where(str(exc), text)}",
                   f"not valid TOML: {_WHERE_RE.sub('', str(exc))}") from None
    except RecursionError:
        # The parser recurses once per level of nested arrays and inline tables.
        raise fail(source, "the site file nests arrays or tables hundreds of levels deep, "
                           "more than the TOML parser can follow; no site needs more than "
                           "a few") from None


def _syntax_where(message, text):
    """Return ", line L, column C" from a TOML parser's message, or nothing."""
    found = _WHERE_RE.search(message)
    if not found:
        return ""
    if found.group(2):
        return f", line {found.group(2)}, column {found.group(3)}"
    # Errors at the end of the text name no position; the end is one.
    lines = text.splitlines() or [""]
    return f", line {len(lines)}, column {len(lines[-1]) + 1}"


def read_site_text(config=None, example=False):
    """Return (text, source name) of the site file, the example or the default."""
    if config is not None:
        data = _read_regular_file(config)
        if data.startswith(BOM):
            raise fail(config, "the site file starts with a UTF-8 byte-order mark; save it "
                               "as UTF-8 without one")
        try:
            return data.decode("utf-8"), str(config)
        except UnicodeDecodeError:
            raise fail(config, "the site file is not UTF-8 text") from None
    name = EXAMPLE_SITE if example else DEFAULT_SITE
    return bundle.read_payload_text(name), f"<embedded {name}>"


def _read_regular_file(path):
    """Return the bytes of path, refusing (unopened) anything but a regular file."""
    try:
        kind = _file_kind(os.stat(path).st_mode)
        if kind is None:
            # O_NONBLOCK: a FIFO put there since the stat must not hang the open.
            with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
                kind = _file_kind(os.fstat(fh.fileno()).st_mode)
                data = None if kind else fh.read()
    except OSError as exc:
        raise fail(path, f"cannot read the site file: {exc.strerror}") from None
    if kind:
        raise fail(path, f"the site file is {kind}, not a regular file; give --config "
                         "the path of a TOML file")
    return data


def _file_kind(mode):
    """Return what a non-regular file is ("a FIFO"), or None for a regular file."""
    for test, kind in _FILE_KINDS:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "a special file"
