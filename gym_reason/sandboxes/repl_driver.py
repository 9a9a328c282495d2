"""The interpreter loop of a persistent session; it runs *inside* the sandbox.

Started as ``python3 -c <this file's text> <config json>`` (see
:func:`gym_reason.sandboxes.repl.driver_command`) or as ``python3 <a copy of this file>
<config json>``; standard library only, so any Python 3.8+ in the sandbox can run it.
It never imports gym_reason.

Protocol (every frame starts with a 4-byte big-endian length and a JSON header):

* host -> driver, on the driver's stdin: ``{"code": str}`` per call;
* driver -> host, on the driver's stdout: first ``{"ready": true, "pid": int}``; then, per
  call, any number of ``{"stream": "stdout" | "stderr", "len": n}`` followed by ``n`` bytes
  of output, as the program writes it, and last ``{"done": true, "exit_code": int,
  "truncated": bool, "limit": bool}``. ``exit_code`` is 0, 1 for an uncaught exception, or
  the ``SystemExit`` code; ``limit`` says the call ended in a resource-limit error such as
  ``MemoryError``. Output is streamed so that the host keeps what a call printed before
  it timed out or crashed.

The code of each call runs in one namespace that persists across calls. Its fd 1 and
fd 2 (so ``print``, ``os.write`` and child processes alike) go to pipes that two
threads drain, forwarding at most ``output_bytes`` of each per call and dropping the
rest, so a flood neither blocks nor grows memory. The end of a call's output is
found by writing a random marker through the pipe after the call. ``cpu_seconds``
applies per call: the soft ``RLIMIT_CPU`` is moved forward before each call (the
hard limit, set from outside, bounds the whole session). Timeouts are the host's
business: it kills the sandbox.
"""

import builtins
import contextlib
import errno
import json
import linecache
import os
import resource
import struct
import sys
import threading
import traceback

_LIMIT_ERRNOS = {errno.EAGAIN, errno.EFBIG, errno.EMFILE, errno.ENOSPC}


class _Channel:
    """Frames to the host; shared by the main thread and the drain threads."""

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, header, payload=b""):
        body = json.dumps(header).encode()
        with self.lock:
            _write_all(self.fd, struct.pack(">I", len(body)) + body + payload)


class _Capture:
    """Drains one pipe in a thread, forwards the first ``limit`` bytes of each call to the host, drops the rest."""

    def __init__(self, name, target_fd, limit, channel, marker_len):
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, target_fd)  # the inheritable fd the program writes to
        self.write_fd = write_fd  # the driver's own end, for the marker (non-inheritable)
        self.read_fd = read_fd
        self.name = name
        self.limit = limit
        self.channel = channel
        self.keep_back = marker_len - 1
        self.lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        self.pending = bytearray()
        self.marker = None
        self.found = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _forward(self, data):
        room = self.limit - self.sent
        if room > 0 and data:
            part = bytes(data[:room])
            self.channel.send({"stream": self.name, "len": len(part)}, part)
            self.sent += len(part)
        self.dropped += max(0, len(data) - max(room, 0))

    def _drain(self):
        size = 65536
        while True:
            chunk = os.read(self.read_fd, size)
            if not chunk:
                return
            with self.lock:
                self.pending += chunk
                if self.marker is not None:
                    at = self.pending.find(self.marker)
                    if at >= 0:
                        self._forward(self.pending[:at])
                        del self.pending[: at + len(self.marker)]
                        self.marker = None
                        self.found.set()
                # The marker is written in one atomic write, so only a read that filled its buffer can
                # have cut it in two: only then hold the tail back (the rest of the pipe follows at once).
                keep = self.keep_back if len(chunk) == size else 0
                cut = len(self.pending) - keep
                if cut > 0:
                    self._forward(self.pending[:cut])
                    del self.pending[:cut]

    def finish(self, marker):
        """Send ``marker`` through the pipe and wait until everything written before it was forwarded."""
        with self.lock:
            self.marker = marker
            self.found.clear()
        os.write(self.write_fd, marker)
        self.found.wait()

    def take(self):
        """Whether output of the call was dropped; resets the count for the next call."""
        with self.lock:
            truncated = self.dropped > 0
            self.sent = 0
            self.dropped = 0
            return truncated


def _new_marker():
    """Ends a call's output in the pipe; random, so the program cannot print it by accident or on purpose."""
    return b"\0gym-reason-end:" + os.urandom(8).hex().encode() + b"\0"


def _read_exact(fd, n):
    data = bytearray()
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _is_limit_error(error):
    if isinstance(error, MemoryError):
        return True
    if isinstance(error, OSError) and error.errno in _LIMIT_ERRNOS:
        return True
    return isinstance(error, RuntimeError) and "can't start new thread" in str(error)


def _exit_code(exit):
    """The status ``python -c`` would exit with for this ``SystemExit``."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def _execute(code, filename, namespace):
    """Run one call; returns (exit_code, limit)."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # tracebacks show source
    try:
        compiled = compile(code, filename, "exec")
        exec(compiled, namespace)
    except SystemExit as exit:
        return _exit_code(exit), False
    except BaseException as error:
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        return 1, _is_limit_error(error)
    return 0, False


def _move_cpu_limit(cpu_seconds):
    """Give the coming call ``cpu_seconds`` more CPU time (soft limit), within the session's hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def main():
    config = json.loads(sys.argv[1])
    requests = os.dup(0)
    channel = _Channel(os.dup(1))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    marker_len = len(_new_marker())
    captures = [
        _Capture(name, fd, config["output_bytes"], channel, marker_len) for name, fd in (("stdout", 1), ("stderr", 2))
    ]
    driver_pid = os.getpid()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    sys.argv = [""]
    channel.send({"ready": True, "pid": driver_pid})
    calls = 0
    while True:
        try:
            (size,) = struct.unpack(">I", _read_exact(requests, 4))
            request = json.loads(_read_exact(requests, size))
        except EOFError:
            return
        calls += 1
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        _move_cpu_limit(config["cpu_seconds"])
        exit_code, limit = _execute(request["code"], f"<cell {calls}>", namespace)
        if os.getpid() != driver_pid:  # a forked child fell out of the user's code: it must not serve requests
            os._exit(exit_code)
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                stream.flush()
        marker = _new_marker()
        for capture in captures:
            capture.finish(marker)
        truncated = [capture.take() for capture in captures]
        channel.send({"done": True, "exit_code": exit_code, "truncated": any(truncated), "limit": limit})


if __name__ == "__main__":
    _host_stderr = os.dup(2)  # the driver's own failures go here, not into a call's captured stderr
    try:
        main()
    except BaseException:
        os.write(_host_stderr, traceback.format_exc().encode())
        raise SystemExit(70) from None
