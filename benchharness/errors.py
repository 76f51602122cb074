"""One error family for everything a user can get wrong.

`UserError` (and subclasses) carry a one-line message that names what was wrong, the value
received and what is allowed. The CLI catches them once and exits with code 2 (suite or usage
errors); per-candidate failures are caught by the runner, recorded on the candidate and the
run goes on.
"""


class UserError(Exception):
    """A problem the user can fix: bad suite, missing file, unknown format..."""


class SuiteError(UserError):
    """The suite file is invalid (exit code 2)."""


class DataError(UserError):
    """The dataset cannot be used (missing target, empty, unreadable)."""


class ModelError(UserError):
    """A model cannot be loaded or does not fit the data."""


class MissingExtraError(ModelError):
    """An optional package is needed for this format."""

    def __init__(self, what: str, package: str, extra: str):
        super().__init__(
            f"{what} needs the '{package}' package: pip install -e '.[{extra}]' (or pip install {package})"
        )


class NotSupportedError(ModelError):
    """The model does not offer this operation (e.g. predict_proba on a regressor)."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same
    clean-up runs (children killed, what was measured saved) and the command exits 143."""
