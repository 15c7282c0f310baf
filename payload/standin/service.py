"""A small stand-in service for the example site: runs until signalled.

Prints a heartbeat line to stdout every few seconds and exits 0 on SIGTERM,
SIGINT or SIGQUIT, like a well-behaved daemon under supervisord.
"""

import argparse
import os
import signal
import sys
import time


class _Stop(Exception):
    pass


def _stop(signum, frame):
    raise _Stop(signum)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jaws-standin")
    parser.add_argument("--name", default="standin")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--exit-after", type=float, default=None,
                        help="exit by itself after this many seconds")
    parser.add_argument("--exit-code", type=int, default=0)
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, _stop)

    print(f"{args.name}: started, pid {os.getpid()}", flush=True)
    try:
        if args.exit_after is not None:
            time.sleep(args.exit_after)
            print(f"{args.name}: exiting with {args.exit_code}", flush=True)
            return args.exit_code
        while True:
            time.sleep(args.interval)
            print(f"{args.name}: alive", flush=True)
    except _Stop as stop:
        print(f"{args.name}: stopped by signal {stop.args[0]}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
