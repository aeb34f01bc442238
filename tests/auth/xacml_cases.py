"""Builders, a naive reference evaluator and hand-written decision tables for the XACML tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tinn.auth.xacml import (
    ACTION_CATEGORY,
    ACTION_ID,
    ENVIRONMENT_CATEGORY,
    RESOURCE_CATEGORY,
    SUBJECT_CATEGORY,
    AllOf,
    AnyOf,
    AttributeAssignment,
    AttributeDesignator,
    Effect,
    Match,
    ObligationExpression,
    Policy,
    Rule,
    Target,
    XacmlRequest,
    parse_policy,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
APPS = SHARED / "apps"
LOCALTEST_POLICIES = (
    SHARED / "conformance" / "localtest-testdata" / "authorization" / "resources" / "policies"
)

STRING = "http://www.w3.org/2001/XMLSchema#string"
STRING_EQUAL = "urn:oasis:names:tc:xacml:1.0:function:string-equal"
STRING_EQUAL_IGNORE_CASE = "urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case"
DENY_OVERRIDES = "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-overrides"
PERMIT_OVERRIDES = "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:permit-overrides"
FIRST_APPLICABLE = "urn:oasis:names:tc:xacml:1.0:rule-combining-algorithm:first-applicable"
DENY_UNLESS_PERMIT = "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-unless-permit"
PERMIT_UNLESS_DENY = "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:permit-unless-deny"

ROLE = "urn:altinn:rolecode"
ORG = "urn:altinn:org"
APP = "urn:altinn:app"
TASK = "urn:altinn:task"
END_EVENT = "urn:altinn:end-event"
PARTY = "urn:altinn:partyid"
USER = "urn:altinn:userid"
INSTANCE = "urn:altinn:instance-id"

CATEGORY_NAMES = {
    SUBJECT_CATEGORY: "subject",
    RESOURCE_CATEGORY: "resource",
    ACTION_CATEGORY: "action",
    ENVIRONMENT_CATEGORY: "environment",
}


def app_policy_paths() -> list[Path]:
    return sorted(APPS.glob("*/*/config/authorization/policy.xml"))


def load_app_policy(path: Path) -> tuple[str, str, Policy]:
    org, app = path.parts[-5], path.parts[-4]
    return org, app, parse_policy(path.read_bytes(), source=str(path), org=org, app=app)


def load(org: str, app: str) -> Policy:
    return load_app_policy(APPS / org / app / "config" / "authorization" / "policy.xml")[2]


# ---------------------------------------------------------------------------------------------
# Model builders


def match(
    category: str,
    attribute_id: str,
    value: str,
    function: str = STRING_EQUAL,
    *,
    must_be_present: bool = False,
    data_type: str = STRING,
) -> Match:
    return Match(
        function, value, AttributeDesignator(category, attribute_id, data_type, must_be_present), data_type
    )


def target(*any_ofs: Sequence[Sequence[Match]]) -> Target:
    return Target(tuple(AnyOf(tuple(AllOf(tuple(all_of)) for all_of in any_of)) for any_of in any_ofs))


def obligation(obligation_id: str, on: Effect, **values: str) -> ObligationExpression:
    return ObligationExpression(
        obligation_id,
        on,
        tuple(AttributeAssignment(f"urn:test:{k}", v, f"urn:test:{k}") for k, v in values.items()),
    )


def policy(
    *rules: Rule,
    algorithm: str = DENY_OVERRIDES,
    target: Target = Target(),
    obligations: Sequence[ObligationExpression] = (),
    advice: Sequence[ObligationExpression] = (),
) -> Policy:
    return Policy(
        "urn:test:policy",
        algorithm,
        rules,
        target=target,
        obligations=tuple(obligations),
        advice=tuple(advice),
    )


def request(
    action: str = "read",
    subject: Mapping[str, Sequence[str]] | None = None,
    resource: Mapping[str, Sequence[str]] | None = None,
    environment: Mapping[str, Sequence[str]] | None = None,
) -> XacmlRequest:
    return XacmlRequest(subject or {}, action, resource or {}, environment or {})


# ---------------------------------------------------------------------------------------------
# A deliberately naive evaluator, straight from the specification's wording, for differential tests.
# It covers what the shared policies use: string (ignore-case) equality, MustBePresent=false.


def reference_bag(req: XacmlRequest, designator: AttributeDesignator) -> list[str]:
    if designator.category == ACTION_CATEGORY:
        return [req.action] if designator.attribute_id == ACTION_ID else []
    source = {
        SUBJECT_CATEGORY: req.subject,
        RESOURCE_CATEGORY: req.resource,
        ENVIRONMENT_CATEGORY: req.environment,
    }[designator.category]
    return list(source.get(designator.attribute_id, []))


def reference_match(m: Match, req: XacmlRequest) -> bool:
    assert not m.designator.must_be_present
    values = reference_bag(req, m.designator)
    if m.function == STRING_EQUAL:
        return any(v == m.value for v in values)
    if m.function == STRING_EQUAL_IGNORE_CASE:
        return any(v.lower() == m.value.lower() for v in values)
    raise AssertionError(f"reference evaluator does not know {m.function}")


def reference_target(t: Target, req: XacmlRequest) -> bool:
    return all(any(all(reference_match(m, req) for m in al.matches) for al in ao.all_of) for ao in t.any_of)


# ---------------------------------------------------------------------------------------------
# Requests that satisfy a rule


@dataclass
class RequestParts:
    action: str | None = None
    subject: dict[str, list[str]] = field(default_factory=dict)
    resource: dict[str, list[str]] = field(default_factory=dict)
    environment: dict[str, list[str]] = field(default_factory=dict)

    def add(self, m: Match, *, flip_case: bool) -> None:
        value = m.value
        if flip_case and m.function == STRING_EQUAL_IGNORE_CASE:
            # Exercise the ignore-case comparison instead of sending the policy's spelling.
            value = value.swapcase()
        category = m.designator.category
        if category == ACTION_CATEGORY:
            assert m.designator.attribute_id == ACTION_ID
            assert self.action in (None, value), "an AllOf choice demanding two actions"
            self.action = value
            return
        bags = {SUBJECT_CATEGORY: self.subject, RESOURCE_CATEGORY: self.resource}.get(
            category, self.environment
        )
        bag = bags.setdefault(m.designator.attribute_id, [])
        if value not in bag:
            bag.append(value)


# Attributes Altinn's PEP always sends that no shared policy tests: a satisfying request carries them.
NOISE_SUBJECT = {USER: ["1337"], PARTY: ["501337"], "urn:altinn:authlevel": ["2"]}
NOISE_RESOURCE = {PARTY: ["501337"], INSTANCE: ["501337/0fc98a23-fe31-4ef5-8fb9-dd3f479354ef"]}


def satisfying_requests(rule: Rule, *, flip_case: bool = True) -> Iterator[tuple[str, XacmlRequest]]:
    """One request per combination of AllOf choices in the rule's AnyOfs, each meeting the target."""
    choices = [ao.all_of for ao in rule.target.any_of]
    for combo in itertools.product(*choices):
        parts = RequestParts()
        for all_of in combo:
            for m in all_of.matches:
                parts.add(m, flip_case=flip_case)
        assert parts.action is not None, f"rule {rule.id} names no action"
        subject = {**NOISE_SUBJECT, **parts.subject}
        resource = {**NOISE_RESOURCE, **parts.resource}
        label = " / ".join(
            ", ".join(
                f"{CATEGORY_NAMES[m.designator.category]}.{m.designator.attribute_id}={m.value}"
                for m in a.matches
            )
            for a in combo
        )
        yield label, XacmlRequest(subject, parts.action, resource, parts.environment)


