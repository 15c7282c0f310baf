"""The one place that runs other programs (STYLE.md section 7).

argv is always a list of str, never a shell line; every call has a timeout; a
failure becomes a BootstrapError naming the command, its status and stderr's tail.
"""

import logging
import os
import subprocess

from bootstrap.errors import BootstrapError

log = logging.getLogger(__name__)

# What supervisord (and so every program it starts) inherits from whoever ran us:
# the same set whether that was CI, a person or cron at boot. Job tokens, PYTHON*
# and SHIV_* never pass.
ENV_ALLOWED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR")
ENV_ALLOWED_PREFIXES = ("LC_",)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# How the install's launchers run: -I (no PYTHON* variables, no user site) and -S
# (nothing from the host's site-packages, and no .pth file there running code and
# costing time at every start; the build carries all they import).
ISOLATED = ("-I", "-S")


def clean_environment(environ=None):
    """Return the allow-listed part of environ (os.environ by default)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items()
           if k in ENV_ALLOWED or k.startswith(ENV_ALLOWED_PREFIXES)}
    env.setdefault("PATH", DEFAULT_PATH)
    return env


def run(argv, timeout, env=None, input_text=None, check=True, cwd=None):
    """Run argv to completion and return the CompletedProcess (text output)."""
    argv = [str(a) for a in argv]
    log.info("running %s", argv)
    try:
        result = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout, env=env, cwd=cwd,
            input=input_text, stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BootstrapError(f"{argv[0]}: no answer within {timeout}s") from None
    except OSError as exc:
        raise BootstrapError(f"{argv[0]}: cannot run it: {exc.strerror}") from None
    if check and result.returncode != 0:
        tail = "; ".join(result.stderr.strip().splitlines()[-3:])
        raise BootstrapError(f"{' '.join(argv[:3])} exited with {result.returncode}"
                             + (f": {tail}" if tail else ""))
    return result


def start(argv, env=None, cwd=None):
    """Start argv without waiting for it; return the Popen (text pipes) for finish()."""
    argv = [str(a) for a in argv]
    log.info("running %s", argv)
    try:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, universal_newlines=True,
                                env=env, cwd=cwd)
    except OSError as exc:
        raise BootstrapError(f"{argv[0]}: cannot run it: {exc.strerror}") from None


def finish(process, timeout):
    """Wait for a process from start(); return its CompletedProcess."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BootstrapError(f"{process.args[0]}: no answer within {timeout}s") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def start_quiet(argv, env=None):
    """Start argv with no input or output for it; return the Popen, or None if it cannot run."""
    argv = [str(a) for a in argv]
    log.info("running %s", argv)
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
    except OSError as exc:
        log.info("cannot run %s: %s", argv[0], exc.strerror)
        return None


def finish_quiet(process, timeout):
    """Wait for a process from start_quiet(); kill it past timeout. Returns its status."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.info("%s still runs after %ss; ending it (pid %d)", process.args[0], timeout,
                 process.pid)
        process.kill()
        return process.wait()


def run_attached(argv, env=None):
    """Run argv with our stdin, stdout and stderr; return its exit status."""
    argv = [str(a) for a in argv]
    log.info("running %s", argv)
    try:
        return subprocess.call(argv, env=env)
    except OSError as exc:
        raise BootstrapError(f"{argv[0]}: cannot run it: {exc.strerror}") from None


def exec_replace(argv, env):
    """Replace this process with argv (never returns)."""
    argv = [str(a) for a in argv]
    log.info("exec %s", argv)
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        raise BootstrapError(f"{argv[0]}: cannot run it: {exc.strerror}") from None
