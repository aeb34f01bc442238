"""XACML 3.0 policy decision point for Altinn app policies.

An app's ``config/authorization/policy.xml`` is parsed once into a :class:`Policy`: a plain model
(rules, targets, matches, obligation expressions) plus a compiled form that evaluation runs on.
Compilation pre-computes everything that does not depend on the request: lower-cased values for
``string-equal-ignore-case``, the obligations each outcome returns, match order inside targets
(cheap and selective categories first; target logic is commutative so the result is unchanged) and
an index of rules by the ``action-id`` values they can match, so a decision touches only the rules
that can apply to the requested action. Decisions are immutable and cached per outcome.

Evaluation follows the XACML 3.0 core specification (sections 7.6-7.18): Match over attribute bags,
AllOf/AnyOf/Target three-valued logic, extended Indeterminate values for the rule-combining
algorithms, policy target handling, and obligations/advice from the rules and policy whose effect
equals the decision. Where Altinn's own PDP deviates from the specification (it matches each
attribute category separately, ignores the policy target and rule obligations, and loses a Deny
under deny-overrides) this module follows the specification; for the policies Altinn Studio
generates the outcome is the same.

:func:`enforce` is the PEP side: Altinn's ``ValidateDecisionResult`` rule for the
``urn:altinn:minimum-authenticationlevel`` (and ``-org``) obligations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from lxml import etree

from tinn.appdef.placeholders import replace_placeholders
from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

__all__ = [
    "ACTION_CATEGORY",
    "ACTION_ID",
    "ENVIRONMENT_CATEGORY",
    "MINIMUM_AUTHENTICATION_LEVEL",
    "MINIMUM_AUTHENTICATION_LEVEL_ORG",
    "REQUIRED_AUTHENTICATION_LEVEL_KEY",
    "RESOURCE_CATEGORY",
    "STATUS_MISSING_ATTRIBUTE",
    "STATUS_OK",
    "SUBJECT_CATEGORY",
    "SUPPORTED_COMBINING_ALGORITHMS",
    "SUPPORTED_FUNCTIONS",
    "XACML_NAMESPACE",
    "AllOf",
    "AnyOf",
    "AttributeAssignment",
    "AttributeDesignator",
    "Decision",
    "Effect",
    "Enforcement",
    "Match",
    "Obligation",
    "ObligationExpression",
    "Policy",
    "PolicyError",
    "Rule",
    "Target",
    "XacmlRequest",
    "enforce",
    "enforce_detailed",
    "evaluate",
    "evaluate_actions",
    "parse_policy",
    "required_authentication_level",
    "required_authentication_level_org",
]

XACML_NAMESPACE: Final = "urn:oasis:names:tc:xacml:3.0:core:schema:wd-17"

SUBJECT_CATEGORY: Final = "urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
RESOURCE_CATEGORY: Final = "urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
ACTION_CATEGORY: Final = "urn:oasis:names:tc:xacml:3.0:attribute-category:action"
ENVIRONMENT_CATEGORY: Final = "urn:oasis:names:tc:xacml:3.0:attribute-category:environment"
ACTION_ID: Final = "urn:oasis:names:tc:xacml:1.0:action:action-id"

MINIMUM_AUTHENTICATION_LEVEL: Final = "urn:altinn:minimum-authenticationlevel"
MINIMUM_AUTHENTICATION_LEVEL_ORG: Final = "urn:altinn:minimum-authenticationlevel-org"
# Key of the failed-obligations body Altinn apps return with a 403.
REQUIRED_AUTHENTICATION_LEVEL_KEY: Final = "RequiredAuthenticationLevel"

STATUS_OK: Final = "urn:oasis:names:tc:xacml:1.0:status:ok"
STATUS_MISSING_ATTRIBUTE: Final = "urn:oasis:names:tc:xacml:1.0:status:missing-attribute"

_XS = "http://www.w3.org/2001/XMLSchema#"
_STRING = _XS + "string"
_INTEGER = _XS + "integer"
_BOOLEAN = _XS + "boolean"
_ANY_URI = _XS + "anyURI"

_F1 = "urn:oasis:names:tc:xacml:1.0:function:"
_F3 = "urn:oasis:names:tc:xacml:3.0:function:"

# Match function id -> (data type of both arguments, comparison kind).
_FUNCTIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        _F1 + "string-equal": (_STRING, "equal"),
        _F3 + "string-equal": (_STRING, "equal"),
        _F3 + "string-equal-ignore-case": (_STRING, "equal-ignore-case"),
        _F1 + "string-equal-ignore-case": (_STRING, "equal-ignore-case"),
        _F3 + "string-starts-with": (_STRING, "starts-with"),
        _F3 + "string-ends-with": (_STRING, "ends-with"),
        _F3 + "string-contains": (_STRING, "contains"),
        _F1 + "anyURI-equal": (_ANY_URI, "equal"),
        _F1 + "integer-equal": (_INTEGER, "integer-equal"),
        _F1 + "boolean-equal": (_BOOLEAN, "boolean-equal"),
    }
)
SUPPORTED_FUNCTIONS: Final = frozenset(_FUNCTIONS)

_CATEGORY_SLOTS: Final[Mapping[str, int]] = MappingProxyType(
    {ACTION_CATEGORY: 0, RESOURCE_CATEGORY: 1, SUBJECT_CATEGORY: 2, ENVIRONMENT_CATEGORY: 3}
)

_RCA3 = "urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:"
_RCA1 = "urn:oasis:names:tc:xacml:1.0:rule-combining-algorithm:"
_RCA11 = "urn:oasis:names:tc:xacml:1.1:rule-combining-algorithm:"

_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_BOOLEAN_VALUES: Final[Mapping[str, bool]] = MappingProxyType(
    {"true": True, "1": True, "false": False, "0": False}
)
_PLACEHOLDERS = ("[ORG]", "[APP]", "[org]", "[app]")


class PolicyError(ValueError):
    """A policy document that cannot be used; ``reason`` says why, ``source``/``line`` say where."""

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        where = source or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


class Effect(StrEnum):
    """A rule effect (Permit/Deny) or a decision (any of the four)."""

    PERMIT = "Permit"
    DENY = "Deny"
    NOT_APPLICABLE = "NotApplicable"
    INDETERMINATE = "Indeterminate"


# ---------------------------------------------------------------------------------------------
# Policy model


@dataclass(frozen=True, slots=True)
class AttributeDesignator:
    category: str
    attribute_id: str
    data_type: str = _STRING
    must_be_present: bool = False

    def __post_init__(self) -> None:
        if self.category not in _CATEGORY_SLOTS:
            raise PolicyError(
                f"attribute category {self.category!r} is not supported "
                f"(supported: access-subject, resource, action, environment)"
            )
        if not self.attribute_id:
            raise PolicyError("AttributeDesignator has an empty AttributeId")


@dataclass(frozen=True, slots=True)
class Match:
    """``function(value, each value of the designated attribute bag)``, true if any is true."""

    function: str
    value: str
    designator: AttributeDesignator
    data_type: str = _STRING

    def __post_init__(self) -> None:
        spec = _FUNCTIONS.get(self.function)
        if spec is None:
            raise PolicyError(f"unknown or unsupported match function {self.function!r}")
        expected = spec[0]
        if self.data_type != expected:
            raise PolicyError(
                f"{self.function} compares {expected} values, but the AttributeValue is {self.data_type}"
            )
        if self.designator.data_type != expected:
            raise PolicyError(
                f"{self.function} compares {expected} values, "
                f"but the AttributeDesignator selects {self.designator.data_type}"
            )
        _check_lexical(self.value, self.data_type)

    @property
    def kind(self) -> str:
        return _FUNCTIONS[self.function][1]


@dataclass(frozen=True, slots=True)
class AllOf:
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    all_of: tuple[AllOf, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """A conjunction of AnyOf; the empty target matches every request."""

    any_of: tuple[AnyOf, ...] = ()

    def matches(self) -> Iterator[Match]:
        for any_of in self.any_of:
            for all_of in any_of.all_of:
                yield from all_of.matches


@dataclass(frozen=True, slots=True)
class AttributeAssignment:
    attribute_id: str
    value: str
    category: str | None = None
    data_type: str = _STRING

    def __post_init__(self) -> None:
        _check_lexical(self.value, self.data_type)
        if self.category in (MINIMUM_AUTHENTICATION_LEVEL, MINIMUM_AUTHENTICATION_LEVEL_ORG) and not (
            _INTEGER_RE.fullmatch(self.value.strip())
        ):
            raise PolicyError(f"{self.category} must be an integer, got {self.value!r}")


@dataclass(frozen=True, slots=True)
class ObligationExpression:
    """An obligation (or advice) expression; ``fulfill_on`` is FulfillOn (AppliesTo for advice)."""

    id: str
    fulfill_on: Effect
    assignments: tuple[AttributeAssignment, ...] = ()

    def __post_init__(self) -> None:
        if self.fulfill_on not in (Effect.PERMIT, Effect.DENY):
            raise PolicyError(f"FulfillOn/AppliesTo must be Permit or Deny, got {self.fulfill_on!r}")
        object.__setattr__(self, "fulfill_on", Effect(self.fulfill_on))


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    effect: Effect
    target: Target = Target()
    description: str = ""
    obligations: tuple[ObligationExpression, ...] = ()
    advice: tuple[ObligationExpression, ...] = ()

    def __post_init__(self) -> None:
        if self.effect not in (Effect.PERMIT, Effect.DENY):
            raise PolicyError(f"rule {self.id!r}: Effect must be Permit or Deny, got {self.effect!r}")
        object.__setattr__(self, "effect", Effect(self.effect))

    @property
    def actions(self) -> frozenset[str]:
        """The action-id values this rule's target names (as written in the policy)."""
        return frozenset(
            m.value
            for m in self.target.matches()
            if m.designator.category == ACTION_CATEGORY and m.designator.attribute_id == ACTION_ID
        )


