"""Which connector carries whose traffic: the provider's connector configurations and the per-account
choice. Changed only by kontor.messaging.services.connectors (audited); read by the registry in
kontor.messaging.connectors."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from kontor.core.models import AccountModel, TimeStamped


class ConnectorKind(models.TextChoices):
    SIMULATOR = "simulator", "Simulator"
    SMPP = "smpp", "SMPP 3.4"
    HTTP = "http", "HTTP provider"


class ResubmitPolicy(models.TextChoices):
    """What recovery does with a message stuck "submitted" (its worker died mid-submit) when the
    connector cannot say whether it got it: one of two risks has to be taken."""

    RESUBMIT = "resubmit", "Submit it again (risk: the recipient gets it twice)"
    FAIL = "fail", "Fail it and return the credits (risk: it is never sent)"


class ConnectorConfig(TimeStamped):
    """One way out to a network. `options` are validated per kind (kontor.messaging.connectors.kinds);
    `secrets` (passwords, tokens) are write-only: pages, the API and the audit log only ever say whether
    each is set. The name is what messages record as their connector and what the DLR callback URL
    carries, so it never changes once created. At most one row is the default; with none, traffic goes
    through settings.KONTOR_CONNECTOR (the simulator unless set)."""

    name = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=ConnectorKind.choices)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    options = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True)
    resubmit_policy = models.CharField(
        max_length=10,
        choices=ResubmitPolicy.choices,
        default=ResubmitPolicy.FAIL,
        help_text="When a message's submission was cut off and the connector cannot tell whether it has it.",
    )

    objects: ClassVar[models.Manager[ConnectorConfig]] = models.Manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "connector"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="connector_one_default"),
            models.CheckConstraint(condition=Q(kind__in=["simulator", "smpp", "http"]), name="connector_kind_known"),
            models.CheckConstraint(
                condition=Q(resubmit_policy__in=["resubmit", "fail"]), name="connector_resubmit_policy_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def secret_state(self) -> dict[str, str]:
        """What may be shown of the secrets: "set" for each one that has a value."""
        return {key: "set" for key, value in sorted((self.secrets or {}).items()) if value}


class AccountRoute(AccountModel):
    """The connector one account's outbound traffic goes through, chosen by provider staff. No row: the
    provider's default connector."""

    connector = models.ForeignKey(ConnectorConfig, on_delete=models.PROTECT, related_name="routes")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account"], name="account_route_one_per_account")]

    def __str__(self) -> str:
        return f"account {self.account_id} → {self.connector_id}"
