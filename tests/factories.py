"""factory_boy factories for the register. Writes in tests of behaviour go through services;
factories build the given state quickly."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from improvement import choices
from improvement.models import (
    KPI,
    Action,
    Baseline,
    Goal,
    Initiative,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    Vision,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pass-1234")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=["CSI manager"]) puts the user in those groups."""
        if create and extracted:
            # get_or_create: transactional tests flush the groups the migration made
            self.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in extracted])


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Goal

    title = factory.Sequence(lambda n: f"Goal {n}")
    description = "An organisational goal."


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practice

    name = factory.Sequence(lambda n: f"Practice {n}")


class InitiativeFactory(factory.django.DjangoModelFactory):
    """An initiative in `proposed`. Use `at_step` in conftest to put one further along."""

    class Meta:
        model = Initiative
        skip_postgeneration_save = True

    reference = factory.Sequence(lambda n: f"CIR-T{n:05d}")
    title = factory.Sequence(lambda n: f"Improve thing {n}")
    source = choices.Source.PROBLEM
    value = 4
    effort = 2
    urgency = 3


class VisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vision

    statement = "Customers get their service back within the hour."
    expected_value = "Fewer lost transactions."


class BaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Baseline

    assessment = "Resolution takes 9 hours on average."


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    objectives = "Cut mean time to resolve by 15 % within six months."


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    approach = "Swarming on P1 incidents."


class SustainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sustain

    embedding = "Knowledge article KB0012, training for all agents."
    lessons_learned = "Swarming works when the roster is clear."


class KPIFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPI

    initiative = factory.SubFactory(InitiativeFactory)
    key = factory.Sequence(lambda n: f"kpi-{n}")
    name = factory.Sequence(lambda n: f"KPI {n}")
    unit = "h"
    direction = choices.Direction.DECREASE
    aggregation = choices.Aggregation.LATEST
    baseline_value = 10.0
    baseline_date = dt.date(2026, 1, 1)
    target_value = 8.0
    target_date = dt.date(2026, 7, 1)


class ActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Action

    title = factory.Sequence(lambda n: f"Action {n}")
    status = choices.ActionStatus.PLANNED


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    iteration = 1
    decision = choices.Decision.ACHIEVED
    progress_check = "Objectives met."
