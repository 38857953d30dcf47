"""The one exception type for mistakes a user can make (config, data, tables, layouts, flags).

The CLI prints its message on one line and exits 2; anything else is a bug and keeps its traceback.
"""


class TreeMTLError(Exception):
    """A user-caused error whose message names the file/field and what was expected."""
