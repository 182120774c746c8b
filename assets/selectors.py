"""Reads of the asset registry that other code reuses."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from assets.models import AssetTelemetry, DERAsset, Owner


def user_owner_id(user: User | AnonymousUser) -> int | None:
    """The owner a login is scoped to, or None for staff who see every owner.

    A superuser, or a login without an owner record, is not scoped. A login that
    is linked to an owner sees that owner's rows only.
    """
    if not user.is_authenticated or user.is_superuser:
        return None
    return Owner.objects.filter(user=user).values_list("pk", flat=True).first()


def owners_visible_to(*, user: User | AnonymousUser) -> QuerySet[Owner]:
    owner_id = user_owner_id(user)
    owners = Owner.objects.all()
    return owners if owner_id is None else owners.filter(pk=owner_id)


def assets_visible_to(*, user: User | AnonymousUser) -> QuerySet[DERAsset]:
    owner_id = user_owner_id(user)
    assets = DERAsset.objects.all()
    return assets if owner_id is None else assets.filter(owner_id=owner_id)


def telemetry_visible_to(*, user: User | AnonymousUser) -> QuerySet[AssetTelemetry]:
    owner_id = user_owner_id(user)
    telemetry = AssetTelemetry.objects.all()
    return telemetry if owner_id is None else telemetry.filter(asset__owner_id=owner_id)
