"""Forking a spare process ahead of its request, for the two fork servers (cli/zygote.py, engine/zygote.py).

The child gets one end of a SOCK_SEQPACKET socketpair and runs `child_main` on it, after closing what it must
not hold; the parent keeps the other end and a pidfd, registered with its poller, that tells it the spare died.
Imports only the standard library: every layer may use it (the CLI's zygote may not import the engine).
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable, Iterable


def fork_spare(
    child_main: Callable[[socket.socket], int], close: Iterable[socket.socket | int], poller: select.poll
) -> tuple[int, int, socket.socket] | None:
    """Fork the spare: its (pid, pidfd, our end of the pair); None when the fork failed or the child is gone
    already. In the child, `close` is closed and `child_main`'s result is the exit status (1 if it raises)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None
    if pid == 0:
        code = 1
        try:
            for item in close:
                if isinstance(item, int):
                    os.close(item)
                else:
                    item.close()
            ours.close()
            code = child_main(theirs)
        finally:
            os._exit(code)
    theirs.close()
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # gone already (a parent that ignores SIGCHLD has it reaped by the kernel)
        ours.close()
        return None
    poller.register(pidfd, select.POLLIN)
    return pid, pidfd, ours
