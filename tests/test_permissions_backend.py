"""The permission backend: Django's rules, read in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from dermgmt import roles


@pytest.fixture
def clerk(db):
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.MAINTENANCE))
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="grid", codename="view_gridsensor"
        )
    )
    return user


def test_a_login_holds_its_own_and_its_roles_permissions_read_in_one_query(
    clerk, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert clerk.has_perm("grid.view_gridsensor")  # held directly
        assert clerk.has_perm("incidents.work_techniciantask")  # through the role
        assert not clerk.has_perm("assets.change_derasset")
    assert clerk.get_all_permissions() == {"grid.view_gridsensor"} | {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=roles.MAINTENANCE).permissions.all()
    }


def test_inactive_logins_hold_nothing_and_superusers_everything(clerk):
    boss = User.objects.create_superuser("boss", password="x")
    assert boss.get_all_permissions() >= {"assets.change_derasset", "auth.add_user"}
    clerk.is_active = False
    assert not clerk.has_perm("grid.view_gridsensor")
    assert clerk.get_all_permissions() == set()
