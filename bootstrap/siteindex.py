"""site.json: the resolved site beside site.toml, for the quick status (quick.py).

init writes it (install.write_site_index) with site.toml's signature; quick.py
trusts it only while site.toml still has that signature. Kept apart from both so
that neither loads the other's imports.
"""

import os

SITE_INDEX = "site.json"


def file_signature(path):
    """Return what tells a file apart from any later version of it."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
