#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    from meva.startup import app_set_for, collector_for, command_or_exit, settings_or_exit

    # the command chooses the apps its process (and the processes it starts) load, and
    # whether the cyclic garbage collector runs
    os.environ["MEVA_APP_SET"] = app_set_for(sys.argv)
    collector_for(sys.argv)

    settings_or_exit()  # a configuration error is one line naming the variable, exit 2
    command_or_exit(sys.argv)  # so is a database that is unreachable or not migrated


if __name__ == "__main__":
    main()
