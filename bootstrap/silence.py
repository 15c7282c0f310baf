"""Why a supervisord that runs does not answer, and what the operator can do about it.

Four cases, told apart without waiting when they can be: the process is stopped
(SIGSTOP, a debugger); its socket was removed (a cleaner of /tmp) so nothing can
reach it; it refuses the key in its key file (rotate-key wrote a new one and it
has not re-read its config); or it is silent past the answer timeout (wedged,
swapped out). The first two and the key are facts read from /proc, the file
system and one question; only silence costs a wait.
"""

import os

from bootstrap import procfs, rpc

STOPPED, REMOVED, KEY, SILENT = "stopped", "socket removed", "key refused", "silent"
# The states /proc gives a process stopped by a signal or a tracer.
STOPPED_STATES = ("T", "t")


def kind(layout, instance, pid, ask=True):
    """Return which of the four cases instance's supervisord (pid) is in.

    Without ask, the key is not tried: a supervisord that refuses it reads as silent.
    """
    if procfs.state(pid) in STOPPED_STATES:
        return STOPPED
    if not os.path.exists(str(layout.socket(instance))):
        return REMOVED
    if ask and rpc.refuses_key(layout, instance):
        return KEY
    return SILENT


def text(layout, instance, pid, found=None):
    """Return one sentence naming instance's supervisord, what is wrong and what to do."""
    found = found or kind(layout, instance, pid)
    head = f"supervisord of instance {instance} (pid {pid})"
    if found == STOPPED:
        return (f"{head} is stopped (SIGSTOP or a debugger) and answers nothing; "
                f"'kill -CONT {pid}' lets it go on")
    if found == REMOVED:
        return (f"{head} runs, but its socket {layout.socket(instance)} was removed, so "
                "nothing can reach it; 'down' stops it by its pid with its programs, "
                f"or 'kill -HUP {pid}' makes it create the socket again (its programs "
                "restart)")
    if found == KEY:
        return (f"{head} refuses the key in {layout.key(instance)}, which changed since "
                f"it started (rotate-key); 'kill -HUP {pid}' makes it read its config and "
                "take the new key (its programs restart), or 'down' stops it by its pid")
    return (f"{head} runs but does not answer on {layout.socket(instance)} within "
            f"{rpc.answer_timeout():g}s; see {layout.logfile(instance)}; 'kill {pid}' "
            f"stops it ('kill -9 {pid}' if it does not go), then run up again")
