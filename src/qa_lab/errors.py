"""Error messages shared across the kit."""

from __future__ import annotations

import difflib
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
        import signal
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f" at step {step}; saved {checkpoint}" if step is not None else "; every run saved the step it reached"
        super().__init__(f"stopped by {name}{where}")
