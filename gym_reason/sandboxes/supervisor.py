"""The first process inside a bwrap sandbox: it runs the program and tells the host exactly how it ended.

Started as ``python3 supervisor.py STATUS_FD SCRIPT [ARGS...]`` as the pid namespace's init
(``bwrap --as-pid-1``); standard library only, it runs *inside* the sandbox and never imports
gym_reason. It forks: the child becomes the program (it runs ``SCRIPT`` as ``__main__`` in the
interpreter already started, as ``python3 SCRIPT ARGS...`` would, so no second interpreter start),
and the parent reaps every process that ends (orphans come to pid 1) until the program ends, then
writes one line to ``STATUS_FD`` (a pipe to the host that the program never holds), ``exit N`` or
``signal N``, and exits, which makes the kernel kill whatever is left in the namespace.

Why: bubblewrap reports a program killed by signal N as exit status ``128 + N``, so "the program
called ``exit(137)``" and "the kernel killed it with SIGKILL" look alike from outside. Being init,
the supervisor cannot be killed from inside (the kernel drops signals to a namespace's init that
it has no handler for, and ``kill(-1)`` skips it). Without the line (the host killed the sandbox)
the host falls back to bubblewrap's status and reads 129-192 as signals.
"""

import os
import sys

_HIDE = os.path.abspath(__file__)


def _excepthook(kind, error, tb):
    """The default hook, without this file's frames (the program's traceback starts in the program)."""
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _HIDE:
        tb = tb.tb_next
    if isinstance(error, BaseException):
        error.__traceback__ = tb  # the default hook prints the exception's own traceback
    sys.__excepthook__(kind, error, tb)


def _run_script(path, args):
    """Run ``path`` as the ``__main__`` module, as the interpreter does for ``python3 path args``."""
    import builtins

    with open(path, "rb") as f:
        source = f.read()
    sys.argv[:] = [path, *args]
    sys.path[0] = os.path.dirname(path)
    main = type(sys)("__main__")
    # The loader class of scripts, from the frozen bootstrap already loaded (importlib.machinery costs ~2 ms)
    loader = getattr(sys.modules.get("_frozen_importlib_external"), "SourceFileLoader", None)
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __builtins__=builtins,
        __loader__=loader("__main__", path) if loader is not None else None,
    )
    sys.modules["__main__"] = main
    sys.excepthook = _excepthook
    exec(compile(source, path, "exec", dont_inherit=True), main.__dict__)


def _supervise(pid, status_fd):
    import _signal as signal  # the C module: `signal` imports enum, ~4 ms on each cold start

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)  # signals meant for the program's group are not for us
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # hold none of the program's pipes: the host sees them close when the program ends
        os.dup2(devnull, fd)
    while True:  # as init, reap orphans too, so that they do not pile up as zombies
        try:
            died, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        if died == pid:
            break
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        report, code = f"signal {sig}", 128 + sig
    else:
        code = os.waitstatus_to_exitcode(status)
        report = f"exit {code}"
    os.write(status_fd, report.encode())
    os._exit(code)


def main():
    status_fd, path, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        _run_script(path, args)
        return
    _supervise(pid, status_fd)


if __name__ == "__main__":
    main()
