"""Install-directory safety (DESIGN.md, "Security model"): /tmp is shared.

Checks and creates directories; never removes or chmods one it did not create.
"""

import logging
import os
import stat

from bootstrap.errors import EXIT_USAGE, BootstrapError

log = logging.getLogger(__name__)


def check_install_dir(layout):
    """Refuse an install directory (or subdirectory) that another account could use."""
    paths = [layout.root, layout.bin, layout.lib, layout.run, layout.logs,
             layout.previous, layout.keys]
    for path in paths:
        check_dir(path)


def check_dir(path):
    """Raise BootstrapError if path exists and is not a safe directory of ours."""
    try:
        st = os.lstat(str(path))
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise BootstrapError(f"{path}: is a symbolic link; refusing to use it as part of "
                             "an install directory (remove it or choose another "
                             "install_dir)", EXIT_USAGE)
    if not stat.S_ISDIR(st.st_mode):
        raise BootstrapError(f"{path}: exists and is not a directory; remove it or choose "
                             "another install_dir", EXIT_USAGE)
    if st.st_uid != os.geteuid() and os.geteuid() != 0:
        raise BootstrapError(f"{path}: belongs to another account (uid {st.st_uid}); "
                             "refusing to reuse it (choose another install_dir)", EXIT_USAGE)
    if st.st_mode & stat.S_IWOTH:
        raise BootstrapError(f"{path}: is writable by every account (mode "
                             f"{stat.S_IMODE(st.st_mode):04o}); refusing to use it "
                             "(remove it or choose another install_dir)", EXIT_USAGE)


def make_dir(path, mode):
    """Create directory path with exactly mode, or check the one that is there."""
    try:
        os.mkdir(str(path), mode)
    except FileExistsError:
        check_dir(path)
        return
    except FileNotFoundError:
        make_dir(path.parent, 0o755)
        os.mkdir(str(path), mode)
    os.chmod(str(path), mode)
    log.info("created directory %s (mode %04o)", path, mode)
