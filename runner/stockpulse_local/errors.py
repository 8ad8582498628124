"""The runner's command errors, shared by every command module (cli.py, session_cmd.py)."""

from __future__ import annotations


class CommandError(Exception):
    """A failure outside the scenario file: printed, exit status 1."""
