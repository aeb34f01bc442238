"""App logic of ttd/reiseregning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tinn.applogic import ActionResult, AppLogic, FormDataReader, HookContext, InstantiationRefusal, Issue

APPROVAL_LIMIT = Decimal(10000)
Data = dict[str, Any]


def register(logic: AppLogic) -> None:
    @logic.instantiation_validator
    async def people_only(ctx: HookContext) -> InstantiationRefusal | None:
        if ctx.instance.instance_owner.person_number is None:
            return InstantiationRefusal("Reiseregninger sendes inn av personer, ikke av virksomheter.")
        return None

    @logic.on_data_creation
    async def currency(ctx: HookContext, data_type: str, data: Data, prefill: Mapping[str, str]) -> None:
        if data_type == "reise":
            data["valuta"] = "NOK"

    @logic.data_processor
    async def vat(ctx: HookContext, data_type: str, data: Data, previous: Data | None) -> None:
        if data_type == "reise" and data.get("belop") is not None:
            data["mva"] = (Decimal(data["belop"]) * Decimal("0.25")).quantize(Decimal("0.01"))

    @logic.validator("Reise.BelopValidator", data_type="reise", incremental=True)
    async def positive_amount(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        message = "Beløpet må være større enn null"
        return [
            Issue("belop-positivt", message, field="belop", data_element_id=element_id)
            for element_id, data in await read("reise")
            if data.get("belop") is not None and Decimal(data["belop"]) <= 0
        ]

    @logic.gateway("Gateway_Godkjenning")
    async def large_amounts_need_approval(
        ctx: HookContext, flow_ids: Sequence[str], action: str | None, read: FormDataReader
    ) -> list[str]:
        [(_, data)] = await read("reise")
        large = Decimal(data.get("belop") or 0) > APPROVAL_LIMIT
        return ["Til_Godkjenning" if large else "Rett_Til_Slutt"]

    @logic.user_action("eksempel")
    async def example(ctx: HookContext, read: FormDataReader, metadata: Mapping[str, str]) -> ActionResult:
        [(element_id, data)] = await read("reise")
        return ActionResult(updated_data={element_id: {**data, "formal": "Kurs i Bergen", "belop": 4200}})
