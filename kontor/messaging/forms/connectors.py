"""Staff forms for connectors: one form per kind, built from its options and secrets (connectors.kinds).
Secret fields never show a value: blank keeps the stored one, "clear" removes it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django import forms
from django.utils.html import escape

from kontor.messaging.connectors import kinds
from kontor.messaging.models import ConnectorConfig, ResubmitPolicy
from kontor.web.lists import form_errors_from

FIXED = ("name", "description", "enabled", "is_default", "resubmit_policy")


def map_to_lines(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return "\n".join(f"{k} = {v}" for k, v in value.items())


def lines_to_map(text: str) -> dict[str, str]:
    """ "name = value" per line (blank lines ignored); ValidationError naming the line otherwise."""
    out: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise forms.ValidationError(f"Line {number}: write “name = value”.")
        out[name.strip()] = value.strip()
    return out


def _option_field(option: kinds.Option) -> forms.Field:
    placeholder = {} if option.default in (None, "") else {"placeholder": str(option.default)}
    # Help texts are rendered as HTML (web/form_fields.html); ours mention <token> and <id> literally.
    common: dict[str, Any] = {"label": option.label, "required": option.required, "help_text": escape(option.help)}
    if option.type == "int":
        return forms.IntegerField(
            min_value=None if option.minimum is None else int(option.minimum),
            max_value=None if option.maximum is None else int(option.maximum),
            widget=forms.NumberInput(attrs=placeholder),
            **common,
        )
    if option.type == "number":
        return forms.FloatField(
            min_value=option.minimum, max_value=option.maximum, widget=forms.NumberInput(attrs=placeholder), **common
        )
    if option.type == "bool":
        return forms.BooleanField(**{**common, "required": False}, initial=bool(option.default))
    if option.type == "choice":
        choices = [("", f"Default ({option.default})")] if not option.required else []
        return forms.ChoiceField(choices=choices + [(c, c) for c in option.choices], **common)
    if option.type == "map":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    return forms.CharField(max_length=option.max_length, widget=forms.TextInput(attrs=placeholder), **common)


class ConnectorForm(forms.Form):
    """Add (config None) or edit a connector of `kind`."""

    name = forms.CharField(
        max_length=40,
        help_text="Lower-case letters, digits and dashes. Messages record it, and the DLR callback URL carries "
        "it, so it cannot be changed later.",
    )
    description = forms.CharField(max_length=200, required=False)
    enabled = forms.BooleanField(required=False, initial=True, help_text="Disabled: its messages wait in the queue.")
    is_default = forms.BooleanField(
        required=False, label="Default connector", help_text="For every account without a connector of its own."
    )
    resubmit_policy = forms.ChoiceField(
        choices=ResubmitPolicy.choices,
        initial=ResubmitPolicy.FAIL,
        required=False,  # left out: unchanged (a new connector: fail)
        label="When a submission was cut off",
        help_text="A worker that dies while handing a message over leaves it unknown whether the connector got "
        "it. Recovery asks the connector first (SMPP query_sm, the HTTP lookup URL); when it cannot tell, this "
        "decides which risk is taken.",
    )

    def __init__(self, *args: Any, kind: str, config: ConnectorConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind_spec = kinds.spec(kind)
        self.config = config
        if config is not None:
            del self.fields["name"]
            self.initial.update(
                description=config.description,
                enabled=config.enabled,
                is_default=config.is_default,
                resubmit_policy=config.resubmit_policy,
            )
        for option in self.kind_spec.options:
            self.fields[option.name] = _option_field(option)
            if config is not None and option.name in (config.options or {}):
                value = config.options[option.name]
                self.initial[option.name] = map_to_lines(value) if option.type == "map" else value
        state = config.secret_state() if config is not None else {}
        for secret in self.kind_spec.secrets:
            is_set = secret.name in state
            self.fields[secret.name] = forms.CharField(
                label=f"{secret.label} ({'set' if is_set else 'not set'})",
                required=False,
                max_length=secret.max_length,
                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
                help_text=escape(
                    (secret.help + " " if secret.help else "")
                    + ("Leave blank to keep it." if is_set else "Leave blank to leave it unset.")
                ),
            )
            if is_set:
                self.fields[f"clear_{secret.name}"] = forms.BooleanField(
                    required=False, label=f"Clear the {secret.label.lower()}"
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for option in self.kind_spec.options:
            if option.type == "map" and option.name in data:
                try:
                    data[option.name] = lines_to_map(data[option.name])
                except forms.ValidationError as exc:
                    self.add_error(option.name, exc)
        return data

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for option in self.kind_spec.options:
            value = self.cleaned_data.get(option.name)
            if value not in (None, "", {}):
                out[option.name] = value
        return out

    def secret_changes(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for secret in self.kind_spec.secrets:
            if self.cleaned_data.get(f"clear_{secret.name}"):
                out[secret.name] = None
            elif self.cleaned_data.get(secret.name):
                out[secret.name] = self.cleaned_data[secret.name]
        return out

    def place_errors(self, exc: Any) -> None:
        """A service's field errors (`options.url`, `secrets.auth_token`) beside this form's fields."""
        fields = {
            key.split(".", 1)[1] if key.startswith(("options.", "secrets.")) else key: messages
            for key, messages in (getattr(exc, "fields", {}) or {}).items()
        }
        form_errors_from(self, SimpleNamespace(fields=fields, message=getattr(exc, "message", str(exc))))


class RouteForm(forms.Form):
    """One account's connector; blank: the provider's default."""

    account = forms.IntegerField(widget=forms.HiddenInput)
    connector = forms.ChoiceField(required=False, label="Connector")

    def __init__(self, *args: Any, connectors: list[ConnectorConfig], default_label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["connector"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", default_label)] + [
            (c.name, f"{c.name} ({c.get_kind_display()}{'' if c.enabled else ', disabled'})") for c in connectors
        ]
