"""The `kontor` command: Django's manage.py under a name people remember."""

import os
import sys

# These run the demo: on the public demo key unless SECRET_KEY is set (the server and the worker that
# run_demo starts inherit the flag).
DEMO_COMMANDS = {"run_demo", "load_demo"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kontor.settings")
    if len(sys.argv) > 1 and sys.argv[1] in DEMO_COMMANDS:
        os.environ.setdefault("KONTOR_DEMO", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
