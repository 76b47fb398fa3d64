"""factory_boy factories for the catalog, users and interactions."""

import factory
from django.contrib.auth import get_user_model

from mediarec.models import Interaction, Video


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


class VideoFactory(factory.django.DjangoModelFactory):
    """A metadata-only video (no file); pass ``embedding=`` to make it ready."""

    class Meta:
        model = Video

    title = factory.Sequence(lambda n: f"Video {n}")
    description = "A short clip."
    tags = "demo"


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    user = factory.SubFactory(UserFactory)
    video = factory.SubFactory(VideoFactory)
    kind = "view"
    value = 1.0
