"""Settings for the processes the crash test starts (`python -m bench crash`): production settings with
the delivery clocks shortened, so that recovery after a kill and the simulator's delivery reports
happen within the run instead of after the production defaults of minutes. Nothing else differs."""

import os

from kontor.settings import *  # noqa: F403

KONTOR_SUBMIT_TIMEOUT_SECONDS = int(os.environ.get("KONTOR_CRASH_SUBMIT_TIMEOUT_SECONDS", "5"))
KONTOR_SIMULATOR_DLR_SECONDS = float(os.environ.get("KONTOR_CRASH_DLR_SECONDS", "0.3"))
