"""Errors that a person can act on: printed as one line, exit code 2, no traceback."""


class UserError(Exception):
    """A problem with the user's input (arguments, config files): exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration file is wrong. The message names the file and the key."""

    def __init__(self, path: object, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")
