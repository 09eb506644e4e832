"""Errors that end a command with one clear sentence instead of a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: config, endpoint, result file, unsupported mode.

    The message is one sentence that names what is wrong and how to fix it.
    The CLI prints it and exits with ``exit_code`` (2 unless said otherwise).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, like KeyboardInterrupt for SIGINT.

    A BaseException so that ``except Exception`` in cycle code cannot swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum
