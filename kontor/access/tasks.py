from __future__ import annotations

from django_tasks import task

from kontor.core.context import origin


@task()
def password_reset_job(email: str) -> bool:
    from kontor.access.services import send_password_reset

    with origin("job"):
        return send_password_reset(email)
