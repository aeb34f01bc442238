"""Instance ids and self links (`selfLinks.apps` / `selfLinks.platform`)."""

from __future__ import annotations

import uuid

from tinn.http.errors import framework_problem
from tinn.instances.models import DataElement, Instance, ResourceLinks


def instance_id(party_id: int | str, guid: uuid.UUID | str) -> str:
    return f"{party_id}/{guid}"


def split_instance_id(value: str) -> tuple[int, uuid.UUID] | None:
    """`"{partyId}/{guid}"` -> (party id, guid); None when malformed."""
    party, _, guid = value.partition("/")
    try:
        return int(party), uuid.UUID(guid)
    except ValueError:
        return None


def parse_guid(value: str) -> uuid.UUID:
    """A route GUID; a malformed one is no route match (404), as ASP.NET's `:guid` constraint."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise framework_problem(404) from None


class Links:
    """Builds self links from the public base URLs of the App API and the platform."""

    def __init__(self, apps_base: str, platform_base: str) -> None:
        self.apps_base = apps_base.rstrip("/")
        self.platform_base = platform_base.rstrip("/")

    def app_instance(self, org: str, app: str, iid: str) -> str:
        return f"{self.apps_base}/{org}/{app}/instances/{iid}"

    def platform_instance(self, iid: str) -> str:
        return f"{self.platform_base}/storage/api/v1/instances/{iid}"

    def decorate(self, instance: Instance, *, apps: bool = True) -> Instance:
        """A copy of ``instance`` (and its data elements) with self links filled in."""
        assert instance.id is not None and instance.app_id is not None
        org, _, app = instance.app_id.partition("/")
        iid = instance.id
        copy = instance.model_copy()
        copy.self_links = ResourceLinks(
            apps=self.app_instance(org, app, iid) if apps else None,
            platform=self.platform_instance(iid),
        )
        if instance.data is not None:
            copy.data = [self.decorate_data(org, app, iid, element, apps=apps) for element in instance.data]
        return copy

    def decorate_data(
        self, org: str, app: str, iid: str, element: DataElement, *, apps: bool = True
    ) -> DataElement:
        copy = element.model_copy()
        copy.self_links = ResourceLinks(
            apps=f"{self.app_instance(org, app, iid)}/data/{element.id}" if apps else None,
            platform=f"{self.platform_instance(iid)}/data/{element.id}",
        )
        return copy
