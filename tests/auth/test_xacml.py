"""The XACML policy decision point: parser, evaluator, combining algorithms, enforcement."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth import xacml_cases as cases
from tests.auth.xacml_cases import (
    ACTION_CATEGORY,
    DENY_OVERRIDES,
    DENY_UNLESS_PERMIT,
    FIRST_APPLICABLE,
    ORG,
    PERMIT_OVERRIDES,
    PERMIT_UNLESS_DENY,
    RESOURCE_CATEGORY,
    ROLE,
    STRING_EQUAL,
    STRING_EQUAL_IGNORE_CASE,
    SUBJECT_CATEGORY,
    TASK,
    match,
    obligation,
    policy,
    request,
    target,
)
from tinn.auth.xacml import (
    ACTION_ID,
    ENVIRONMENT_CATEGORY,
    MINIMUM_AUTHENTICATION_LEVEL,
    MINIMUM_AUTHENTICATION_LEVEL_ORG,
    STATUS_MISSING_ATTRIBUTE,
    STATUS_OK,
    SUPPORTED_COMBINING_ALGORITHMS,
    AttributeAssignment,
    Decision,
    Effect,
    Enforcement,
    Obligation,
    ObligationExpression,
    Policy,
    PolicyError,
    Rule,
    XacmlRequest,
    enforce,
    enforce_detailed,
    evaluate,
    evaluate_actions,
    parse_policy,
    required_authentication_level,
    required_authentication_level_org,
)

APP_POLICIES = cases.app_policy_paths()
NS = "urn:oasis:names:tc:xacml:3.0:core:schema:wd-17"
F1 = "urn:oasis:names:tc:xacml:1.0:function:"
F3 = "urn:oasis:names:tc:xacml:3.0:function:"
XS = "http://www.w3.org/2001/XMLSchema#"


def _rel(path: Path) -> str:
    return str(path.relative_to(cases.APPS))


def test_every_shared_app_has_a_policy() -> None:
    assert len(APP_POLICIES) == len(list(cases.APPS.glob("*/*/config/applicationmetadata.json"))) == 8


# ---------------------------------------------------------------------------------------------
# Every shared policy: a request built to satisfy each rule is permitted, variations of it are not


def _rules() -> list[tuple[Path, int]]:
    return [(path, i) for path in APP_POLICIES for i in range(len(cases.load_app_policy(path)[2].rules))]


@pytest.mark.parametrize(
    ("path", "index"), _rules(), ids=lambda v: _rel(v) if isinstance(v, Path) else f"rule{v}"
)
def test_each_rule_of_each_shared_policy(path: Path, index: int) -> None:
    _, app, pol = cases.load_app_policy(path)
    rule = pol.rules[index]
    alone = policy(rule)
    satisfied = list(cases.satisfying_requests(rule))
    assert satisfied
    for label, req in satisfied:
        where = f"{_rel(path)} rule {rule.id} [{label}] action {req.action}"
        # The rule on its own permits exactly this, and so does the whole policy, with its obligations.
        assert evaluate(alone, req).effect is Effect.PERMIT, where
        decision = evaluate(pol, req)
        assert decision.effect is Effect.PERMIT, where
        assert rule.id in decision.rule_ids, where
        assert decision.obligations == tuple(
            Obligation(o.id, {a.category or a.attribute_id: a.value for a in o.assignments}, o.assignments)
            for o in pol.obligations
        ), where

        # Wrong action: no rule of any shared policy names it.
        other = dataclasses.replace(req, action=f"not-{req.action}")
        assert evaluate(alone, other).effect is Effect.NOT_APPLICABLE, where
        assert evaluate(pol, other).effect is Effect.NOT_APPLICABLE, where

        # Wrong subject: an identity with a role and org no rule names.
        stranger = dataclasses.replace(
            req,
            subject={
                ROLE: ["UTINN"],
                ORG: ["skd"],
                "urn:altinn:userid": ["999"],
                "urn:altinn:partyid": ["500999"],
            },
        )
        assert evaluate(alone, stranger).effect is Effect.NOT_APPLICABLE, where
        assert evaluate(pol, stranger).effect is Effect.NOT_APPLICABLE, where

        # Wrong org, wrong app: every rule is bound to its own app.
        for attribute, wrong in ((ORG, "skd"), (cases.APP, f"{app}-other")):
            moved = dataclasses.replace(req, resource={**req.resource, attribute: [wrong]})
            assert evaluate(alone, moved).effect is Effect.NOT_APPLICABLE, f"{where}: {attribute}={wrong}"
            assert evaluate(pol, moved).effect is Effect.NOT_APPLICABLE, f"{where}: {attribute}={wrong}"

        # Wrong task / end event: a rule bound to a state applies only in that state.
        for attribute in (TASK, cases.END_EVENT):
            if attribute in req.resource:
                moved = dataclasses.replace(req, resource={**req.resource, attribute: ["Task_Elsewhere"]})
                assert evaluate(alone, moved).effect is Effect.NOT_APPLICABLE, f"{where}: {attribute} moved"
                gone = dataclasses.replace(
                    req, resource={k: v for k, v in req.resource.items() if k != attribute}
                )
                assert evaluate(alone, gone).effect is Effect.NOT_APPLICABLE, f"{where}: no {attribute}"


@pytest.mark.parametrize("path", APP_POLICIES, ids=_rel)
def test_shared_policies_are_permit_only_deny_overrides_with_an_authentication_level(path: Path) -> None:
    _, _, pol = cases.load_app_policy(path)
    assert pol.rule_combining_algorithm == DENY_OVERRIDES
    assert {r.effect for r in pol.rules} == {Effect.PERMIT}
    assert not pol.target.any_of
    permit = evaluate(pol, next(cases.satisfying_requests(pol.rules[0]))[1])
    assert permit.permit
    assert required_authentication_level(permit) in (0, 1, 2)


def test_shared_policies_use_only_string_equality_and_the_four_categories() -> None:
    functions: set[str] = set()
    categories: set[str] = set()
    for path in APP_POLICIES:
        for rule in cases.load_app_policy(path)[2].rules:
            for m in rule.target.matches():
                functions.add(m.function)
                categories.add(m.designator.category)
                assert not m.designator.must_be_present
    assert functions == {STRING_EQUAL, STRING_EQUAL_IGNORE_CASE}
    assert categories == {SUBJECT_CATEGORY, RESOURCE_CATEGORY, ACTION_CATEGORY}


def test_localtest_resource_policies_parse() -> None:
    paths = sorted(cases.LOCALTEST_POLICIES.glob("*.xml"))
    assert paths
    for path in paths:
        pol = parse_policy(path.read_bytes(), source=path.name)
        assert pol.rules
        assert pol.actions


# ---------------------------------------------------------------------------------------------
# Hand-written expectations


@pytest.mark.parametrize("case", cases.BASIC_CASES, ids=lambda c: c.name)
def test_ttd_basic(case: cases.Case) -> None:
    assert evaluate(cases.load("ttd", "basic"), case.request()).effect is case.expected


@pytest.mark.parametrize("case", cases.CONTRIBUTER_RESTRICTION_CASES, ids=lambda c: c.name)
def test_tdd_contributer_restriction(case: cases.Case) -> None:
    assert evaluate(cases.load("tdd", cases.CR), case.request()).effect is case.expected


def test_ttd_basic_obligations() -> None:
    decision = evaluate(cases.load("ttd", "basic"), cases.BASIC_CASES[0].request())
    assert decision.permit
    assert [o.id for o in decision.obligations] == [
        "urn:altinn:obligation:authenticationLevel1",
        "urn:altinn:obligation:authenticationLevel2",
    ]
    assert decision.obligations[0].attributes == {MINIMUM_AUTHENTICATION_LEVEL: "2"}
    assert decision.obligations[1].attributes == {MINIMUM_AUTHENTICATION_LEVEL_ORG: "3"}
    assert decision.obligations[0].assignments == (
        AttributeAssignment(
            "urn:altinn:obligation1-assignment1", "2", MINIMUM_AUTHENTICATION_LEVEL, XS + "integer"
        ),
    )
    assert required_authentication_level(decision) == 2
    assert required_authentication_level_org(decision) == 3
    assert decision.rule_ids == ("urn:altinn:resource:app_ttd_basic:policyid:1:ruleid:1",)


def test_not_applicable_carries_no_obligations() -> None:
    decision = evaluate(cases.load("ttd", "basic"), request("read", cases.user("REGNA"), cases.BASIC))
    assert decision == Decision(Effect.NOT_APPLICABLE)
    assert required_authentication_level(decision) is None


def test_task_action_policy_names_an_app_that_does_not_exist() -> None:
    # The shipped tdd/task-action policy binds every rule to app "task-actions" (plural).
    pol = cases.load("tdd", "task-action")
    assert evaluate(
        pol, request("read", cases.user("DAGL"), cases.resource("tdd", "task-action", task="Task_1"))
    ) == (Decision(Effect.NOT_APPLICABLE))
    assert evaluate(
        pol, request("read", cases.user("DAGL"), cases.resource("tdd", "task-actions", task="Task_1"))
    ).permit


def test_placeholders_are_replaced_from_org_and_app() -> None:
    path = cases.APPS / "ttd" / "basic" / "config" / "authorization" / "policy.xml"
    raw = path.read_bytes()
    assert b"[ORG]" in raw
    pol = parse_policy(raw, source="basic.xml", org="acme", app="forms")
    assert pol.id == "urn:altinn:resource:app_acme_forms:policyid:1"
    assert evaluate(pol, request("read", cases.user("PRIV"), cases.resource("acme", "forms"))).permit
    assert not evaluate(pol, request("read", cases.user("PRIV"), cases.resource("ttd", "basic"))).permit
    # The same, from text.
    assert parse_policy(raw.decode("utf-8-sig"), source="basic.xml", org="acme", app="forms") == pol


def test_unreplaced_placeholders_are_refused() -> None:
    path = cases.APPS / "ttd" / "basic" / "config" / "authorization" / "policy.xml"
    with pytest.raises(PolicyError, match=r"basic\.xml:\d+: .*placeholder \[ORG\]"):
        parse_policy(path.read_bytes(), source="basic.xml")
    with pytest.raises(ValueError, match="both org and app"):
        parse_policy(path.read_bytes(), org="ttd")


def test_rule_and_policy_actions() -> None:
    pol = cases.load("tdd", cases.CR)
    assert pol.rules[3].actions == {"read", "customReadAction"}
    assert pol.actions == {
        "instantiate",
        "read",
        "write",
        "sign",
        "customReadAction",
        "customWriteAction",
        "complete",
    }


def test_evaluate_actions() -> None:
    pol = cases.load("tdd", cases.CR)
    req = request("instantiate", cases.user("REGNA"), cases.resource("tdd", cases.CR, task="Task_1"))
    decisions = evaluate_actions(pol, req, ["read", "write", "sign", "complete", "instantiate"])
    assert {a: d.effect for a, d in decisions.items()} == {
        "read": Effect.PERMIT,
        "write": Effect.PERMIT,
        "sign": Effect.NOT_APPLICABLE,
        "complete": Effect.NOT_APPLICABLE,
        "instantiate": Effect.PERMIT,
    }
    for action, decision in decisions.items():
        assert decision == evaluate(pol, dataclasses.replace(req, action=action))
    with pytest.raises(TypeError):
        evaluate_actions(pol, req, [1])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------
# Match, AllOf, AnyOf, Target semantics


def _permit_if(*any_ofs: list[list[object]]) -> Policy:
    return policy(Rule("r", Effect.PERMIT, target(*any_ofs)))  # type: ignore[arg-type]


ROLE_DAGL = match(SUBJECT_CATEGORY, ROLE, "DAGL")
ORG_TTD = match(RESOURCE_CATEGORY, ORG, "ttd")
TASK_1 = match(RESOURCE_CATEGORY, TASK, "Task_1")
READ = match(ACTION_CATEGORY, ACTION_ID, "read")


@pytest.mark.parametrize(
    ("name", "pol", "req", "expected"),
    [
        ("empty target matches everything", policy(Rule("r", Effect.PERMIT)), request("x"), Effect.PERMIT),
        ("absent attribute is no match", _permit_if([[ROLE_DAGL]]), request(), Effect.NOT_APPLICABLE),
        (
            "empty bag is no match",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE: []}),
            Effect.NOT_APPLICABLE,
        ),
        (
            "any value of the bag",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE: ["PRIV", "DAGL"]}),
            Effect.PERMIT,
        ),
        (
            "exact match is case-sensitive",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE: ["dagl"]}),
            Effect.NOT_APPLICABLE,
        ),
        ("no trimming", _permit_if([[ROLE_DAGL]]), request(subject={ROLE: ["DAGL "]}), Effect.NOT_APPLICABLE),
        (
            "attribute ids are exact",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE.upper(): ["DAGL"]}),
            Effect.NOT_APPLICABLE,
        ),
        (
            "category matters",
            _permit_if([[ROLE_DAGL]]),
            request(resource={ROLE: ["DAGL"]}),
            Effect.NOT_APPLICABLE,
        ),
        (
            "AllOf needs every match",
            _permit_if([[ORG_TTD, TASK_1]]),
            request(resource={ORG: ["ttd"], TASK: ["Task_2"]}),
            Effect.NOT_APPLICABLE,
        ),
        (
            "AllOf with every match",
            _permit_if([[ORG_TTD, TASK_1]]),
            request(resource={ORG: ["ttd"], TASK: ["Task_1"]}),
            Effect.PERMIT,
        ),
        (
            "AnyOf needs one AllOf",
            _permit_if([[ORG_TTD, TASK_1], [ROLE_DAGL]]),
            request(subject={ROLE: ["DAGL"]}),
            Effect.PERMIT,
        ),
        (
            "Target needs every AnyOf",
            _permit_if([[ORG_TTD]], [[ROLE_DAGL]]),
            request(resource={ORG: ["ttd"]}),
            Effect.NOT_APPLICABLE,
        ),
        (
            "Target with every AnyOf",
            _permit_if([[ORG_TTD]], [[ROLE_DAGL]], [[READ]]),
            request("read", {ROLE: ["DAGL"]}, {ORG: ["ttd"]}),
            Effect.PERMIT,
        ),
        (
            "environment category",
            _permit_if([[match(ENVIRONMENT_CATEGORY, "urn:test:env", "prod")]]),
            request(environment={"urn:test:env": ["prod"]}),
            Effect.PERMIT,
        ),
        (
            "action attributes other than action-id are absent",
            _permit_if([[match(ACTION_CATEGORY, "urn:test:verb", "read")]]),
            request("read"),
            Effect.NOT_APPLICABLE,
        ),
        (
            "a large bag",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE: [f"R{i}" for i in range(5000)] + ["DAGL"]}),
            Effect.PERMIT,
        ),
        (
            "a large bag without the value",
            _permit_if([[ROLE_DAGL]]),
            request(subject={ROLE: [f"R{i}" for i in range(5000)]}),
            Effect.NOT_APPLICABLE,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_target_semantics(name: str, pol: Policy, req: XacmlRequest, expected: Effect) -> None:
    assert evaluate(pol, req).effect is expected


@pytest.mark.parametrize(
    ("function", "data_type", "policy_value", "bag", "expected"),
    [
        (F1 + "string-equal", "string", "Task_1", ["Task_1"], True),
        (F3 + "string-equal", "string", "Task_1", ["task_1"], False),
        (F3 + "string-equal-ignore-case", "string", "DAGL", ["dagl"], True),
        (F1 + "string-equal-ignore-case", "string", "dagl", ["DaGl"], True),
        (F3 + "string-equal-ignore-case", "string", "ÆØÅ", ["æøå"], True),
        (F3 + "string-equal-ignore-case", "string", "DAGL", ["DAGL2"], False),
        (F3 + "string-equal-ignore-case", "string", "DAGL", [f"R{i}" for i in range(20)] + ["dagl"], True),
        (F3 + "string-starts-with", "string", "Task_", ["Task_1"], True),
        (F3 + "string-starts-with", "string", "Task_1", ["Task_"], False),
        (F3 + "string-ends-with", "string", "_1", ["Task_1"], True),
        (F3 + "string-ends-with", "string", "Task", ["Task_1"], False),
        (F3 + "string-contains", "string", "sk_", ["Task_1"], True),
        (F3 + "string-contains", "string", "Task_1", ["sk_"], False),
        (F1 + "anyURI-equal", "anyURI", "urn:a:b", ["urn:a:b"], True),
        (F1 + "integer-equal", "integer", "7", ["007"], True),
        (F1 + "integer-equal", "integer", "7", ["+7"], True),
        (F1 + "integer-equal", "integer", "7", ["8", "seven"], False),
        (F1 + "integer-equal", "integer", "7", ["seven"], False),
        (F1 + "boolean-equal", "boolean", "true", ["1"], True),
        (F1 + "boolean-equal", "boolean", "false", ["true"], False),
    ],
)
def test_match_functions(
    function: str, data_type: str, policy_value: str, bag: list[str], expected: bool
) -> None:
    m = match(RESOURCE_CATEGORY, "urn:test:x", policy_value, function, data_type=XS + data_type)
    result = evaluate(_permit_if([[m]]), request(resource={"urn:test:x": bag}))
    assert result.permit is expected


def test_must_be_present_missing_attribute_is_indeterminate() -> None:
    required = match(SUBJECT_CATEGORY, ROLE, "DAGL", must_be_present=True)
    pol = _permit_if([[required]])
    decision = evaluate(pol, request())
    assert decision.effect is Effect.INDETERMINATE
    assert decision.status == STATUS_MISSING_ATTRIBUTE
    assert ROLE in decision.status_message
    assert decision.obligations == ()
    # Present but different is a plain no-match; present and equal matches.
    assert evaluate(pol, request(subject={ROLE: ["PRIV"]})).effect is Effect.NOT_APPLICABLE
    assert evaluate(pol, request(subject={ROLE: ["DAGL"]})).permit
    # Integer matches count only values of the data type: none left means missing.
    typed = match(
        RESOURCE_CATEGORY,
        "urn:test:n",
        "1",
        F1 + "integer-equal",
        must_be_present=True,
        data_type=XS + "integer",
    )
    assert (
        evaluate(_permit_if([[typed]]), request(resource={"urn:test:n": ["one"]})).effect
        is Effect.INDETERMINATE
    )


def test_false_anyof_wins_over_indeterminate() -> None:
    required = match(SUBJECT_CATEGORY, ROLE, "DAGL", must_be_present=True)
    pol = _permit_if([[required]], [[READ]])
    assert evaluate(pol, request("write")).effect is Effect.NOT_APPLICABLE
    assert evaluate(pol, request("read")).effect is Effect.INDETERMINATE
    # Within an AllOf a false match wins too; within an AnyOf a true AllOf wins.
    assert evaluate(_permit_if([[required, READ]]), request("write")).effect is Effect.NOT_APPLICABLE
    assert evaluate(_permit_if([[required], [READ]]), request("read")).permit


def test_policy_target() -> None:
    rule = Rule("r", Effect.PERMIT, target([[READ]]), obligations=(obligation("o", Effect.PERMIT, a="1"),))
    scoped = policy(rule, target=target([[ORG_TTD]]))
    assert evaluate(scoped, request("read", resource={ORG: ["ttd"]})).permit
    assert evaluate(scoped, request("read", resource={ORG: ["skd"]})) == Decision(Effect.NOT_APPLICABLE)
    required = policy(rule, target=target([[match(RESOURCE_CATEGORY, ORG, "ttd", must_be_present=True)]]))
    indeterminate = evaluate(required, request("read"))
    assert indeterminate.effect is Effect.INDETERMINATE
    assert indeterminate.status == STATUS_MISSING_ATTRIBUTE
    assert indeterminate.obligations == ()
    # An Indeterminate target with nothing applicable is NotApplicable (XACML 3.0, table 7).
    assert evaluate(required, request("write")).effect is Effect.NOT_APPLICABLE


# ---------------------------------------------------------------------------------------------
# Rule-combining algorithms

X = "urn:test:x"


def _rule(code: str, index: int) -> Rule:
    """P/D: applicable Permit/Deny; p/d: not applicable; P?/D?: Indeterminate Permit/Deny."""
    effect = Effect.PERMIT if code[0] in "Pp" else Effect.DENY
    if code in ("P", "D"):
        t = target([[match(SUBJECT_CATEGORY, X, "yes")]])
    elif code in ("p", "d"):
        t = target([[match(SUBJECT_CATEGORY, X, "no")]])
    else:
        t = target([[match(SUBJECT_CATEGORY, "urn:test:missing", "yes", must_be_present=True)]])
    return Rule(f"r{index}", effect, t, obligations=(obligation(f"o{index}", effect, rule=str(index)),))


IND = Effect.INDETERMINATE
P, D, N = Effect.PERMIT, Effect.DENY, Effect.NOT_APPLICABLE
ALGORITHMS = (DENY_OVERRIDES, PERMIT_OVERRIDES, FIRST_APPLICABLE, DENY_UNLESS_PERMIT, PERMIT_UNLESS_DENY)
COMBINING_TABLE = [
    # rules        deny-ov  permit-ov  first   deny-unless  permit-unless
    ((), (N, N, N, D, P)),
    (("P",), (P, P, P, P, P)),
    (("D",), (D, D, D, D, D)),
    (("p", "d"), (N, N, N, D, P)),
    (("P", "D"), (D, P, P, P, D)),
    (("D", "P"), (D, P, D, P, D)),
    (("d", "P"), (P, P, P, P, P)),
    (("p", "D"), (D, D, D, D, D)),
    (("D?",), (IND, IND, IND, D, P)),
    (("P?",), (IND, IND, IND, D, P)),
    (("D?", "P"), (IND, P, IND, P, P)),
    (("P?", "P"), (P, P, IND, P, P)),
    (("P?", "D"), (D, IND, IND, D, D)),
    (("D?", "D"), (D, D, IND, D, D)),
    (("P", "D?"), (IND, P, P, P, P)),
    (("D", "P?"), (D, IND, D, D, D)),
    (("P?", "D?"), (IND, IND, IND, D, P)),
    (("p", "P?", "d"), (IND, IND, IND, D, P)),
]


@pytest.mark.parametrize(
    ("codes", "expected"),
    COMBINING_TABLE,
    ids=lambda v: ",".join(v) if isinstance(v, tuple) and all(isinstance(c, str) for c in v) else "",
)
def test_combining_algorithms(codes: tuple[str, ...], expected: tuple[Effect, ...]) -> None:
    rules = tuple(_rule(code, i) for i, code in enumerate(codes))
    req = request(subject={X: ["yes"]})
    for algorithm, effect in zip(ALGORITHMS, expected, strict=True):
        assert evaluate(policy(*rules, algorithm=algorithm), req).effect is effect, algorithm


@pytest.mark.parametrize(
    ("base", "alias"),
    [
        (DENY_OVERRIDES, "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:ordered-deny-overrides"),
        (DENY_OVERRIDES, "urn:oasis:names:tc:xacml:1.0:rule-combining-algorithm:deny-overrides"),
        (DENY_OVERRIDES, "urn:oasis:names:tc:xacml:1.1:rule-combining-algorithm:ordered-deny-overrides"),
        (PERMIT_OVERRIDES, "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:ordered-permit-overrides"),
        (PERMIT_OVERRIDES, "urn:oasis:names:tc:xacml:1.0:rule-combining-algorithm:permit-overrides"),
        (PERMIT_OVERRIDES, "urn:oasis:names:tc:xacml:1.1:rule-combining-algorithm:ordered-permit-overrides"),
    ],
)
def test_ordered_and_legacy_algorithms(base: str, alias: str) -> None:
    assert alias in SUPPORTED_COMBINING_ALGORITHMS
    req = request(subject={X: ["yes"]})
    index = ALGORITHMS.index(base)
    for codes, expected in COMBINING_TABLE:
        rules = tuple(_rule(code, i) for i, code in enumerate(codes))
        assert evaluate(policy(*rules, algorithm=alias), req).effect is expected[index], codes


def _ids(decision: Decision) -> list[str]:
    return [o.id for o in decision.obligations]


@pytest.mark.parametrize(
    ("algorithm", "codes", "effect", "obligations"),
    [
        # Every rule that evaluated to the decision's effect contributes its obligations.
        (DENY_OVERRIDES, ("P", "p", "P"), P, ["o0", "o2", "policy-permit"]),
        (DENY_OVERRIDES, ("P", "D", "D"), D, ["o1", "policy-deny"]),
        (PERMIT_OVERRIDES, ("D", "P", "P"), P, ["o1", "policy-permit"]),
        (PERMIT_OVERRIDES, ("D", "d", "D"), D, ["o0", "o2", "policy-deny"]),
        (FIRST_APPLICABLE, ("p", "P", "P"), P, ["o1", "policy-permit"]),
        (DENY_UNLESS_PERMIT, ("D", "D", "P"), P, ["o2", "policy-permit"]),
        (DENY_UNLESS_PERMIT, ("D", "p", "D"), D, ["o0", "o2", "policy-deny"]),
        # Deny with no deny rule: only the policy's own obligations.
        (DENY_UNLESS_PERMIT, ("p",), D, ["policy-deny"]),
        (PERMIT_UNLESS_DENY, ("P", "D"), D, ["o1", "policy-deny"]),
        (PERMIT_UNLESS_DENY, (), P, ["policy-permit"]),
        (DENY_OVERRIDES, ("P?", "P"), P, ["o1", "policy-permit"]),
        (DENY_OVERRIDES, ("P", "D?"), IND, []),
    ],
)
def test_obligations_follow_the_decision(
    algorithm: str, codes: tuple[str, ...], effect: Effect, obligations: list[str]
) -> None:
    rules = tuple(_rule(code, i) for i, code in enumerate(codes))
    pol = policy(
        *rules,
        algorithm=algorithm,
        obligations=[obligation("policy-permit", P, level="2"), obligation("policy-deny", D, reason="no")],
        advice=[ObligationExpression("advice-permit", P), ObligationExpression("advice-deny", D)],
    )
    decision = evaluate(pol, request(subject={X: ["yes"]}))
    assert decision.effect is effect
    assert _ids(decision) == obligations
    contributing = [o for o in obligations if not o.startswith("policy")]
    assert list(decision.rule_ids) == [f"r{o[1:]}" for o in contributing]
    assert [a.id for a in decision.advice] == ({P: ["advice-permit"], D: ["advice-deny"]}.get(effect, []))


def test_rule_obligations_for_the_other_effect_are_never_returned() -> None:
    rule = Rule(
        "r",
        Effect.PERMIT,
        obligations=(obligation("on-permit", P), obligation("on-deny", D)),
        advice=(ObligationExpression("advice-on-deny", D),),
    )
    decision = evaluate(policy(rule), request())
    assert _ids(decision) == ["on-permit"]
    assert decision.advice == ()


# ---------------------------------------------------------------------------------------------
# The action index must not change any decision


def test_action_index_keeps_rules_that_do_not_pin_the_action() -> None:
    # Rule r0 permits "read" OR any request for resource x=1: it must apply to every action.
    mixed = Rule("r0", Effect.PERMIT, target([[READ], [match(RESOURCE_CATEGORY, X, "1")]]))
    pol = policy(mixed)
    assert evaluate(pol, request("write", resource={X: ["1"]})).permit
    assert evaluate(pol, request("read")).permit
    assert not evaluate(pol, request("write")).permit


def test_action_index_with_exact_and_ignore_case_rules() -> None:
    exact = Rule("exact", Effect.PERMIT, target([[match(ACTION_CATEGORY, ACTION_ID, "Read")]]))
    loose = Rule(
        "loose",
        Effect.PERMIT,
        target([[match(ACTION_CATEGORY, ACTION_ID, "read", STRING_EQUAL_IGNORE_CASE)]]),
    )
    pol = policy(exact, loose)
    assert evaluate(pol, request("Read")).rule_ids == ("exact", "loose")
    assert evaluate(pol, request("READ")).rule_ids == ("loose",)
    assert evaluate(pol, request("read")).rule_ids == ("loose",)
    assert evaluate(pol, request("reed")).effect is Effect.NOT_APPLICABLE


@pytest.mark.parametrize("first_is_indexed", [True, False])
def test_action_index_keeps_policy_order(first_is_indexed: bool) -> None:
    indexed = Rule("indexed", Effect.PERMIT, target([[READ]]))
    unindexed = Rule("unindexed", Effect.DENY, target([[match(SUBJECT_CATEGORY, X, "yes")]]))
    rules = (indexed, unindexed) if first_is_indexed else (unindexed, indexed)
    decision = evaluate(policy(*rules, algorithm=FIRST_APPLICABLE), request("read", {X: ["yes"]}))
    assert decision.rule_ids == (rules[0].id,)


def test_action_in_a_mixed_allof_is_indexed_correctly() -> None:
    # As tdd/task-action writes its delete rule: the action test sits in the resource AllOf.
    pol = cases.load("ttd", "service-tasks")
    subject = cases.user("DAGL")
    res = cases.resource("ttd", "service-tasks", task="Task_1")
    assert evaluate(pol, request("delete", subject, res)).permit
    assert not evaluate(pol, request("delete", subject, {**res, ORG: ["tdd"]})).permit


# ---------------------------------------------------------------------------------------------
# Enforcement (Altinn's ValidateDecisionResult)


def _decision_with(**levels: str) -> Decision:
    obligations = []
    if "user" in levels:
        obligations.append(
            Obligation(
                "urn:altinn:obligation:authenticationLevel1",
                {MINIMUM_AUTHENTICATION_LEVEL: levels["user"]},
                (
                    AttributeAssignment(
                        "urn:altinn:obligation1-assignment1", levels["user"], MINIMUM_AUTHENTICATION_LEVEL
                    ),
                ),
            )
        )
    if "org" in levels:
        obligations.append(
            Obligation(
                "urn:altinn:obligation:authenticationLevel2",
                {MINIMUM_AUTHENTICATION_LEVEL_ORG: levels["org"]},
                (
                    AttributeAssignment(
                        "urn:altinn:obligation2-assignment2", levels["org"], MINIMUM_AUTHENTICATION_LEVEL_ORG
                    ),
                ),
            )
        )
    return Decision(Effect.PERMIT, tuple(obligations))


@pytest.mark.parametrize(
    ("decision", "level", "is_org", "expected"),
    [
        (Decision(Effect.PERMIT), 0, False, Enforcement(True)),
        (Decision(Effect.DENY), 4, False, Enforcement(False)),
        (Decision(Effect.NOT_APPLICABLE), 4, True, Enforcement(False)),
        (Decision(Effect.INDETERMINATE), 4, True, Enforcement(False)),
        (_decision_with(user="2"), 2, False, Enforcement(True)),
        (_decision_with(user="2"), 3, False, Enforcement(True)),
        (_decision_with(user="2"), 1, False, Enforcement(False, {"RequiredAuthenticationLevel": "2"})),
        # An org below the level, with no org obligation, is refused like anyone else.
        (_decision_with(user="2"), 1, True, Enforcement(False, {"RequiredAuthenticationLevel": "2"})),
        (_decision_with(user="0"), 0, False, Enforcement(True)),
        # ttd/basic: level 2 for everyone, 3 for orgs below 2 (so an org at 2 passes the first test).
        (_decision_with(user="2", org="3"), 2, True, Enforcement(True)),
        (
            _decision_with(user="2", org="3"),
            1,
            True,
            Enforcement(False, {"RequiredAuthenticationLevel": "3"}),
        ),
        (
            _decision_with(user="2", org="3"),
            1,
            False,
            Enforcement(False, {"RequiredAuthenticationLevel": "2"}),
        ),
        # An org obligation lower than the general one lets orgs in at that level, only orgs.
        (_decision_with(user="4", org="3"), 3, True, Enforcement(True)),
        (
            _decision_with(user="4", org="3"),
            3,
            False,
            Enforcement(False, {"RequiredAuthenticationLevel": "4"}),
        ),
        (
            _decision_with(user="4", org="3"),
            2,
            True,
            Enforcement(False, {"RequiredAuthenticationLevel": "3"}),
        ),
        # The org obligation alone demands nothing.
        (_decision_with(org="3"), 0, True, Enforcement(True)),
    ],
)
def test_enforce(decision: Decision, level: int, is_org: bool, expected: Enforcement) -> None:
    assert enforce_detailed(decision, level, is_org) == expected
    assert enforce(decision, level, is_org) is expected.authorized


def test_enforce_with_shared_policies() -> None:
    basic = evaluate(cases.load("ttd", "basic"), cases.BASIC_CASES[0].request())
    assert enforce(basic, 2, False)
    assert not enforce(basic, 1, False)
    permissive = cases.load("tdd", "permissive-app")
    decision = evaluate(
        permissive, request("instantiate", cases.user("DAGL"), cases.resource("tdd", "permissive-app"))
    )
    assert enforce(decision, 0, False)


def test_required_level_takes_the_strictest_obligation() -> None:
    decision = Decision(
        Effect.PERMIT,
        (
            Obligation("a", {}, (AttributeAssignment("x", "2", MINIMUM_AUTHENTICATION_LEVEL),)),
            Obligation("b", {}, (AttributeAssignment("y", " 3 ", MINIMUM_AUTHENTICATION_LEVEL),)),
        ),
    )
    assert required_authentication_level(decision) == 3
    assert required_authentication_level_org(decision) is None


# ---------------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: XacmlRequest({ROLE: "DAGL"}, "read", {}), "not a single string"),  # type: ignore[dict-item]
        (lambda: XacmlRequest({}, "read", {ORG: [1]}), "values must be strings"),  # type: ignore[list-item]
        (lambda: XacmlRequest({}, "read", {}, {"urn:x": b"v"}), "not a single string"),  # type: ignore[dict-item]
        (lambda: XacmlRequest({1: ["x"]}, "read", {}), "ids must be strings"),  # type: ignore[dict-item]
        (lambda: XacmlRequest({}, None, {}), "action must be a string"),  # type: ignore[arg-type]
    ],
)
def test_request_rejects_ill_typed_attributes(make: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()  # type: ignore[operator]


def test_request_copies_its_bags() -> None:
    roles = ["PRIV"]
    req = request("read", {ROLE: roles}, {ORG: ["ttd"], cases.APP: ["basic"]})
    roles.append("DAGL")
    assert req.subject[ROLE] == ("PRIV",)
    assert not evaluate(
        cases.load("ttd", "basic"), dataclasses.replace(req, subject={ROLE: ["UTINN"]})
    ).permit
    assert evaluate(cases.load("ttd", "basic"), req).permit


# ---------------------------------------------------------------------------------------------
# Parser errors


def _policy_xml(body: str, *, algorithm: str = DENY_OVERRIDES, root_attributes: str | None = None) -> str:
    attributes = root_attributes if root_attributes is not None else f'RuleCombiningAlgId="{algorithm}"'
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<xacml:Policy xmlns:xacml="{NS}" PolicyId="urn:test:p" Version="1.0" {attributes}>\n'
        "<xacml:Target/>\n"
        f"{body}\n"
        "</xacml:Policy>\n"
    )


def _match_xml(
    function: str = STRING_EQUAL,
    value: str = "read",
    *,
    category: str = "urn:oasis:names:tc:xacml:3.0:attribute-category:action",
    attribute_id: str = ACTION_ID,
    value_type: str = "string",
    designator_type: str = "string",
    extra: str = 'MustBePresent="false"',
) -> str:
    return (
        f'<xacml:Match MatchId="{function}">'
        f'<xacml:AttributeValue DataType="{XS}{value_type}">{value}</xacml:AttributeValue>'
        f'<xacml:AttributeDesignator AttributeId="{attribute_id}" Category="{category}" '
        f'DataType="{XS}{designator_type}" {extra}/>'
        "</xacml:Match>"
    )


def _rule_xml(matches: str = "", *, effect: str = "Permit", extra: str = "") -> str:
    target = f"<xacml:Target><xacml:AnyOf><xacml:AllOf>{matches}</xacml:AllOf></xacml:AnyOf></xacml:Target>"
    return (
        f'<xacml:Rule RuleId="urn:test:r" Effect="{effect}">\n{target if matches else ""}{extra}</xacml:Rule>'
    )


def _obligation_xml(inner: str, *, fulfill_on: str = "Permit") -> str:
    return (
        "<xacml:ObligationExpressions>"
        f'<xacml:ObligationExpression ObligationId="urn:o" FulfillOn="{fulfill_on}">'
        f"{inner}</xacml:ObligationExpression></xacml:ObligationExpressions>"
    )


def _level(value: str, data_type: str = "integer") -> str:
    return (
        f'<xacml:AttributeAssignmentExpression AttributeId="urn:a" Category="{MINIMUM_AUTHENTICATION_LEVEL}">'
        f'<xacml:AttributeValue DataType="{XS}{data_type}">{value}</xacml:AttributeValue>'
        "</xacml:AttributeAssignmentExpression>"
    )


def test_a_handwritten_policy_parses_into_the_model() -> None:
    xml = _policy_xml(
        _rule_xml(_match_xml(F3 + "string-equal-ignore-case", "Read") + "<!-- note -->", extra="")
        + _obligation_xml(_level("3"))
        + '<xacml:AdviceExpressions><xacml:AdviceExpression AdviceId="urn:adv" AppliesTo="Deny"/>'
        "</xacml:AdviceExpressions>"
    )
    pol = parse_policy(xml, source="mine.xml")
    assert pol.id == "urn:test:p"
    assert pol.source == "mine.xml"
    assert pol.rules[0].actions == {"Read"}
    assert pol.obligations == (
        ObligationExpression(
            "urn:o",
            Effect.PERMIT,
            (AttributeAssignment("urn:a", "3", MINIMUM_AUTHENTICATION_LEVEL, XS + "integer"),),
        ),
    )
    assert pol.advice == (ObligationExpression("urn:adv", Effect.DENY),)
    decision = evaluate(pol, request("READ"))
    assert decision.permit
    assert required_authentication_level(decision) == 3
    assert decision.status == STATUS_OK


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<xacml:Policy", r"mine\.xml:1: malformed XML"),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY a "b">]>\n<p>&a;</p>',
            r"mine\.xml: .*DOCTYPE",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(F1 + "string-regexp-match"))),
            r"mine\.xml:5: unknown or unsupported match function "
            r"'urn:oasis:names:tc:xacml:1\.0:function:string-regexp-match'",
        ),
        (
            _policy_xml(_rule_xml(_match_xml("urn:custom:fn"))),
            r"mine\.xml:5: unknown .*'urn:custom:fn' \(supported: ",
        ),
        (
            _policy_xml("", root_attributes=""),
            r"mine\.xml:2: <Policy> is missing the RuleCombiningAlgId attribute",
        ),
        (
            _policy_xml("", algorithm="urn:custom:alg"),
            r"mine\.xml:2: unknown or unsupported RuleCombiningAlgId 'urn:custom:alg'",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(), extra="\n<xacml:Condition/>")),
            r"mine\.xml:6: rule 'urn:test:r': <Condition> is not supported",
        ),
        (
            _policy_xml(_rule_xml(_match_xml().replace("AttributeDesignator", "AttributeSelector"))),
            r"mine\.xml:5: <AttributeSelector> \(XPath\) is not supported",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(extra='MustBePresent="false" Issuer="me"'))),
            r"mine\.xml:5: .*Issuer is not supported",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(extra=""))),
            r"mine\.xml:5: <AttributeDesignator> is missing the MustBePresent",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(extra='MustBePresent="maybe"'))),
            r"MustBePresent must be true or false",
        ),
        (
            _policy_xml(
                _rule_xml(
                    _match_xml(category="urn:oasis:names:tc:xacml:1.0:subject-category:recipient-subject")
                )
            ),
            r"mine\.xml:5: attribute category .*recipient-subject' is not supported",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(value_type="integer", value="1"))),
            r"mine\.xml:5: .*string-equal compares .*#string values, but the AttributeValue is .*#integer",
        ),
        (
            _policy_xml(_rule_xml(_match_xml(designator_type="boolean"))),
            r"but the AttributeDesignator selects .*#boolean",
        ),
        (
            _policy_xml(
                _rule_xml(
                    _match_xml(F1 + "integer-equal", "one", value_type="integer", designator_type="integer")
                )
            ),
            r"mine\.xml:5: 'one' is not a valid .*#integer",
        ),
        (_policy_xml(_rule_xml(_match_xml(value="[ORG]"))), r"mine\.xml:5: .*placeholder \[ORG\]"),
        (_policy_xml(_rule_xml(_match_xml(value="<b>x</b>"))), r"structured XML content"),
        (
            _policy_xml(_rule_xml(_match_xml(), effect="Maybe")),
            r"mine\.xml:4: Effect must be Permit or Deny, got 'Maybe'",
        ),
        (
            _policy_xml(_rule_xml().replace("RuleId", "Id")),
            r"mine\.xml:4: <Rule> is missing the RuleId attribute",
        ),
        (
            _policy_xml(
                "<xacml:Rule RuleId='r' Effect='Permit'>"
                "<xacml:Target><xacml:AnyOf/></xacml:Target></xacml:Rule>"
            ),
            r"<AnyOf> must contain at least one <AllOf>",
        ),
        (
            _policy_xml(
                "<xacml:Rule RuleId='r' Effect='Permit'><xacml:Target><xacml:AnyOf><xacml:AllOf/>"
                "</xacml:AnyOf></xacml:Target></xacml:Rule>"
            ),
            r"<AllOf> must contain at least one <Match>",
        ),
        (
            _policy_xml(
                _rule_xml(
                    _match_xml()
                    .replace("<xacml:AttributeValue", "<xacml:Foo")
                    .replace("AttributeValue>", "Foo>")
                )
            ),
            r"<Foo> in <Match> is not supported",
        ),
        (
            _policy_xml(_rule_xml('<xacml:Match MatchId="' + STRING_EQUAL + '"/>')),
            r"<Match> needs one <AttributeValue> and one <AttributeDesignator>",
        ),
        (
            _policy_xml("<xacml:VariableDefinition VariableId='v'/>"),
            r"mine\.xml:4: <VariableDefinition> in <Policy> is not supported",
        ),
        (
            _policy_xml("<other xmlns='urn:other'/>"),
            r"unexpected element <\{urn:other\}other> \(not XACML 3\.0\)",
        ),
        (
            f'<PolicySet xmlns="{NS}" PolicySetId="s" PolicyCombiningAlgId="x"/>',
            r"mine\.xml:1: <PolicySet> is not supported",
        ),
        (
            '<Policy xmlns="urn:oasis:names:tc:xacml:2.0:policy:schema:os" '
            'PolicyId="p" RuleCombiningAlgId="x"/>',
            r"root element must be XACML 3\.0 <Policy>",
        ),
        (_policy_xml(_obligation_xml(_level("high"))), r"mine\.xml:\d+: 'high' is not a valid .*#integer"),
        (
            _policy_xml(_obligation_xml(_level("two", "string"))),
            r"minimum-authenticationlevel must be an integer, got 'two'",
        ),
        (
            _policy_xml(_obligation_xml(_level("2"), fulfill_on="Always")),
            r"FulfillOn must be Permit or Deny, got 'Always'",
        ),
        (
            _policy_xml(
                _obligation_xml(
                    '<xacml:AttributeAssignmentExpression AttributeId="urn:a">'
                    f'<xacml:Apply FunctionId="{F1}string-one-and-only"/>'
                    "</xacml:AttributeAssignmentExpression>"
                )
            ),
            r"computed assignments are not supported",
        ),
    ],
)
def test_parser_errors(xml: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as raised:
        parse_policy(xml, source="mine.xml")
    assert raised.value.source == "mine.xml"
    assert raised.value.reason in str(raised.value)


def test_parser_error_without_source_and_non_utf8_bytes() -> None:
    error = PolicyError("broken", line=3)
    assert str(error) == "line 3: broken"
    assert str(PolicyError("broken")) == "broken"
    with pytest.raises(PolicyError, match=r"policy\.xml: policy is not UTF-8"):
        parse_policy(b"<x>\xff</x>", org="ttd", app="basic")


def test_model_validation_without_parser() -> None:
    with pytest.raises(PolicyError, match="unknown or unsupported RuleCombiningAlgId 'nope'"):
        policy(algorithm="nope")
    with pytest.raises(PolicyError, match="unknown or unsupported match function"):
        match(SUBJECT_CATEGORY, ROLE, "x", "urn:nope")
    with pytest.raises(PolicyError, match="Effect must be Permit or Deny"):
        Rule("r", Effect.NOT_APPLICABLE)
    with pytest.raises(PolicyError, match="FulfillOn/AppliesTo must be Permit or Deny"):
        ObligationExpression("o", Effect.INDETERMINATE)
    with pytest.raises(PolicyError, match="empty AttributeId"):
        match(SUBJECT_CATEGORY, "", "x")


# ---------------------------------------------------------------------------------------------
# Properties

ATTRIBUTE_IDS = sorted(
    {
        m.designator.attribute_id
        for path in APP_POLICIES
        for rule in cases.load_app_policy(path)[2].rules
        for m in rule.target.matches()
    }
    | {"urn:altinn:userid", "urn:altinn:partyid", "urn:altinn:instance-id"}
)
VALUES = sorted(
    {
        m.value
        for path in APP_POLICIES
        for rule in cases.load_app_policy(path)[2].rules
        for m in rule.target.matches()
    }
    | {"ttd", "tdd", "basic", "contributer-restriction"}
)
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(["", " ", "İ", "ß", "ǅ", "\u0000", "ΣΑΣ", "\U0001f600", "Task_1\n", "ttd\u200b"])
known_value = st.sampled_from(VALUES).flatmap(
    lambda v: st.sampled_from([v, v.upper(), v.lower(), v.swapcase()])
)
value = known_value | odd_text
bag = st.lists(value, max_size=6) | st.builds(
    lambda v, n: v * n, st.lists(value, min_size=1, max_size=3), st.integers(100, 3000)
)
attributes = st.dictionaries(st.sampled_from(ATTRIBUTE_IDS) | odd_text, bag, max_size=8)
action = (
    st.sampled_from(
        sorted({a for path in APP_POLICIES for a in cases.load_app_policy(path)[2].actions})
    ).flatmap(lambda a: st.sampled_from([a, a.upper()]))
    | odd_text
)
requests = st.builds(
    XacmlRequest, subject=attributes, action=action, resource=attributes, environment=attributes
)
SHARED_POLICIES = [cases.load_app_policy(path)[2] for path in APP_POLICIES]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pol=st.sampled_from(SHARED_POLICIES), req=requests)
def test_shared_policies_agree_with_the_reference_evaluator(pol: Policy, req: XacmlRequest) -> None:
    decision = evaluate(pol, req)
    assert isinstance(decision, Decision)
    expected = [r.id for r in pol.rules if cases.reference_target(r.target, req)]
    assert list(decision.rule_ids) == expected
    if expected:
        assert decision.effect is Effect.PERMIT
        assert len(decision.obligations) == len(pol.obligations)
    else:
        assert decision == Decision(Effect.NOT_APPLICABLE)


SYNTHETIC_ATTRIBUTE = st.sampled_from(["urn:t:a", "urn:t:b"])
SYNTHETIC_VALUE = st.sampled_from(["x", "y", "X", "ǅ"])
synthetic_match = st.builds(
    lambda category, attribute_id, v, function, required: match(
        category,
        ACTION_ID if category == ACTION_CATEGORY else attribute_id,
        v,
        function,
        must_be_present=required,
    ),
    st.sampled_from([SUBJECT_CATEGORY, RESOURCE_CATEGORY, ACTION_CATEGORY]),
    SYNTHETIC_ATTRIBUTE,
    SYNTHETIC_VALUE,
    st.sampled_from([STRING_EQUAL, STRING_EQUAL_IGNORE_CASE]),
    st.sampled_from([False, False, False, True]),  # mostly MustBePresent=false, some Indeterminate
)
synthetic_target = st.lists(
    st.lists(st.lists(synthetic_match, min_size=1, max_size=3), min_size=1, max_size=3), max_size=3
)
synthetic_rules = st.lists(
    st.builds(
        lambda effect, t, i: Rule(f"r{i}", effect, target(*t), obligations=(obligation(f"o{i}", effect),)),
        st.sampled_from([Effect.PERMIT, Effect.DENY]),
        synthetic_target,
        st.integers(0, 99),
    ),
    max_size=6,
)
synthetic_bags = st.dictionaries(SYNTHETIC_ATTRIBUTE, st.lists(SYNTHETIC_VALUE, max_size=3), max_size=2)
synthetic_requests = st.builds(
    XacmlRequest, subject=synthetic_bags, action=SYNTHETIC_VALUE | st.just("read"), resource=synthetic_bags
)


def _alone(rule: Rule, req: XacmlRequest) -> Effect:
    return evaluate(policy(rule, algorithm=FIRST_APPLICABLE), req).effect


@settings(max_examples=400)
@given(rules=synthetic_rules, req=synthetic_requests)
def test_combining_algorithm_properties(rules: list[Rule], req: XacmlRequest) -> None:
    outcomes = [_alone(rule, req) for rule in rules]
    for rule, outcome in zip(rules, outcomes, strict=True):
        if not any(m.designator.must_be_present for m in rule.target.matches()):
            assert (outcome is rule.effect) is cases.reference_target(rule.target, req)
    results = {alg: evaluate(policy(*rules, algorithm=alg), req) for alg in ALGORITHMS}
    for decision in results.values():
        assert decision.effect in Effect
        if decision.effect in (Effect.PERMIT, Effect.DENY):
            assert {o.id for o in decision.obligations} == {
                f"o{r.id[1:]}" for r in rules if r.id in decision.rule_ids
            }
        else:
            assert decision.obligations == () and decision.rule_ids == ()

    # deny-overrides: any applicable Deny rule means Deny, never Permit.
    if Effect.DENY in outcomes:
        assert results[DENY_OVERRIDES].effect is Effect.DENY
    elif Effect.PERMIT in outcomes and Effect.INDETERMINATE not in [
        o for r, o in zip(rules, outcomes, strict=True) if r.effect is Effect.DENY
    ]:
        assert results[DENY_OVERRIDES].effect is Effect.PERMIT
    if results[DENY_OVERRIDES].effect is Effect.PERMIT:
        assert Effect.DENY not in outcomes
    # permit-overrides mirrors it.
    if Effect.PERMIT in outcomes:
        assert results[PERMIT_OVERRIDES].effect is Effect.PERMIT
    if results[PERMIT_OVERRIDES].effect is Effect.DENY:
        assert Effect.PERMIT not in outcomes
    # first-applicable: the first rule that is not NotApplicable decides.
    first = next((o for o in outcomes if o is not Effect.NOT_APPLICABLE), Effect.NOT_APPLICABLE)
    assert results[FIRST_APPLICABLE].effect is first
    # The -unless- algorithms never return NotApplicable or Indeterminate.
    assert results[DENY_UNLESS_PERMIT].effect is (Effect.PERMIT if Effect.PERMIT in outcomes else Effect.DENY)
    assert results[PERMIT_UNLESS_DENY].effect is (Effect.DENY if Effect.DENY in outcomes else Effect.PERMIT)
    # All NotApplicable means NotApplicable for the overrides algorithms.
    if all(o is Effect.NOT_APPLICABLE for o in outcomes):
        assert results[DENY_OVERRIDES].effect is results[PERMIT_OVERRIDES].effect is Effect.NOT_APPLICABLE


def test_decisions_beyond_the_cache_are_still_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tinn.auth.xacml._DECISION_CACHE_SIZE", 3)
    rules = [
        Rule(
            f"r{i}",
            Effect.PERMIT,
            target([[match(SUBJECT_CATEGORY, X, str(i))]]),
            obligations=(obligation(f"o{i}", P),),
        )
        for i in range(4)
    ]
    pol = policy(*rules)
    for mask in range(1, 16):
        chosen = [str(i) for i in range(4) if mask >> i & 1]
        decision = evaluate(pol, request(subject={X: chosen}))
        assert decision.rule_ids == tuple(f"r{i}" for i in chosen)
        assert _ids(decision) == [f"o{i}" for i in chosen]
        assert evaluate(pol, request(subject={X: chosen})) == decision
    assert len(pol._program.decisions) == 3


def test_model_accepts_plain_strings_for_effects() -> None:
    rule = Rule("r", "Deny", obligations=(ObligationExpression("o", "Deny"),))  # type: ignore[arg-type]
    assert rule.effect is Effect.DENY
    decision = evaluate(policy(rule), request())
    assert decision.effect is Effect.DENY
    assert _ids(decision) == ["o"]
