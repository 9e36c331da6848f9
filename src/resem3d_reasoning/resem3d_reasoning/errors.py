"""Typed errors of resem3d_reasoning, shared by every module of the package.

Every message is one line (newlines in details are folded into spaces) so that a CLI can print
``error: <message>`` and a log keeps one record per failure.
"""

from __future__ import annotations


def one_line(text: object, limit: int = 500) -> str:
    """``text`` as a single line: whitespace runs folded to one space, cut to ``limit`` chars."""
    flat = ' '.join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + '...'


class ReasoningError(Exception):
    """Base class of every error raised by resem3d_reasoning."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message, limit=2000))


class ConfigError(ReasoningError, ValueError):
    """A client or server setting is missing, unknown or out of range."""


class InputBlockError(ReasoningError, ValueError):
    """A request's user text lacks its machine-readable ``INPUT (JSON):`` block or it is invalid."""


class TranscriptError(ReasoningError):
    """A transcript directory is missing, unreadable or has a malformed line (named by number)."""


class MllmError(ReasoningError):
    """The model backend failed to give an answer (network, HTTP status, empty reply...).

    ``step`` names the reasoning step whose request failed (``None`` when not known).
    """

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


class MllmTimeoutError(MllmError):
    """The backend did not answer within the per-attempt timeout or the request's time budget."""


class MllmRateLimitError(MllmError):
    """The backend kept answering HTTP 429 (rate limited) until the retries or budget ran out."""


class ReplayMissError(MllmError):
    """A replay transcript holds no recorded answer for a request.

    ``key`` is the full request key (sha256 hex), ``directory`` the transcript directory.
    """

    def __init__(self, step: str, key: str, directory: str) -> None:
        super().__init__(f'replay: no recorded answer for step {step} (key {key[:12]}) '
                         f'in {directory}', step=step)
        self.key = key
        self.directory = directory


class ReplyError(ReasoningError):
    """A reply that arrived but is not valid (not JSON, against the schema, unknown names...).

    ``step`` names the reasoning step; ``detail`` says what is wrong, fit to be fed back to the
    model in a bounded re-prompt.
    """

    def __init__(self, step: str, detail: str) -> None:
        self.step = step
        self.detail = one_line(detail, limit=2000)
        super().__init__(f'{step}: invalid reply: {self.detail}')


class OracleError(ReasoningError):
    """The oracle cannot answer a question from the simulator's ground truth."""
