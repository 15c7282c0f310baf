"""jaws-bootstrap: one file that runs the two supervisord instances of a JAWS site."""

__version__ = "0.1.0"
