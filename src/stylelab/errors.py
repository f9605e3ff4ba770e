"""The one exception type users see: a clear message, no traceback."""


class StylelabError(Exception):
    """Bad input or a missing resource, worded for the person at the keyboard.

    The CLI prints ``stylelab: error: <message>`` and exits with status 2.
    """
