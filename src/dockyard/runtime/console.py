"""The --console-socket handshake and terminal sizing: sends and receives a pty master fd; never opens a pty.

runc's protocol (utils.SendFd): one AF_UNIX stream connection, one sendmsg whose payload is the pty master's
file name and whose SCM_RIGHTS control message carries the master fd. Receivers (containerd, podman's
conmon) read the fd and ignore the name; the name is kept so runc's own recvtty tool works with us.
"""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

from dockyard.errors import InvalidArgument, SyscallError

# runc limits the name payload to 4096 bytes (utils.MaxNameLen) so a receiver can use a fixed buffer.
MAX_NAME_LEN = 4096

# asm-generic/ioctls.h: _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int).
_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430


def connect_console(socket_path: str) -> socket.socket:
    """Connect to the console socket; exec connects before it joins the container's mount namespace."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError as err:
        sock.close()
        raise SyscallError("connect console socket", socket_path, err.errno or 0) from err
    return sock


def send_console_master(target: str | socket.socket, master_fd: int, name: str = "/dev/ptmx") -> None:
    """Pass `master_fd` with `name` as the payload over the console socket (a path, or a connected socket)."""
    where = target if isinstance(target, str) else "console socket"
    payload = name.encode()
    if len(payload) > MAX_NAME_LEN:
        raise InvalidArgument(f"send console `{where}`: file name longer than {MAX_NAME_LEN} bytes")
    sock = connect_console(target) if isinstance(target, str) else target
    try:
        rights = array.array("i", [master_fd]).tobytes()
        try:
            sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)])
        except OSError as err:
            raise SyscallError("send console master", where, err.errno or 0) from err
    finally:
        sock.close()


def recv_console_master(sock: socket.socket) -> int:
    """Receive one pty master fd sent by send_console_master (or by runc) on a connected socket."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, MAX_NAME_LEN, 1)
    except OSError as err:
        raise SyscallError("receive console master", "", err.errno or 0) from err
    if not fds:
        raise InvalidArgument("receive console master: no file descriptor in the message")
    return fds[0]


def recv_console_master_with_name(sock: socket.socket) -> tuple[int, str]:
    """Like recv_console_master, also returning the file name the sender put in the payload."""
    try:
        payload, fds, _, _ = socket.recv_fds(sock, MAX_NAME_LEN, 1)
    except OSError as err:
        raise SyscallError("receive console master", "", err.errno or 0) from err
    if not fds:
        raise InvalidArgument("receive console master: no file descriptor in the message")
    return fds[0], payload.decode(errors="replace")


def set_winsize(fd: int, rows: int, cols: int) -> None:
    """Set a terminal's size with TIOCSWINSZ (struct winsize: rows, cols, xpixel, ypixel; tty_ioctl(4))."""
    if not (0 <= rows <= 0xFFFF and 0 <= cols <= 0xFFFF):
        raise InvalidArgument(f"set terminal size `{rows}x{cols}`: out of range")
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError as err:
        raise SyscallError("ioctl TIOCSWINSZ", f"fd {fd}", err.errno or 0) from err


def get_winsize(fd: int) -> tuple[int, int]:
    """A terminal's (rows, cols) from TIOCGWINSZ."""
    try:
        raw = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError as err:
        raise SyscallError("ioctl TIOCGWINSZ", f"fd {fd}", err.errno or 0) from err
    rows, cols, _, _ = struct.unpack("HHHH", raw)
    return rows, cols


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, str]:
    """Open a new pty master at `ptmx`, unlock it, and return (master fd, slave path `/dev/pts/N`).

    Opening `/dev/ptmx` inside the container's devpts (mounted with newinstance) gives a pty owned by the
    container, as runc does; os.openpty would use the host's devpts. The caller opens the slave.
    """
    try:
        master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise SyscallError("open", ptmx, err.errno or 0) from err
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        (number,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))
    except OSError as err:
        os.close(master)
        raise SyscallError("ioctl unlockpt", ptmx, err.errno or 0) from err
    return master, f"/dev/pts/{number}"
