"""The published OpenAPI says what the API really does (issue 8 §4): errors are declared as
`application/problem+json`, CSV exports as `text/csv`, a body can be refused with 413, no response is
listed twice (the invoice PDF listed "200" twice, a duplicated mapping key the docs page refused), and
the minimum lengths and values the API enforces are in the schema."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def _no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicated keys: {sorted(k for k in keys if keys.count(k) > 1)}"
    return dict(pairs)


# The served document, fetched by the first test that asks for it: building it costs seconds, and it
# depends on the code only. Each test still parses it afresh.
_served: list[bytes] = []


@pytest.fixture
def spec(client):
    if not _served:
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        _served.append(response.content)
    return json.loads(_served[0], object_pairs_hook=_no_duplicates)


def _operations(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_errors_are_declared_as_problem_json(spec):
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status[0] in "45" and response.get("content"):
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_csv_answers_are_declared_as_csv(spec):
    csv = [(path, op) for path, method, op in _operations(spec) if path.endswith(".csv")]
    assert len(csv) >= 3
    for path, operation in csv:
        assert list(operation["responses"]["200"]["content"]) == ["text/csv"], path


def test_every_operation_with_a_body_declares_413_and_every_one_503(spec):
    for path, method, operation in _operations(spec):
        if "requestBody" in operation:
            assert "413" in operation["responses"], (method, path)
        assert "503" in operation["responses"], (method, path)  # core.retry's `busy`


def test_the_invoice_pdf_lists_its_200_once_as_pdf(spec):
    responses = spec["paths"]["/api/v1/billing/invoices/{invoice_id}/pdf"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["application/pdf"]


def test_the_docs_page_renders(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_enforced_minimums_are_in_the_schema(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["TransferIn"]["properties"]["amount"]["minimum"] == 1
    assert schemas["PurchaseIn"]["properties"]["quantity"]["minimum"] == 1
    assert schemas["PurchaseIn"]["properties"]["quantity"]["maximum"] == 10_000_000
    assert schemas["RoleIn"]["properties"]["perms"]["minItems"] == 1
    assert schemas["ApiKeyIn"]["properties"]["perms"]["minItems"] == 1
    assert schemas["SmsSendIn"]["properties"]["text"]["minLength"] == 1
    assert schemas["ConnectorCreateIn"]["properties"]["name"]["pattern"]
    quote = spec["paths"]["/api/v1/credits/quote"]["get"]["parameters"]
    assert [p["schema"].get("minimum") for p in quote if p["name"] == "quantity"] == [1]


def test_uniqueness_is_declared_where_the_api_refuses_repeats(spec, world, client, make_key):
    schemas = spec["components"]["schemas"]
    assert schemas["AccountIn"]["properties"]["custom_columns"]["uniqueItems"] is True
    assert schemas["UserIn"]["properties"]["memberships"]["uniqueItems"] is True
    headers = {"Authorization": f"Bearer {make_key(world.acme)}"}
    column = {"name": "Region", "type": "text"}
    response = client.post(
        "/api/v1/accounts",
        {"name": "Twice", "custom_columns": [column, column]},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422, response.content
