"""Finding the next process element: follow flows, filter exclusive gateways (app notes 3.4).

From the current element, every outgoing flow's target is a candidate. A gateway is resolved
recursively: if any of its outgoing flows has a condition, the flows whose condition holds are
kept (flows without a condition always are); otherwise an app-registered gateway filter decides,
or every flow is kept. If the gateway's `default` flow survives, it wins. The overall result must
be exactly one element.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from tinn.process.bpmn import ExclusiveGateway, ProcessDefinition, ProcessElement, SequenceFlow

ConditionEvaluator = Callable[[SequenceFlow, ExclusiveGateway], Awaitable[bool]]
GatewayFilter = Callable[[ExclusiveGateway, list[SequenceFlow], str | None], Awaitable[list[SequenceFlow]]]

# Gateways chained deeper than this are a modelling error (or a loop of gateways).
_MAX_GATEWAY_DEPTH = 50


class NavigationError(Exception):
    """The process cannot move on: no next element, or several."""


async def next_element(
    definition: ProcessDefinition,
    current_id: str,
    action: str | None,
    *,
    evaluate: ConditionEvaluator,
    gateway_filters: Mapping[str, GatewayFilter] | None = None,
) -> ProcessElement:
    """The single element the process moves to from ``current_id`` given the request ``action``."""
    filters = gateway_filters or {}
    candidates: list[ProcessElement] = []
    for flow in definition.outgoing_flows(current_id):
        target = definition.element(flow.target)
        if target is not None:
            candidates.extend(await _follow(definition, target, action, evaluate, filters, 0))
    if not candidates:
        raise NavigationError("Next process element was unexpectedly null")
    if len(candidates) > 1:
        raise NavigationError(
            f"Multiple next elements found from {current_id}. "
            "Please supply action and filters or define a default flow."
        )
    return candidates[0]


async def _follow(
    definition: ProcessDefinition,
    element: ProcessElement,
    action: str | None,
    evaluate: ConditionEvaluator,
    filters: Mapping[str, GatewayFilter],
    depth: int,
) -> list[ProcessElement]:
    if not isinstance(element, ExclusiveGateway):
        return [element]
    if depth > _MAX_GATEWAY_DEPTH:
        raise NavigationError(f"Gateway chain deeper than {_MAX_GATEWAY_DEPTH} at {element.id}")
    flows = list(definition.outgoing_flows(element.id))
    if any(flow.has_condition for flow in flows):
        kept = [flow for flow in flows if not flow.has_condition or await evaluate(flow, element)]
    elif element.id in filters:
        kept = await filters[element.id](element, flows, action)
    else:
        kept = flows
    default = next((flow for flow in kept if flow.id == element.default_flow), None)
    chosen = [default] if default is not None else kept
    result: list[ProcessElement] = []
    for flow in chosen:
        target = definition.element(flow.target)
        if target is not None:
            result.extend(await _follow(definition, target, action, evaluate, filters, depth + 1))
    return result