@dataclass(frozen=True)
class Policy:
    """A parsed policy; construction validates it and compiles the form :func:`evaluate` runs."""

    id: str
    rule_combining_algorithm: str
    rules: tuple[Rule, ...]
    target: Target = Target()
    version: str = "1.0"
    description: str = ""
    obligations: tuple[ObligationExpression, ...] = ()
    advice: tuple[ObligationExpression, ...] = ()
    source: str = "policy.xml"
    _program: _Program = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_program", _Program(self))

    @property
    def actions(self) -> frozenset[str]:
        """Every action-id value any rule names."""
        return frozenset().union(*(rule.actions for rule in self.rules))


# ---------------------------------------------------------------------------------------------
# Request and decision


def _freeze_bags(name: str, attributes: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    frozen: dict[str, tuple[str, ...]] = {}
    for attribute_id, values in attributes.items():
        if not isinstance(attribute_id, str):
            raise TypeError(f"{name} attribute ids must be strings, got {attribute_id!r}")
        # A bare string is a Sequence[str] too; as a bag it would match by substring.
        if isinstance(values, str | bytes):
            raise TypeError(f"{name}[{attribute_id!r}] must be a sequence of strings, not a single string")
        bag = tuple(values)
        for value in bag:
            if not isinstance(value, str):
                raise TypeError(f"{name}[{attribute_id!r}] values must be strings, got {value!r}")
        frozen[attribute_id] = bag
    return frozen


@dataclass(frozen=True, slots=True)
class XacmlRequest:
    """One XACML request as Altinn's PEP builds it: attribute id -> bag of string values.

    The PDP, not the PEP, adds the subject's ``urn:altinn:rolecode`` values for the resource party
    (Altinn looks them up in Register/Access Management); callers must do the same before
    evaluating, since every app policy grants end users access by role code.
    """

    subject: Mapping[str, Sequence[str]]
    action: str
    resource: Mapping[str, Sequence[str]]
    environment: Mapping[str, Sequence[str]] = field(default_factory=dict)
    _bags: tuple[Mapping[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, str):
            raise TypeError(f"action must be a string, got {self.action!r}")
        subject = _freeze_bags("subject", self.subject)
        resource = _freeze_bags("resource", self.resource)
        environment = _freeze_bags("environment", self.environment)
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "environment", environment)
        # Order follows _CATEGORY_SLOTS.
        bags = ({ACTION_ID: (self.action,)}, resource, subject, environment)
        object.__setattr__(self, "_bags", bags)


@dataclass(frozen=True, slots=True)
class Obligation:
    """An obligation (or advice) in a decision.

    ``attributes`` maps each assignment's Category (its AttributeId when it has none) to its value,
    first one winning, e.g. ``{"urn:altinn:minimum-authenticationlevel": "2"}``: Altinn keys its
    obligations by Category. ``assignments`` keeps every assignment as written.
    """

    id: str
    attributes: Mapping[str, str]
    assignments: tuple[AttributeAssignment, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    obligations: tuple[Obligation, ...] = ()
    advice: tuple[Obligation, ...] = ()
    status: str = STATUS_OK
    status_message: str = ""
    # Ids of the rules whose effect produced the decision (policy order; ids need not be unique).
    rule_ids: tuple[str, ...] = ()

    @property
    def permit(self) -> bool:
        return self.effect is Effect.PERMIT


@dataclass(frozen=True, slots=True)
class Enforcement:
    """The PEP verdict; ``failed_obligations`` is the 403 body Altinn apps send when it is a level."""

    authorized: bool
    failed_obligations: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Compilation

# Three-valued match results.
_NO: Final = 0
_YES: Final = 1
_INDET: Final = 2

# Extended decision values (XACML 3.0 section 7.10/7.13).
_PERMIT: Final = 0
_DENY: Final = 1
_NOT_APPLICABLE: Final = 2
_INDET_D: Final = 3
_INDET_P: Final = 4
_INDET_DP: Final = 5


class _Context:
    """Per-evaluation state: the request's bags, lazily built lookup sets, the first error."""

    __slots__ = ("bags", "error", "sets")

    def __init__(self, bags: tuple[Mapping[str, tuple[str, ...]], ...]) -> None:
        self.bags = bags
        self.sets: dict[tuple[int, str, bool], frozenset[str]] | None = None
        self.error: tuple[str, str] | None = None

    def lookup_set(self, slot: int, attribute_id: str, bag: tuple[str, ...], lower: bool) -> frozenset[str]:
        if self.sets is None:
            self.sets = {}
        key = (slot, attribute_id, lower)
        found = self.sets.get(key)
        if found is None:
            found = frozenset(v.lower() for v in bag) if lower else frozenset(bag)
            self.sets[key] = found
        return found

    def missing(self, category: str, attribute_id: str) -> int:
        if self.error is None:
            self.error = (STATUS_MISSING_ATTRIBUTE, f"missing attribute {attribute_id} in {category}")
        return _INDET


_MatchFn = Callable[[_Context], int]
_CompiledTarget = tuple[tuple[tuple[_MatchFn, ...], ...], ...]

# Bags longer than this are turned into (cached) sets before membership tests.
_SMALL_BAG: Final = 8


_SUBSTRING_TESTS: Final[Mapping[str, Callable[[str, str], bool]]] = MappingProxyType(
    {
        "starts-with": str.startswith,
        "ends-with": str.endswith,
        "contains": str.__contains__,
    }
)


def _compile_match(match: Match) -> _MatchFn:
    designator = match.designator
    slot = _CATEGORY_SLOTS[designator.category]
    attribute_id = designator.attribute_id
    category = designator.category
    must_be_present = designator.must_be_present
    kind = match.kind
    value = match.value

    def absent(ctx: _Context) -> int:
        return ctx.missing(category, attribute_id) if must_be_present else _NO

    if kind == "equal":

        def equal(ctx: _Context) -> int:
            bag = ctx.bags[slot].get(attribute_id)
            if not bag:
                return absent(ctx)
            if len(bag) > _SMALL_BAG:
                return _YES if value in ctx.lookup_set(slot, attribute_id, bag, False) else _NO
            return _YES if value in bag else _NO

        return equal

    if kind == "equal-ignore-case":
        lowered = value.lower()

        def equal_ignore_case(ctx: _Context) -> int:
            bag = ctx.bags[slot].get(attribute_id)
            if not bag:
                return absent(ctx)
            if len(bag) == 1:
                return _YES if bag[0].lower() == lowered else _NO
            return _YES if lowered in ctx.lookup_set(slot, attribute_id, bag, True) else _NO

        return equal_ignore_case

    if kind in ("starts-with", "ends-with", "contains"):
        # The policy value is the first argument: "does the request value start with it".
        test = _SUBSTRING_TESTS[kind]

        def substring(ctx: _Context) -> int:
            bag = ctx.bags[slot].get(attribute_id)
            if not bag:
                return absent(ctx)
            return _YES if any(test(v, value) for v in bag) else _NO

        return substring

    # integer-equal / boolean-equal: request values outside the data type's lexical space are not
    # attributes of that type, so they are not in the bag (XACML selects by DataType).
    convert: Callable[[str], int | bool | None]
    convert = _integer_or_none if kind == "integer-equal" else _boolean_or_none
    expected = convert(value)

    def typed_equal(ctx: _Context) -> int:
        bag = ctx.bags[slot].get(attribute_id)
        typed = [c for c in (convert(v) for v in bag or ()) if c is not None]
        if not typed:
            return absent(ctx)
        return _YES if expected in typed else _NO

    return typed_equal


def _integer_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if _INTEGER_RE.fullmatch(text) else None


def _boolean_or_none(text: str) -> bool | None:
    return _BOOLEAN_VALUES.get(text.strip())


def _match_order(match: Match) -> int:
    return _CATEGORY_SLOTS[match.designator.category]


def _compile_target(target: Target) -> _CompiledTarget:
    any_ofs = sorted(
        target.any_of,
        key=lambda a: min((_match_order(m) for al in a.all_of for m in al.matches), default=0),
    )
    return tuple(
        tuple(
            tuple(_compile_match(m) for m in sorted(all_of.matches, key=_match_order))
            for all_of in any_of.all_of
        )
        for any_of in any_ofs
    )


def _evaluate_target(target: _CompiledTarget, ctx: _Context) -> int:
    """Target = AND of AnyOf = OR of AllOf = AND of Match, in three-valued logic (section 7.7)."""
    result = _YES
    for any_of in target:
        any_result = _NO
        for all_of in any_of:
            all_result = _YES
            for match in all_of:
                outcome = match(ctx)
                if outcome == _NO:
                    all_result = _NO
                    break
                if outcome == _INDET:
                    all_result = _INDET
            if all_result == _YES:
                any_result = _YES
                break
            if all_result == _INDET:
                any_result = _INDET
        if any_result == _NO:
            return _NO
        if any_result == _INDET:
            result = _INDET
    return result


def _obligation(expression: ObligationExpression) -> Obligation:
    attributes: dict[str, str] = {}
    for assignment in expression.assignments:
        attributes.setdefault(assignment.category or assignment.attribute_id, assignment.value)
    return Obligation(expression.id, MappingProxyType(attributes), expression.assignments)


def _outcomes(
    expressions: tuple[ObligationExpression, ...],
) -> tuple[tuple[Obligation, ...], tuple[Obligation, ...]]:
    """The (on Permit, on Deny) obligations of ``expressions``."""
    permit = tuple(_obligation(e) for e in expressions if e.fulfill_on is Effect.PERMIT)
    deny = tuple(_obligation(e) for e in expressions if e.fulfill_on is Effect.DENY)
    return permit, deny


class _CompiledRule:
    __slots__ = ("advice", "effect", "id", "indeterminate", "obligations", "position", "target")

    def __init__(self, rule: Rule, position: int) -> None:
        self.id = rule.id
        self.position = position
        self.target = _compile_target(rule.target)
        self.effect = _PERMIT if rule.effect is Effect.PERMIT else _DENY
        self.indeterminate = _INDET_P if rule.effect is Effect.PERMIT else _INDET_D
        # A rule contributes only when the decision equals its effect, so only those can be returned.
        self.obligations = tuple(_obligation(e) for e in rule.obligations if e.fulfill_on is rule.effect)
        self.advice = tuple(_obligation(e) for e in rule.advice if e.fulfill_on is rule.effect)

    def evaluate(self, ctx: _Context) -> int:
        outcome = _evaluate_target(self.target, ctx)
        if outcome == _YES:
            return self.effect
        if outcome == _NO:
            return _NOT_APPLICABLE
        return self.indeterminate


_Combined = tuple[int, list[_CompiledRule]]
_Combiner = Callable[[Sequence[_CompiledRule], _Context], _Combined]


def _deny_overrides(rules: Sequence[_CompiledRule], ctx: _Context) -> _Combined:
    permits: list[_CompiledRule] = []
    error_d = error_p = error_dp = False
    for rule in rules:
        decision = rule.evaluate(ctx)
        if decision == _DENY:
            return _DENY, [rule]
        if decision == _PERMIT:
            permits.append(rule)
        elif decision == _INDET_D:
            error_d = True
        elif decision == _INDET_P:
            error_p = True
        elif decision == _INDET_DP:
            error_dp = True
    if error_dp or (error_d and (error_p or permits)):
        return _INDET_DP, []
    if error_d:
        return _INDET_D, []
    if permits:
        return _PERMIT, permits
    if error_p:
        return _INDET_P, []
    return _NOT_APPLICABLE, []


def _permit_overrides(rules: Sequence[_CompiledRule], ctx: _Context) -> _Combined:
    denies: list[_CompiledRule] = []
    error_d = error_p = error_dp = False
    for rule in rules:
        decision = rule.evaluate(ctx)
        if decision == _PERMIT:
            return _PERMIT, [rule]
        if decision == _DENY:
            denies.append(rule)
        elif decision == _INDET_D:
            error_d = True
        elif decision == _INDET_P:
            error_p = True
        elif decision == _INDET_DP:
            error_dp = True
    if error_dp or (error_p and (error_d or denies)):
        return _INDET_DP, []
    if error_p:
        return _INDET_P, []
    if denies:
        return _DENY, denies
    if error_d:
        return _INDET_D, []
    return _NOT_APPLICABLE, []


def _first_applicable(rules: Sequence[_CompiledRule], ctx: _Context) -> _Combined:
    for rule in rules:
        decision = rule.evaluate(ctx)
        if decision in (_PERMIT, _DENY):
            return decision, [rule]
        if decision != _NOT_APPLICABLE:
            return decision, []
    return _NOT_APPLICABLE, []


def _deny_unless_permit(rules: Sequence[_CompiledRule], ctx: _Context) -> _Combined:
    denies: list[_CompiledRule] = []
    for rule in rules:
        decision = rule.evaluate(ctx)
        if decision == _PERMIT:
            return _PERMIT, [rule]
        if decision == _DENY:
            denies.append(rule)
    return _DENY, denies


def _permit_unless_deny(rules: Sequence[_CompiledRule], ctx: _Context) -> _Combined:
    permits: list[_CompiledRule] = []
    for rule in rules:
        decision = rule.evaluate(ctx)
        if decision == _DENY:
            return _DENY, [rule]
        if decision == _PERMIT:
            permits.append(rule)
    return _PERMIT, permits


# Rules are always evaluated in policy order, so the ordered- variants and the unordered ones
# coincide. The legacy 1.0/1.1 overrides algorithms differ from 3.0 only in the kind of
# Indeterminate they return, which a single policy collapses to plain Indeterminate.
_COMBINERS: Final[Mapping[str, _Combiner]] = MappingProxyType(
    {
        _RCA3 + "deny-overrides": _deny_overrides,
        _RCA3 + "ordered-deny-overrides": _deny_overrides,
        _RCA3 + "permit-overrides": _permit_overrides,
        _RCA3 + "ordered-permit-overrides": _permit_overrides,
        _RCA3 + "deny-unless-permit": _deny_unless_permit,
        _RCA3 + "permit-unless-deny": _permit_unless_deny,
        _RCA1 + "first-applicable": _first_applicable,
        _RCA1 + "deny-overrides": _deny_overrides,
        _RCA1 + "permit-overrides": _permit_overrides,
        _RCA11 + "ordered-deny-overrides": _deny_overrides,
        _RCA11 + "ordered-permit-overrides": _permit_overrides,
    }
)
SUPPORTED_COMBINING_ALGORITHMS: Final = frozenset(_COMBINERS)


def _action_keys(rule: Rule) -> tuple[frozenset[str], frozenset[str]] | None:
    """(exact, lower-cased) action-id values one of which the rule's target requires, if any.

    An AnyOf in which every AllOf tests action-id for (case-insensitive) equality is false for any
    other action, and a false AnyOf makes the target No-match whatever the rest evaluates to. The
    request always carries exactly one action-id value, so those tests never hit a missing bag.
    """
    for any_of in rule.target.any_of:
        exact: set[str] = set()
        lower: set[str] = set()
        for all_of in any_of.all_of:
            test = next(
                (
                    m
                    for m in all_of.matches
                    if m.designator.category == ACTION_CATEGORY
                    and m.designator.attribute_id == ACTION_ID
                    and m.kind in ("equal", "equal-ignore-case")
                ),
                None,
            )
            if test is None:
                break
            if test.kind == "equal":
                exact.add(test.value)
            else:
                lower.add(test.value.lower())
        else:
            return frozenset(exact), frozenset(lower)
    return None


class _Program:
    __slots__ = (
        "advice",
        "by_exact_action",
        "by_lower_action",
        "combine",
        "decisions",
        "obligations",
        "target",
        "unindexed",
    )

    def __init__(self, policy: Policy) -> None:
        combine = _COMBINERS.get(policy.rule_combining_algorithm)
        if combine is None:
            raise PolicyError(
                f"unknown or unsupported RuleCombiningAlgId {policy.rule_combining_algorithm!r}",
                source=policy.source,
            )
        self.combine = combine
        self.target = _compile_target(policy.target)
        self.obligations = _outcomes(policy.obligations)
        self.advice = _outcomes(policy.advice)

        rules = [_CompiledRule(rule, position) for position, rule in enumerate(policy.rules)]
        unindexed: list[_CompiledRule] = []
        exact_of: dict[int, frozenset[str]] = {}
        lower_of: dict[int, frozenset[str]] = {}
        for rule, compiled in zip(policy.rules, rules, strict=True):
            keys = _action_keys(rule)
            if keys is None:
                unindexed.append(compiled)
            else:
                exact_of[compiled.position], lower_of[compiled.position] = keys
        self.unindexed = tuple(unindexed)

        def candidates(exact: str | None, lowered: str) -> tuple[_CompiledRule, ...]:
            return tuple(
                r
                for r in rules
                if r.position not in exact_of
                or exact in exact_of[r.position]
                or lowered in lower_of[r.position]
            )

        all_lower = frozenset().union(*lower_of.values())
        all_exact = frozenset().union(*exact_of.values())
        self.by_lower_action = {key: candidates(None, key) for key in all_lower}
        self.by_exact_action = {key: candidates(key, key.lower()) for key in all_exact}
        # Decisions are immutable and depend only on the outcome and the contributing rules.
        self.decisions: dict[tuple[int, ...], Decision] = {}

    def decision(self, decision: int, contributors: Sequence[_CompiledRule]) -> Decision:
        index = 0 if decision == _PERMIT else 1
        # Rules' obligations in policy order, then the policy's own.
        obligations = (*(o for rule in contributors for o in rule.obligations), *self.obligations[index])
        advice = (*(a for rule in contributors for a in rule.advice), *self.advice[index])
        return Decision(
            Effect.PERMIT if decision == _PERMIT else Effect.DENY,
            obligations,
            advice,
            rule_ids=tuple(rule.id for rule in contributors),
        )

    def rules_for(self, action: str) -> tuple[_CompiledRule, ...]:
        found = self.by_exact_action.get(action)
        if found is None:
            found = self.by_lower_action.get(action.lower(), self.unindexed)
        return found


# ---------------------------------------------------------------------------------------------
# Evaluation

_NOT_APPLICABLE_DECISION: Final = Decision(Effect.NOT_APPLICABLE)
# Distinct (outcome, contributing rules) pairs a policy caches; only a policy with many rules that
# apply together could exceed it, and then the rest are built per call.
_DECISION_CACHE_SIZE: Final = 4096


def evaluate(policy: Policy, request: XacmlRequest) -> Decision:
    """The decision of ``policy`` for ``request`` (XACML 3.0 sections 7.11-7.18)."""
    return _run(policy._program, request._bags, request.action)


def evaluate_actions(policy: Policy, request: XacmlRequest, actions: Iterable[str]) -> dict[str, Decision]:
    """The decision for each of ``actions``, everything else taken from ``request``."""
    program = policy._program
    others = request._bags[1:]
    results: dict[str, Decision] = {}
    for action in actions:
        if not isinstance(action, str):
            raise TypeError(f"action must be a string, got {action!r}")
        results[action] = _run(program, ({ACTION_ID: (action,)}, *others), action)
    return results


def _run(program: _Program, bags: tuple[Mapping[str, tuple[str, ...]], ...], action: str) -> Decision:
    ctx = _Context(bags)
    policy_target = _evaluate_target(program.target, ctx) if program.target else _YES
    if policy_target == _NO:
        return _NOT_APPLICABLE_DECISION
    decision, contributors = program.combine(program.rules_for(action), ctx)
    if decision == _NOT_APPLICABLE:
        return _NOT_APPLICABLE_DECISION
    if decision >= _INDET_D or policy_target == _INDET:
        # An Indeterminate policy target turns any applicable outcome into Indeterminate (Table 7).
        status, message = ctx.error or (STATUS_OK, "")
        return Decision(Effect.INDETERMINATE, status=status, status_message=message)
    key = (decision, *(rule.position for rule in contributors))
    found = program.decisions.get(key)
    if found is None:
        found = program.decision(decision, contributors)
        if len(program.decisions) < _DECISION_CACHE_SIZE:
            program.decisions[key] = found
    return found


# ---------------------------------------------------------------------------------------------
# Enforcement (the PEP side)


def _levels(decision: Decision, category: str) -> list[int]:
    return [
        int(a.value.strip())
        for obligation in decision.obligations
        for a in obligation.assignments
        if a.category == category
    ]


def required_authentication_level(decision: Decision) -> int | None:
    """The ``urn:altinn:minimum-authenticationlevel`` the decision's obligations demand, if any.

    Every obligation must be fulfilled, so with several the strictest wins (Altinn policies carry
    one; Altinn's PEP reads the first).
    """
    levels = _levels(decision, MINIMUM_AUTHENTICATION_LEVEL)
    return max(levels) if levels else None


def required_authentication_level_org(decision: Decision) -> int | None:
    """The ``urn:altinn:minimum-authenticationlevel-org`` obligation, if any."""
    levels = _levels(decision, MINIMUM_AUTHENTICATION_LEVEL_ORG)
    return max(levels) if levels else None


def enforce_detailed(decision: Decision, subject_auth_level: int, subject_is_org: bool) -> Enforcement:
    """Altinn's ``ValidateDecisionResult``: Permit, and the authentication level obligation met.

    A subject below ``minimum-authenticationlevel`` is still authorized when it is an organisation
    (its token has ``urn:altinn:org``) and the policy has a ``minimum-authenticationlevel-org``
    obligation it meets. A refusal for the level carries ``{"RequiredAuthenticationLevel": level}``,
    the body Altinn apps send with the 403.
    """
    if decision.effect is not Effect.PERMIT:
        return Enforcement(False)
    minimum = required_authentication_level(decision)
    if minimum is None or subject_auth_level >= minimum:
        return Enforcement(True)
    if subject_is_org:
        minimum_org = required_authentication_level_org(decision)
        if minimum_org is not None:
            if subject_auth_level >= minimum_org:
                return Enforcement(True)
            minimum = minimum_org
    return Enforcement(False, {REQUIRED_AUTHENTICATION_LEVEL_KEY: str(minimum)})


def enforce(decision: Decision, subject_auth_level: int, subject_is_org: bool) -> bool:
    """True when the PEP may let the request through (see :func:`enforce_detailed`)."""
    return enforce_detailed(decision, subject_auth_level, subject_is_org).authorized


# ---------------------------------------------------------------------------------------------
# Parsing


def _check_lexical(value: str, data_type: str) -> None:
    if data_type == _INTEGER and not _INTEGER_RE.fullmatch(value.strip()):
        raise PolicyError(f"{value!r} is not a valid {data_type}")
    if data_type == _BOOLEAN and value.strip() not in _BOOLEAN_VALUES:
        raise PolicyError(f"{value!r} is not a valid {data_type}")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, reason: str, element: etree._Element | None = None) -> PolicyError:
        line = element.sourceline if element is not None else None
        return PolicyError(reason, source=self.source, line=line)

    @contextmanager
    def at(self, element: etree._Element) -> Iterator[None]:
        """Give model validation errors raised inside the block this element's location."""
        try:
            yield
        except PolicyError as exc:
            if exc.source is not None:
                raise
            raise self.error(exc.reason, element) from None

    def children(self, element: etree._Element) -> list[tuple[str, etree._Element]]:
        found: list[tuple[str, etree._Element]] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            qname = etree.QName(child)
            if qname.namespace != XACML_NAMESPACE:
                raise self.error(f"unexpected element <{child.tag}> (not XACML 3.0)", child)
            found.append((qname.localname, child))
        return found

    def unsupported(self, name: str, element: etree._Element, parent: str) -> PolicyError:
        return self.error(f"<{name}> in <{parent}> is not supported", element)

    def attribute(self, element: etree._Element, name: str) -> str:
        value: str | None = element.get(name)
        if value is None:
            raise self.error(f"<{etree.QName(element).localname}> is missing the {name} attribute", element)
        return value

    def effect(self, element: etree._Element, name: str) -> Effect:
        value = self.attribute(element, name)
        if value not in (Effect.PERMIT, Effect.DENY):
            raise self.error(f"{name} must be Permit or Deny, got {value!r}", element)
        return Effect(value)

    def text(self, element: etree._Element) -> str:
        if any(isinstance(child.tag, str) for child in element):
            raise self.error("structured XML content in an attribute value is not supported", element)
        return "".join(element.itertext())

    def policy(self, root: etree._Element) -> Policy:
        qname = etree.QName(root)
        if qname.localname == "PolicySet" and qname.namespace == XACML_NAMESPACE:
            raise self.error("<PolicySet> is not supported; an app policy is a single <Policy>", root)
        if qname.localname != "Policy" or qname.namespace != XACML_NAMESPACE:
            raise self.error(f"root element must be XACML 3.0 <Policy> ({XACML_NAMESPACE}), got <{root.tag}>")
        policy_id = self.attribute(root, "PolicyId")
        algorithm = self.attribute(root, "RuleCombiningAlgId")
        if algorithm not in _COMBINERS:
            raise self.error(f"unknown or unsupported RuleCombiningAlgId {algorithm!r}", root)
        description = ""
        target = Target()
        rules: list[Rule] = []
        obligations: tuple[ObligationExpression, ...] = ()
        advice: tuple[ObligationExpression, ...] = ()
        for name, child in self.children(root):
            if name == "Description":
                description = "".join(child.itertext()).strip()
            elif name == "Target":
                target = self.target(child)
            elif name == "Rule":
                rules.append(self.rule(child))
            elif name == "ObligationExpressions":
                obligations = self.expressions(child, "ObligationExpression", "ObligationId", "FulfillOn")
            elif name == "AdviceExpressions":
                advice = self.expressions(child, "AdviceExpression", "AdviceId", "AppliesTo")
            else:
                raise self.unsupported(name, child, "Policy")
        with self.at(root):
            return Policy(
                id=policy_id,
                rule_combining_algorithm=algorithm,
                rules=tuple(rules),
                target=target,
                version=root.get("Version", "1.0"),
                description=description,
                obligations=obligations,
                advice=advice,
                source=self.source,
            )

    def rule(self, element: etree._Element) -> Rule:
        rule_id = self.attribute(element, "RuleId")
        effect = self.effect(element, "Effect")
        description = ""
        target = Target()
        obligations: tuple[ObligationExpression, ...] = ()
        advice: tuple[ObligationExpression, ...] = ()
        for name, child in self.children(element):
            if name == "Description":
                description = "".join(child.itertext()).strip()
            elif name == "Target":
                target = self.target(child)
            elif name == "ObligationExpressions":
                obligations = self.expressions(child, "ObligationExpression", "ObligationId", "FulfillOn")
            elif name == "AdviceExpressions":
                advice = self.expressions(child, "AdviceExpression", "AdviceId", "AppliesTo")
            elif name == "Condition":
                raise self.error(f"rule {rule_id!r}: <Condition> is not supported", child)
            else:
                raise self.unsupported(name, child, "Rule")
        with self.at(element):
            return Rule(rule_id, effect, target, description, obligations, advice)

    def target(self, element: etree._Element) -> Target:
        any_ofs: list[AnyOf] = []
        for name, any_of in self.children(element):
            if name != "AnyOf":
                raise self.unsupported(name, any_of, "Target")
            all_ofs: list[AllOf] = []
            for all_name, all_of in self.children(any_of):
                if all_name != "AllOf":
                    raise self.unsupported(all_name, all_of, "AnyOf")
                matches: list[Match] = []
                for match_name, match in self.children(all_of):
                    if match_name != "Match":
                        raise self.unsupported(match_name, match, "AllOf")
                    matches.append(self.match(match))
                if not matches:
                    raise self.error("<AllOf> must contain at least one <Match>", all_of)
                all_ofs.append(AllOf(tuple(matches)))
            if not all_ofs:
                raise self.error("<AnyOf> must contain at least one <AllOf>", any_of)
            any_ofs.append(AnyOf(tuple(all_ofs)))
        return Target(tuple(any_ofs))

    def match(self, element: etree._Element) -> Match:
        function = self.attribute(element, "MatchId")
        if function not in _FUNCTIONS:
            raise self.error(
                f"unknown or unsupported match function {function!r} "
                f"(supported: {', '.join(sorted(f.rsplit(':', 1)[1] for f in set(_FUNCTIONS)))})",
                element,
            )
        value: etree._Element | None = None
        designator: etree._Element | None = None
        for name, child in self.children(element):
            if name == "AttributeValue" and value is None:
                value = child
            elif name == "AttributeDesignator" and designator is None:
                designator = child
            elif name == "AttributeSelector":
                raise self.error("<AttributeSelector> (XPath) is not supported", child)
            else:
                raise self.unsupported(name, child, "Match")
        if value is None or designator is None:
            raise self.error("<Match> needs one <AttributeValue> and one <AttributeDesignator>", element)
        text = self.text(value)
        for token in _PLACEHOLDERS:
            if token in text:
                raise self.error(
                    f"attribute value {text!r} still contains the placeholder {token}; "
                    "replace placeholders (parse_policy(..., org=, app=)) before parsing",
                    value,
                )
        with self.at(element):
            return Match(
                function=function,
                value=text,
                designator=self.designator(designator),
                data_type=self.attribute(value, "DataType"),
            )

    def designator(self, element: etree._Element) -> AttributeDesignator:
        if element.get("Issuer") is not None:
            raise self.error(
                "AttributeDesignator Issuer is not supported (requests carry no issuers)", element
            )
        must_be_present = self.attribute(element, "MustBePresent").strip()
        if must_be_present not in _BOOLEAN_VALUES:
            raise self.error(f"MustBePresent must be true or false, got {must_be_present!r}", element)
        with self.at(element):
            return AttributeDesignator(
                category=self.attribute(element, "Category"),
                attribute_id=self.attribute(element, "AttributeId"),
                data_type=self.attribute(element, "DataType"),
                must_be_present=_BOOLEAN_VALUES[must_be_present],
            )

    def expressions(
        self, element: etree._Element, child_name: str, id_attribute: str, effect_attribute: str
    ) -> tuple[ObligationExpression, ...]:
        expressions: list[ObligationExpression] = []
        for name, child in self.children(element):
            if name != child_name:
                raise self.unsupported(name, child, etree.QName(element).localname)
            assignments: list[AttributeAssignment] = []
            for assignment_name, assignment in self.children(child):
                if assignment_name != "AttributeAssignmentExpression":
                    raise self.unsupported(assignment_name, assignment, child_name)
                assignments.append(self.assignment(assignment))
            with self.at(child):
                expressions.append(
                    ObligationExpression(
                        self.attribute(child, id_attribute),
                        self.effect(child, effect_attribute),
                        tuple(assignments),
                    )
                )
        return tuple(expressions)

    def assignment(self, element: etree._Element) -> AttributeAssignment:
        if element.get("Issuer") is not None:
            raise self.error("AttributeAssignmentExpression Issuer is not supported", element)
        expressions = self.children(element)
        if len(expressions) != 1 or expressions[0][0] != "AttributeValue":
            raise self.error(
                "an AttributeAssignmentExpression must hold exactly one <AttributeValue> "
                "(computed assignments are not supported)",
                element,
            )
        value = expressions[0][1]
        with self.at(value):
            return AttributeAssignment(
                attribute_id=self.attribute(element, "AttributeId"),
                value=self.text(value),
                category=element.get("Category"),
                data_type=self.attribute(value, "DataType"),
            )


def parse_policy(
    xml: bytes | str,
    *,
    source: str = "policy.xml",
    org: str | None = None,
    app: str | None = None,
) -> Policy:
    """Parse an XACML 3.0 ``<Policy>`` as Altinn writes it.

    With ``org`` and ``app`` the ``[ORG]``/``[APP]``/``[org]``/``[app]`` placeholders Altinn Studio
    leaves in app policies are replaced first. Anything the evaluator would not honour exactly
    (conditions, XPath selectors, issuers, unknown functions or algorithms) is refused with a
    :class:`PolicyError` naming ``source`` and the line.
    """
    if (org is None) != (app is None):
        raise ValueError("pass both org and app, or neither")
    if org is not None and app is not None:
        if isinstance(xml, bytes):
            try:
                xml = xml.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise PolicyError(f"policy is not UTF-8: {exc}", source=source) from None
        xml = replace_placeholders(xml, org, app)
    try:
        root = parse_xml(xml)
    except XmlSyntaxError as exc:
        raise PolicyError(f"malformed XML: {exc}", source=source, line=exc.line) from None
    except UnsafeXml as exc:
        raise PolicyError(str(exc), source=source) from None
    except ValueError as exc:  # lxml refuses some str inputs (e.g. an encoding declaration it cannot honour)
        raise PolicyError(f"malformed XML: {exc}", source=source) from None
    return _Parser(source).policy(root)
