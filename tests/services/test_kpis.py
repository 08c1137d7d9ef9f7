"""KPI definitions (services/kpis.py): targets on the better side, target dates, a target as a
change %, unique keys."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from improvement import services
from improvement.choices import (
    KPIStatus,
    Step,
)
from improvement.exceptions import InvalidInput
from improvement.models import (
    KPI,
    Initiative,
    KPICheck,
)

from ..conftest import force_step
from .conftest import at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]


@pytest.mark.parametrize(
    ("direction", "target", "side"),
    [
        pytest.param("increase", 80.0, "above", id="increase-target-below-baseline"),
        pytest.param("increase", 90.0, "above", id="increase-target-equal-to-baseline"),
        pytest.param("decrease", 95.0, "below", id="decrease-target-above-baseline"),
        pytest.param("decrease", 90.0, "below", id="decrease-target-equal-to-baseline"),
    ],
)
def test_kpi_target_on_the_wrong_side_names_target_value(
    direction, target, side, team_member, initiative_at
):
    initiative = initiative_at(Step.TARGET)
    kpis_before = KPI.objects.count()
    with pytest.raises(InvalidInput) as exc:
        services.kpi_create(
            initiative=initiative,
            actor=team_member,
            key="first-time-fix",
            name="First-time fix rate",
            direction=direction,
            baseline_value=90.0,
            target_value=target,
        )
    assert list(exc.value.errors) == ["target_value"]
    assert exc.value.errors["target_value"] == [
        f"The target must be {side} the baseline (90) for a KPI that should {direction}."
    ]
    assert KPI.objects.count() == kpis_before


@pytest.mark.parametrize(("direction", "target"), [("increase", 95.0), ("decrease", 85.0)])
def test_kpi_target_on_the_better_side_is_stored(direction, target, team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    kpi = services.kpi_create(
        initiative=initiative,
        actor=team_member,
        key="ftf",
        name="First-time fix rate",
        direction=direction,
        baseline_value=90.0,
        target_value=target,
    )
    assert KPI.objects.get(pk=kpi.pk).target_value == target


def test_kpi_update_to_the_wrong_side_is_refused_and_keeps_the_kpi(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    kpi = initiative.kpis.get()  # decrease, 10 → 8
    with pytest.raises(InvalidInput) as exc:
        services.kpi_update(kpi=kpi, actor=team_member, target_value=12.0)
    assert list(exc.value.errors) == ["target_value"]
    assert KPI.objects.get(pk=kpi.pk).target_value == 8.0


def test_kpi_target_date_not_after_baseline_names_target_date(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    with pytest.raises(InvalidInput) as exc:
        services.kpi_create(
            initiative=initiative,
            actor=team_member,
            key="mttr",
            name="MTTR",
            direction="decrease",
            baseline_date=dt.date(2026, 3, 1),
            target_date=dt.date(2026, 3, 1),
        )
    assert exc.value.errors == {"target_date": ["The target date must be after the baseline date."]}


def test_target_change_pct_is_stored_as_the_absolute_target(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    kpi = services.kpi_create(
        initiative=initiative,
        actor=team_member,
        key="mttr",
        name="Mean time to resolve",
        direction="decrease",
        baseline_value=9.0,
        target_change_pct=-15,
    )
    assert KPI.objects.get(pk=kpi.pk).target_value == pytest.approx(9.0 * 0.85)
    # and on update, relative to the stored baseline
    services.kpi_update(kpi=kpi, actor=team_member, target_change_pct=-40)
    assert KPI.objects.get(pk=kpi.pk).target_value == pytest.approx(5.4)


def test_target_change_pct_on_the_wrong_side_names_target_value(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    with pytest.raises(InvalidInput) as exc:
        services.kpi_create(
            initiative=initiative,
            actor=team_member,
            key="csat",
            name="Satisfaction",
            direction="increase",
            baseline_value=3.2,
            target_change_pct=-10,
        )
    assert list(exc.value.errors) == ["target_value"]


def test_target_change_pct_without_baseline_is_refused(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    with pytest.raises(InvalidInput) as exc:
        services.kpi_create(
            initiative=initiative,
            actor=team_member,
            key="csat",
            name="Satisfaction",
            direction="increase",
            target_change_pct=25,
        )
    assert exc.value.errors == {"target_change_pct": ["Set the baseline value first."]}


def test_duplicate_kpi_key_is_invalid_input(team_member, initiative_at):
    initiative = initiative_at(Step.TARGET)
    key = initiative.kpis.get().key
    with pytest.raises(InvalidInput) as exc:
        services.kpi_create(
            initiative=initiative, actor=team_member, key=key, name="Again", direction="increase"
        )
    assert list(exc.value.errors) == ["key"]


def test_target_change_pct_is_stored_as_absolute(initiative_at, csi):
    initiative = initiative_at(Step.TARGET)
    kpi = services.kpi_create(
        initiative=initiative, actor=csi, key="csat", name="Satisfaction", direction="increase",
        baseline_value=3.2, baseline_date=dt.date(2026, 1, 1), target_change_pct=25,
        target_date=dt.date(2026, 12, 31),
    )  # fmt: skip
    assert kpi.target_value == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_days", 36_501), ("target_date", dt.date(9999, 12, 31)),
     ("baseline_date", dt.date(1, 1, 1))],
)  # fmt: skip
def test_kpi_windows_and_dates_a_check_cannot_compute_are_refused(kpi, csi, field, value):
    # (a target on 9999-12-31 ends in the year 10 000, which no datetime can hold; the
    # check of every KPI swept with it would fail)
    with pytest.raises(InvalidInput) as err:
        services.kpi_update(kpi=kpi, actor=csi, **{field: value})
    assert field in err.value.errors
    assert getattr(KPI.objects.get(pk=kpi.pk), field) != value


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_days", 36_501), ("target_date", dt.date(9999, 12, 31)),
     ("baseline_date", dt.date(1899, 12, 31))],
)  # fmt: skip
def test_database_refuses_kpi_windows_and_dates_out_of_range(kpi, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        KPI.objects.filter(pk=kpi.pk).update(**{field: value})


def test_widest_window_and_latest_dates_still_check(kpi, csi):
    force_step(kpi.initiative, Step.TARGET)  # the definition is still open in step 3
    services.kpi_update(kpi=kpi, actor=csi, window_days=36_500, aggregation="mean",
                        target_date=dt.date(8999, 12, 31))  # fmt: skip
    services.measurement_record(kpi=kpi, actor=csi, points=[{"value": 9.0, "measured_at": at(1)}])
    assert KPICheck.objects.filter(kpi=kpi).latest("checked_at").current == 9.0


def test_a_target_value_and_a_change_together_are_refused(initiative_at, csi):
    with pytest.raises(InvalidInput) as err:
        services.kpi_create(
            initiative=initiative_at(Step.TARGET), actor=csi, key="csat", name="Satisfaction",
            direction="increase", baseline_value=3.2, baseline_date=dt.date(2026, 1, 1),
            target_value=4.5, target_change_pct=25, target_date=dt.date(2026, 12, 31),
        )  # fmt: skip
    assert "target_change_pct" in err.value.errors
    assert not KPI.objects.filter(key="csat").exists()


def test_a_change_next_to_the_current_target_value_replaces_it(kpi, csi):
    force_step(kpi.initiative, Step.TARGET)  # the definition is still open in step 3
    # a form shows the current target and sends it back with the change % typed beside it
    services.kpi_update(kpi=kpi, actor=csi, target_value=kpi.target_value, target_change_pct=-25)
    kpi.refresh_from_db()
    assert kpi.target_value == pytest.approx(7.5)


def test_health_follows_kpis_being_added_and_removed(initiative_at, csi):
    initiative = initiative_at(Step.BASELINE)
    initiative.kpis.all().delete()
    services.initiative_refresh_health(initiative=initiative)
    assert Initiative.objects.get(pk=initiative.pk).health == "none"
    kpi = services.kpi_create(
        initiative=initiative, actor=csi, key="new-kpi", name="New", direction="decrease",
        baseline_value=5.0, baseline_date=dt.date(2026, 1, 1), target_value=4.0,
        target_date=dt.date(2027, 1, 1),
    )  # fmt: skip
    assert Initiative.objects.get(pk=initiative.pk).health == KPIStatus.NO_DATA
    services.kpi_delete(kpi=kpi, actor=csi)
    assert Initiative.objects.get(pk=initiative.pk).health == "none"
