"""supervisord's own settings: the parts of its config it reads only when it starts.

deploy applies program changes to a running supervisord through reloadConfig; the
other sections ([supervisord], [unix_http_server], [inet_http_server],
[rpcinterface:*]) take effect only when it starts again. Runs inside supervisord
too (rpcext.py), so it needs only the standard library.
"""

import configparser
import hashlib

# Sections that reloadConfig reads again, or that only supervisorctl reads.
LIVE_PREFIXES = ("program:", "group:", "eventlistener:", "fcgi-program:", "supervisorctl")


def digests(text):
    """Return {section: digest} of the start-only sections of a config's text."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    parser.read_string(text)
    return {name: hashlib.sha256(repr(sorted(parser.items(name))).encode("utf-8")).hexdigest()
            for name in parser.sections() if not name.startswith(LIVE_PREFIXES)}


def changed(old, new):
    """Return the sections whose settings differ between two digests() results."""
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
