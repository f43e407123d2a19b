"""Child processes a test starts itself (a second replica, a reference server, Prometheus):
stopped the same way everywhere, and always reaped, so no test leaves a process running or
a ``Popen`` that Python warns about when it is collected."""

from __future__ import annotations

import signal
import subprocess


def stop_child(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM,
               grace_s: float = 30) -> int:
    """Send ``sig``, wait up to ``grace_s`` for the process to end, kill it if it has not,
    and reap it. Returns its exit status (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
