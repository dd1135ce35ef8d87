"""One exception type for mistakes a user can fix; the CLI turns it into one line and exit 2."""


class UserError(Exception):
    """Bad input from the user: unknown name, malformed config or data file."""
