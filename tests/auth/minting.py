"""Platform tokens for each principal kind, minted with a running server's keys from its register.

For tests of endpoints that take a token; the exchange itself is exercised in test_exchange/test_e2e.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tinn.auth import claims as c
from tinn.services import Services

SOPHIE = 1337  # user of party 501337, DAGL of 500000, REGNA/UTINN/MEDL of 500700
SELF_IDENTIFIED = 1004  # SelvRegistrert, party 510004
SYSTEM_USER = "d111dbab-d619-4f15-bf29-58fe570a9ae6"  # for 950474084 / party 500700


def services_of(server: LiveServer) -> Services:
    assert server.services is not None
    return server.services


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _issue(server: LiveServer, claims: dict[str, Any]) -> str:
    return services_of(server).auth.tokens.issue(claims)


def person(server: LiveServer, user_id: int = SOPHIE, *, level: int = 3, scope: str | None = None) -> str:
    user = services_of(server).register.user(user_id)
    assert user is not None and user.party is not None
    claims = c.person_claims(
        user_id=user_id,
        username=user.user_name,
        party_id=user.party_id,
        party_uuid=user.party.party_uuid,
        auth_level=level,
        auth_method="BankID",
        pid=user.party.ssn,
        scope=scope if scope is not None else c.DEFAULT_PERSON_SCOPE,
    )
    return _issue(server, claims)


def self_identified(server: LiveServer, user_id: int = SELF_IDENTIFIED, *, scope: str | None = None) -> str:
    user = services_of(server).register.user(user_id)
    assert user is not None and user.user_name is not None
    claims = c.self_identified_claims(
        user_id=user_id,
        username=user.user_name,
        party_id=user.party_id,
        party_uuid=None,
        scope=scope if scope is not None else c.PORTAL_SCOPE,
    )
    return _issue(server, claims)


def service_owner(server: LiveServer, org: str = "ttd", *, scope: str | None = None) -> str:
    owner = services_of(server).register.service_owner(org)
    assert owner is not None and owner.org_number is not None
    return _issue(server, c.organisation_claims(org_number=owner.org_number, org=org, scope=scope))


def organisation(server: LiveServer, org_number: str = "950474084", *, scope: str | None = None) -> str:
    return _issue(server, c.organisation_claims(org_number=org_number, scope=scope))


def system_user(server: LiveServer, system_user_id: str = SYSTEM_USER, *, scope: str | None = None) -> str:
    found = services_of(server).register.system_user(system_user_id)
    assert found is not None and found.supplier_org_number is not None
    claims = c.system_user_claims(
        system_user_id=found.id,
        system_user_org_number=found.org_number,
        system_id=found.system_id,
        vendor_org_number=found.supplier_org_number,
        scope=scope if scope is not None else c.DEFAULT_ORG_SCOPE,
    )
    return _issue(server, claims)