# ---------------------------------------------------------------------------------------------
# Hand-written expectations

P = Effect.PERMIT
NA = Effect.NOT_APPLICABLE


def user(*roles: str) -> dict[str, list[str]]:
    return {USER: ["1337"], PARTY: ["501337"], ROLE: list(roles)}


def service_owner(org: str) -> dict[str, list[str]]:
    return {ORG: [org], "urn:altinn:organization:identifier-no": ["991825827"]}


def resource(
    org: str, app: str, *, task: str | None = None, end_event: str | None = None
) -> dict[str, list[str]]:
    attributes = {
        ORG: [org],
        APP: [app],
        PARTY: ["501337"],
        INSTANCE: ["501337/6a2f0c05-8bb4-4cbb-9a1a-0ee3e85e5e4e"],
    }
    if task is not None:
        attributes[TASK] = [task]
    if end_event is not None:
        attributes[END_EVENT] = [end_event]
    return attributes


@dataclass(frozen=True)
class Case:
    name: str
    subject: dict[str, list[str]]
    action: str
    resource: dict[str, list[str]]
    expected: Effect

    def request(self) -> XacmlRequest:
        return XacmlRequest(self.subject, self.action, self.resource)


BASIC = resource("ttd", "basic", task="Task_1")
BASIC_CASES = [
    *(Case(f"PRIV may {a}", user("PRIV"), a, BASIC, P) for a in ("instantiate", "read", "write", "delete")),
    *(Case(f"DAGL may {a}", user("DAGL"), a, BASIC, P) for a in ("instantiate", "read", "write", "delete")),
    Case("role codes compare ignoring case", user("priv"), "read", BASIC, P),
    Case("one matching role among many is enough", user("REGNA", "UTINN", "DAGL"), "write", BASIC, P),
    Case("actions compare ignoring case in ttd/basic", user("PRIV"), "Instantiate", BASIC, P),
    Case("PRIV may not complete", user("PRIV"), "complete", BASIC, NA),
    Case("PRIV may not sign (no rule names sign)", user("PRIV"), "sign", BASIC, NA),
    Case("REGNA has no rule in ttd/basic", user("REGNA"), "read", BASIC, NA),
    Case("no roles at all", user(), "read", BASIC, NA),
    *(
        Case(f"org ttd may {a}", service_owner("ttd"), a, BASIC, P)
        for a in ("instantiate", "read", "write", "complete")
    ),
    Case("the owning org compares ignoring case", service_owner("TTD"), "complete", BASIC, P),
    Case("org ttd may not delete", service_owner("ttd"), "delete", BASIC, NA),
    Case("an unrelated org may not read", service_owner("skd"), "read", BASIC, NA),
    Case("an unrelated org may not complete", service_owner("skd"), "complete", BASIC, NA),
    Case("rules apply in any state: no task", user("PRIV"), "write", resource("ttd", "basic"), P),
    Case(
        "rules apply in any state: ended",
        user("PRIV"),
        "read",
        resource("ttd", "basic", end_event="EndEvent_1"),
        P,
    ),
    Case("another app of the same org", user("PRIV"), "read", resource("ttd", "basic2", task="Task_1"), NA),
    Case(
        "the same app name under another org",
        user("PRIV"),
        "read",
        resource("skd", "basic", task="Task_1"),
        NA,
    ),
    Case(
        "resource org is compared exactly", user("PRIV"), "read", resource("TTD", "basic", task="Task_1"), NA
    ),
    Case("resource without org/app", user("PRIV"), "read", {PARTY: ["501337"]}, NA),
    Case("unknown action", user("PRIV"), "fly", BASIC, NA),
]

