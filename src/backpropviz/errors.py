"""User-facing errors: each message says what was wrong, what is accepted and what was given."""


class BackpropvizError(ValueError):
    """Invalid input from a user (a name, a number, a file). The CLI prints it on one line, exit 2."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``history`` holds every step up to that point."""

    def __init__(self, message: str, history):
        super().__init__(message)
        self.history = history


def choice_error(what: str, given, valid) -> BackpropvizError:
    """An error for an unknown name, listing the names that are accepted."""
    return BackpropvizError(f"unknown {what} {given!r}; choose one of: {', '.join(valid)}")
