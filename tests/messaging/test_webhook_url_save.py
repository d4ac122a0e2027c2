"""A webhook URL is refused when saved (service and page) if it names a private or loopback host in any
form the resolver accepts, not only at delivery (issue 8 §4): `http://2130706433/` is 127.0.0.1.
KONTOR_WEBHOOK_ALLOW_PRIVATE is on in the suite (the test receivers listen on loopback); these tests
turn it off."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.core.errors import Invalid
from kontor.messaging.delivery import webhooks
from kontor.messaging.models import Webhook

pytestmark = pytest.mark.django_db

PRIVATE = [
    "https://2130706433/hook",  # 127.0.0.1 as one integer
    "https://0x7f000001/hook",  # hex
    "https://0177.0.0.1/hook",  # octal
    "https://0x7f.1/hook",  # short hex
    "https://127.1/hook",  # short dotted
    "https://167772161/hook",  # 10.0.0.1
    "https://0/hook",  # 0.0.0.0
    "https://[::ffff:7f00:1]/hook",  # IPv4-mapped, hex words
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "https://[fe80::1%25eth0]/hook",  # link-local with a zone
    "https://localhost./hook",  # trailing dot
    "https://LOCALHOST/hook",
    "https://printer.local/hook",
    "https://intranet/hook",  # a single label: the provider's own search domain
]


@pytest.fixture
def strict(settings):
    settings.KONTOR_WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_local_hosts_in_every_form_are_refused_at_save(world, strict, url):
    with pytest.raises(Invalid) as refused:
        webhooks.configure_webhook(world.acme.account, actor=None, url=url)
    assert refused.value.fields == {"url": ["The URL must reach a public host, not a private or local address."]}
    assert not Webhook.objects.filter(account=world.acme.account).exists()


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "https://93.184.216.34/hook", "https://[2001:4860:4860::8888]/hook"]
)
def test_public_hosts_are_accepted(world, strict, url):
    assert webhooks.configure_webhook(world.acme.account, actor=None, url=url).url == url


def test_the_page_refuses_an_integer_loopback_address_inline(world, strict, client):
    client.force_login(world.acme.master)
    response = client.post(reverse("messaging:webhooks"), {"url": "https://2130706433/", "active": "on"})
    assert response.status_code == 200
    assert "must reach a public host" in response.content.decode()
    assert not Webhook.objects.filter(account=world.acme.account).exists()
