"""``Authorizer.decide``: the XACML request built from a principal and the register's roles, the
authentication-level obligations, system users' delegated rights, caching, and random input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_APPS
from tinn.appdef.registry import load_apps
from tinn.auth import claims as c
from tinn.auth.pdp import Authorizer, ResourceRef
from tinn.auth.principal import Principal, PrincipalError
from tinn.auth.xacml import Effect, Enforcement
from tinn.register.loader import DEFAULT_TESTDATA_DIR, load_register
from tinn.settings import BUNDLED_APPS_DIR

APPS = load_apps([BUNDLED_APPS_DIR, SHARED_APPS])
REGISTER = load_register(DEFAULT_TESTDATA_DIR).register
LEVEL = {"RequiredAuthenticationLevel": "2"}


def authorizer() -> Authorizer:
    return Authorizer(APPS, REGISTER)


def person(user_id: int = 1337, level: int = 3) -> Principal:
    user = REGISTER.user(user_id)
    assert user is not None
    return Principal.from_claims(
        c.person_claims(
            user_id=user_id,
            username=user.user_name,
            party_id=user.party_id,
            party_uuid=None,
            auth_level=level,
            auth_method="BankID",
        )
    )


def self_identified() -> Principal:
    return Principal.from_claims(
        c.self_identified_claims(user_id=1004, username="SelvRegistrert", party_id=510004, party_uuid=None)
    )


def service_owner(org: str = "ttd", level: int = 3) -> Principal:
    owner = REGISTER.service_owner(org)
    assert owner is not None and owner.org_number is not None
    claims = c.organisation_claims(org_number=owner.org_number, org=org)
    claims[c.AUTH_LEVEL] = level
    return Principal.from_claims(claims)


def organisation(org_number: str = "950474084") -> Principal:
    return Principal.from_claims(c.organisation_claims(org_number=org_number))


def system_user(system_user_id: str = "d111dbab-d619-4f15-bf29-58fe570a9ae6") -> Principal:
    found = REGISTER.system_user(system_user_id)
    assert found is not None and found.supplier_org_number is not None
    return Principal.from_claims(
        c.system_user_claims(
            system_user_id=found.id,
            system_user_org_number=found.org_number,
            system_id=found.system_id,
            vendor_org_number=found.supplier_org_number,
        )
    )


BASIC = ("ttd", "basic")
RESTRICTED = ("tdd", "contributer-restriction")

# (who, action, app, party, task, authorized, failed obligations)
CASES: list[tuple[Callable[[], Principal], str, tuple[str, str], int, str | None, bool, dict[str, str]]] = [
    # ttd/basic: PRIV and DAGL may read, write, delete and instantiate; ttd may also complete.
    (person, "instantiate", BASIC, 501337, None, True, {}),
    (person, "read", BASIC, 501337, "Task_1", True, {}),
    (person, "delete", BASIC, 501337, None, True, {}),
    (person, "complete", BASIC, 501337, None, False, {}),
    (person, "instantiate", BASIC, 500000, None, True, {}),  # DAGL
    (person, "write", BASIC, 500002, None, True, {}),  # DAGL through the main unit
    (person, "instantiate", BASIC, 500700, None, False, {}),  # only MEDL, REGNA, UTINN
    (person, "read", BASIC, 500600, None, False, {}),  # LEDE
    (person, "read", BASIC, 510001, None, False, {}),  # somebody else
    (lambda: person(level=2), "instantiate", BASIC, 501337, None, True, {}),
    (lambda: person(level=1), "instantiate", BASIC, 501337, None, False, LEVEL),
    (lambda: person(level=1), "instantiate", BASIC, 500700, None, False, {}),  # denied before the level
    (lambda: person(1001), "instantiate", BASIC, 501001, None, True, {}),
    (lambda: person(1002), "instantiate", BASIC, 501000, None, False, {}),  # REGNA only
    (self_identified, "instantiate", BASIC, 510004, None, False, {}),  # SELN is no PRIV
    (service_owner, "read", BASIC, 500700, None, True, {}),
    (service_owner, "complete", BASIC, 510001, None, True, {}),
    (service_owner, "instantiate", BASIC, 500700, None, True, {}),
    (service_owner, "delete", BASIC, 500700, None, False, {}),
    # Below the minimum level (2) an organisation is held to the level for organisations (3).
    (lambda: service_owner(level=2), "read", BASIC, 500700, None, True, {}),
    (
        lambda: service_owner(level=1),
        "read",
        BASIC,
        500700,
        None,
        False,
        {"RequiredAuthenticationLevel": "3"},
    ),
    (lambda: service_owner("skd"), "read", BASIC, 500700, None, False, {}),  # not the app's owner
    (organisation, "read", BASIC, 500700, None, False, {}),  # no role for an organisation
    # System users: the rights delegated to them for their customer's party, whatever the policy.
    (system_user, "read", BASIC, 500700, None, True, {}),
    (system_user, "instantiate", BASIC, 500700, None, True, {}),
    (system_user, "sign", BASIC, 500700, None, True, {}),
    (system_user, "complete", BASIC, 500700, None, False, {}),
    (system_user, "read", BASIC, 501000, None, False, {}),
    (system_user, "read", BASIC, 501337, None, False, {}),
    (lambda: system_user("5b0f2f7e-2b5f-4a34-9a4e-6f7c1d0e8a21"), "write", BASIC, 501000, None, True, {}),
    (lambda: system_user("5b0f2f7e-2b5f-4a34-9a4e-6f7c1d0e8a21"), "delete", BASIC, 501000, None, False, {}),
    (lambda: system_user("5b0f2f7e-2b5f-4a34-9a4e-6f7c1d0e8a21"), "read", BASIC, 501001, None, False, {}),
    # tdd/contributer-restriction: REGNA or DAGL instantiate; read and write in Task_1; DAGL signs.
    (person, "instantiate", RESTRICTED, 500700, None, True, {}),
    (person, "read", RESTRICTED, 500700, "Task_1", True, {}),
    (person, "write", RESTRICTED, 500700, "Task_1", True, {}),
    (person, "read", RESTRICTED, 500700, None, False, {}),  # the rule needs the task
    (person, "read", RESTRICTED, 500700, "Task_2", False, {}),
    (person, "sign", RESTRICTED, 500000, "signing", True, {}),
    (person, "sign", RESTRICTED, 500700, "signing", False, {}),  # REGNA is not DAGL
    (lambda: person(1006), "instantiate", RESTRICTED, 510006, None, False, {}),
    # Rule 4 names an organisation number (the legacy subject attribute) for write.
    (lambda: organisation("405003309"), "write", RESTRICTED, 500700, "Task_1", True, {}),
    (lambda: organisation("405003309"), "read", RESTRICTED, 500700, "Task_1", False, {}),
    (organisation, "write", RESTRICTED, 500700, "Task_1", False, {}),
    (service_owner, "read", RESTRICTED, 500700, None, False, {}),  # ttd is not tdd
]


@pytest.mark.parametrize(
    ("who", "action", "app", "party_id", "task", "authorized", "obligations"),
    CASES,
    ids=[f"{i}-{case[1]}-{case[2][1]}-{case[3]}" for i, case in enumerate(CASES)],
)
def test_decide(
    who: Callable[[], Principal],
    action: str,
    app: tuple[str, str],
    party_id: int,
    task: str | None,
    authorized: bool,
    obligations: dict[str, str],
) -> None:
    resource = ResourceRef(*app, party_id=party_id, instance_id=f"{party_id}/guid", task=task)
    enforcement = authorizer().decide(who(), action, resource)
    assert enforcement.authorized is authorized
    assert dict(enforcement.failed_obligations) == obligations
    assert authorizer().authorize(who(), action, resource) is authorized


def test_unknown_app_and_app_without_policy_deny() -> None:
    assert not authorizer().authorize(service_owner(), "read", ResourceRef("ttd", "nope", 500700))
    assert (
        authorizer().raw_decision(person(), "read", ResourceRef("ttd", "nope", 1)).effect
        is Effect.NOT_APPLICABLE
    )


def test_raw_decision_carries_the_level_obligations() -> None:
    decision = authorizer().raw_decision(service_owner(), "read", ResourceRef(*BASIC, 500700))
    assert decision.effect is Effect.PERMIT
    levels = {
        key: value for obligation in decision.obligations for key, value in obligation.attributes.items()
    }
    assert levels == {
        "urn:altinn:minimum-authenticationlevel": "2",
        "urn:altinn:minimum-authenticationlevel-org": "3",
    }


def test_without_a_party_only_role_free_rules_apply() -> None:
    assert authorizer().authorize(service_owner(), "read", ResourceRef(*BASIC))
    assert not authorizer().authorize(person(), "read", ResourceRef(*BASIC))


def test_roles_are_the_registers() -> None:
    pdp = authorizer()
    assert "DAGL" in pdp.roles(person(), 500002)
    assert pdp.roles(person(), None) == frozenset()
    assert pdp.roles(organisation(), 500700) == frozenset()
    assert "instantiate" in pdp.roles(system_user(), 500700)


def test_authorize_any() -> None:
    pdp = authorizer()
    assert pdp.authorize_any(person(), ["complete", "write"], ResourceRef(*BASIC, 501337))
    assert not pdp.authorize_any(person(), ["complete", "confirm"], ResourceRef(*BASIC, 501337))


def test_decisions_are_cached_per_caller_and_resource() -> None:
    pdp = authorizer()
    sophie = person()
    resource = ResourceRef(*BASIC, 501337)
    first = pdp.decide(sophie, "read", resource)
    assert pdp.decide(sophie, "read", resource) is first
    # Another token of the same person is another cache entry, with the same answer.
    other = pdp.decide(person(), "read", resource)
    assert other == first
    # The level is part of the key: a cached permit at level 3 is no permit at level 1.
    assert not pdp.decide(person(level=1), "read", resource).authorized


def test_a_tiny_cache_still_decides_correctly() -> None:
    pdp = Authorizer(APPS, REGISTER, cache_size=1)
    for _ in range(3):
        assert pdp.authorize(person(), "read", ResourceRef(*BASIC, 501337))
        assert not pdp.authorize(person(), "read", ResourceRef(*BASIC, 500700))


# --- random callers ------------------------------------------------------------------------------

_ids = st.one_of(
    st.integers(min_value=-5, max_value=600_000),
    st.sampled_from([501337, 500000, 500700, 510004, 501000]),
    st.text(max_size=8),
)
_org_numbers = st.one_of(
    st.sampled_from(["950474084", "405003309", "310000019", "913312465"]), st.text(max_size=12)
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
_details = st.one_of(
    _scalars,
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from([c.SYSTEM_USER_TYPE, "other"])},
            optional={
                "systemuser_id": st.one_of(
                    st.lists(
                        st.sampled_from(["d111dbab-d619-4f15-bf29-58fe570a9ae6", "not-a-uuid"]), max_size=2
                    ),
                    st.uuids().map(str),
                    _scalars,
                ),
                "systemuser_org": st.one_of(
                    _org_numbers.map(lambda n: {"authority": c.ORG_AUTHORITY, "ID": f"0192:{n}"}), _scalars
                ),
                "system_id": st.one_of(st.just("913312465_sbs"), _scalars),
            },
        ),
        max_size=2,
    ),
)
_claims = st.fixed_dictionaries(
    {},
    optional={
        c.USER_ID: _ids,
        c.PARTY_ID: _ids,
        c.AUTH_LEVEL: st.one_of(st.integers(min_value=-1, max_value=5), st.text(max_size=3)),
        c.ORG: st.one_of(st.sampled_from(["ttd", "tdd", "skd", ""]), _scalars),
        c.ORG_NUMBER: st.one_of(_org_numbers, _scalars),
        c.AUTHORIZATION_DETAILS: _details,
        c.SCOPE: st.one_of(
            st.sampled_from(["altinn:instances.read", "altinn:serviceowner/instances.read"]), _scalars
        ),
        c.CONSUMER: st.one_of(_org_numbers.map(c.consumer), _scalars),
        "jti": _scalars,
        "urn:altinn:rolecode": st.one_of(
            st.sampled_from(["DAGL", "PRIV"]), st.lists(st.text(max_size=5), max_size=3)
        ),
        "urn:altinn:person:uuid": st.one_of(st.uuids().map(str), _scalars),
        "urn:altinn:organization:identifier-no": _org_numbers,
        "urn:altinn:resource": _scalars,
        "urn:custom": st.one_of(
            _scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=3), _scalars)
        ),
    },
)
_resources = st.builds(
    ResourceRef,
    org=st.sampled_from(["ttd", "tdd", "nope"]),
    app=st.sampled_from(["basic", "contributer-restriction", "soknad", "bekreftelse", "task-action", "x"]),
    party_id=st.one_of(st.none(), st.sampled_from([501337, 500000, 500002, 500700, 510004, 501000, 0, -1])),
    instance_id=st.one_of(st.none(), st.just("500700/8b8c8f1a-0000-4000-8000-000000000000")),
    task=st.one_of(st.none(), st.sampled_from(["Task_1", "Task_2", "signing", ""])),
    end_event=st.one_of(st.none(), st.just("EndEvent_1")),
)
_actions = st.one_of(
    st.sampled_from(["read", "write", "instantiate", "delete", "complete", "sign", "confirm", "pay"]),
    st.text(max_size=10),
)

_PDP = authorizer()


@settings(max_examples=400, deadline=None)
@given(claims=_claims, resource=_resources, action=_actions)
def test_random_claims_never_crash_decide(claims: dict[str, Any], resource: ResourceRef, action: str) -> None:
    try:
        principal = Principal.from_claims(claims)
    except PrincipalError:
        return
    enforcement = _PDP.decide(principal, action, resource)
    assert isinstance(enforcement, Enforcement)
    # Cached or fresh, the answer is the same.
    assert Authorizer(APPS, REGISTER).decide(principal, action, resource) == enforcement
