"""Error messages shared across the kit."""

from __future__ import annotations

import difflib
import errno
import signal
from collections.abc import Sequence


def unknown(what: str, value: object, valid: Sequence[str]) -> ValueError:
    """A ValueError naming the bad value, the valid ones and the closest match."""
    close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}{hint}")


class TrainingStopped(Exception):
    """Training stopped early on a signal (SIGTERM from a scheduler, SIGINT from Ctrl-C) after saving the step it
    had reached; `qa-lab train` exits with 128 + the signal number, so schedulers requeue the job."""

    def __init__(self, signum: int, step: int | None = None, checkpoint=None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f" at step {step}; saved {checkpoint}" if step is not None else "; every run saved the step it reached"
        super().__init__(f"stopped by {name}{where}")


class TrainingDiverged(FloatingPointError):
    """Training stopped because the loss, or the weights after an update, stopped being finite (NaN or Inf); no
    checkpoint of that state was written, so the run folder's checkpoints hold the last good steps. `qa-lab train`
    prints the message and exits 1."""

    def __init__(self, message: str, step: int, last_finite: tuple[int, float] | None = None):
        self.step, self.last_finite = step, last_finite
        super().__init__(message)


class CannotWrite(OSError):
    """A file the kit writes could not be written (no space left, file too large, permission denied). The message
    names the file and what was kept; `errno` is the system's."""

    def __init__(self, path, error: OSError, kept: str = ""):
        why = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EFBIG: "file too large for the filesystem or this process's file-size limit, `ulimit -f`",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "read-only filesystem"}.get(error.errno, error.strerror or str(error))
        code = f" ({errno.errorcode[error.errno]})" if error.errno in errno.errorcode else ""
        self.path = path
        super().__init__(f"cannot write {path}: {why}{code}" + (f"; {kept}" if kept else ""))
        self.errno = error.errno