CR = "contributer-restriction"
CONTRIBUTER_RESTRICTION_CASES = [
    Case("REGNA may instantiate", user("REGNA"), "instantiate", resource("tdd", CR), P),
    Case("DAGL may instantiate", user("DAGL"), "instantiate", resource("tdd", CR), P),
    Case("org tdd may instantiate", service_owner("tdd"), "instantiate", resource("tdd", CR), P),
    Case(
        "instantiate: subject org ignoring case", service_owner("TDD"), "instantiate", resource("tdd", CR), P
    ),
    Case("PRIV may not instantiate", user("PRIV"), "instantiate", resource("tdd", CR), NA),
    Case("REGNA may read in Task_1", user("REGNA"), "read", resource("tdd", CR, task="Task_1"), P),
    Case("DAGL may write in Task_1", user("DAGL"), "write", resource("tdd", CR, task="Task_1"), P),
    Case("REGNA may not read in signing", user("REGNA"), "read", resource("tdd", CR, task="signing"), NA),
    Case(
        "REGNA may not read after the end",
        user("REGNA"),
        "read",
        resource("tdd", CR, end_event="EndEvent_1"),
        NA,
    ),
    Case("REGNA may not read without a task", user("REGNA"), "read", resource("tdd", CR), NA),
    Case("read in Task_1 is case-sensitive", user("REGNA"), "READ", resource("tdd", CR, task="Task_1"), NA),
    Case("task ids are case-sensitive", user("REGNA"), "read", resource("tdd", CR, task="task_1"), NA),
    Case("DAGL may sign in signing", user("DAGL"), "sign", resource("tdd", CR, task="signing"), P),
    Case("REGNA may not sign", user("REGNA"), "sign", resource("tdd", CR, task="signing"), NA),
    Case("DAGL may not sign in Task_1", user("DAGL"), "sign", resource("tdd", CR, task="Task_1"), NA),
    Case("DAGL may not write in signing", user("DAGL"), "write", resource("tdd", CR, task="signing"), NA),
    Case(
        "org tdd may read in any state", service_owner("tdd"), "read", resource("tdd", CR, task="signing"), P
    ),
    Case(
        "org tdd custom read action, any case",
        service_owner("tdd"),
        "CUSTOMREADACTION",
        resource("tdd", CR),
        P,
    ),
    Case("org tdd: read is string-equal", service_owner("tdd"), "Read", resource("tdd", CR), NA),
    Case(
        "org tdd: subject org is string-equal for read", service_owner("TDD"), "read", resource("tdd", CR), NA
    ),
    Case(
        "org tdd may write in any state",
        service_owner("tdd"),
        "write",
        resource("tdd", CR, end_event="EndEvent_1"),
        P,
    ),
    Case(
        "org number 405003309 may write",
        {"urn:altinn:organizationnumber": ["405003309"]},
        "write",
        resource("tdd", CR, task="Task_1"),
        P,
    ),
    Case(
        "org number 405003309 may not read",
        {"urn:altinn:organizationnumber": ["405003309"]},
        "read",
        resource("tdd", CR, task="Task_1"),
        NA,
    ),
    Case(
        "org tdd may complete at the end",
        service_owner("tdd"),
        "complete",
        resource("tdd", CR, end_event="EndEvent_1"),
        P,
    ),
    Case(
        "org tdd may not complete in a task",
        service_owner("tdd"),
        "complete",
        resource("tdd", CR, task="Task_1"),
        NA,
    ),
    Case("users may not complete", user("DAGL"), "complete", resource("tdd", CR, end_event="EndEvent_1"), NA),
    Case("nobody may delete", service_owner("tdd"), "delete", resource("tdd", CR), NA),
    Case("DAGL may not delete", user("DAGL"), "delete", resource("tdd", CR, task="Task_1"), NA),
    Case("an unrelated org may not read", service_owner("ttd"), "read", resource("tdd", CR), NA),
    Case("an unrelated org may not write", service_owner("ttd"), "write", resource("tdd", CR), NA),
    Case("another app", user("REGNA"), "read", resource("tdd", "permissive-app", task="Task_1"), NA),
]
