"""User accounts the reference site needs (demo admin and viewer)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction


@transaction.atomic
def account_ensure(*, username: str, password: str, staff: bool = False):
    """Create the account if missing; never changes an existing password."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": staff, "is_superuser": staff})
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user
