"""registry.auth_backends.OneQueryModelBackend: Django's permission rules, read in one query."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.auth_backends import OneQueryModelBackend

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permissions cached on the object


@pytest.fixture
def users():
    own, in_group, both, neither = (User.objects.create(username=name) for name in ("own", "group", "both", "none"))
    view_case = Permission.objects.get(codename="view_case")
    change_source = Permission.objects.get(codename="change_source")
    group = Group.objects.create(name="readers")
    group.permissions.add(view_case, Permission.objects.get(codename="view_source"))
    own.user_permissions.add(change_source)
    in_group.groups.add(group)
    both.user_permissions.add(change_source, view_case)  # view_case both ways: counted once
    both.groups.add(group, Group.objects.get(name="curator"))
    superuser = User.objects.create(username="root", is_superuser=True)
    inactive = User.objects.create(username="gone", is_active=False)
    inactive.user_permissions.add(change_source)
    return [own, in_group, both, neither, superuser, inactive]


def test_every_user_gets_the_permissions_djangos_backend_gives(users):
    for user in users:
        expected = ModelBackend().get_all_permissions(fresh(user))
        assert OneQueryModelBackend().get_all_permissions(fresh(user)) == expected, user.username
    assert "cases.change_source" in OneQueryModelBackend().get_all_permissions(fresh(users[0]))
    assert len(OneQueryModelBackend().get_all_permissions(fresh(users[4]))) == Permission.objects.count()
    assert OneQueryModelBackend().get_all_permissions(fresh(users[5])) == set()  # inactive
    assert OneQueryModelBackend().get_all_permissions(AnonymousUser()) == set()
    assert OneQueryModelBackend().get_all_permissions(fresh(users[0]), obj=users[1]) == set()  # no object permissions


def test_a_users_permissions_are_one_query_then_cached_on_the_user(users):
    user = fresh(users[2])
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("cases.view_case")  # through settings.AUTHENTICATION_BACKENDS
        assert user.has_perm("cases.view_source")
        assert user.has_perm("cases.change_source")
        assert not user.has_perm("auth.delete_user")
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        ModelBackend().get_all_permissions(fresh(users[2]))
    assert len(queries) == 3  # Django's: the user, then its own permissions and its groups' (two)


def test_the_registry_uses_it():
    from django.conf import settings

    assert settings.AUTHENTICATION_BACKENDS == ["registry.auth_backends.OneQueryModelBackend"]
