"""Reference data and system rows (improvement/admin/system.py): goals and the catalogue
written through their services; logs, events and the counter read-only.
"""

import uuid

import pytest

from improvement import services
from improvement.models import Counter, Event, Goal, KPICheck, Service, TransitionLog

from .support import admin_url, form_data

pytestmark = pytest.mark.django_db


def test_counter_and_logs_are_read_only(csi_client, populated):
    for model in (Counter, TransitionLog, Event, KPICheck):
        assert csi_client.get(admin_url(model, "add")).status_code == 403
    log = TransitionLog.objects.first()
    page = csi_client.get(admin_url(TransitionLog, "change", log.pk))
    assert b'type="submit"' not in page.content or b"_save" not in page.content


def test_goal_admin_writes_through_the_service(csi_client, csi):
    page = csi_client.get(admin_url(Goal, "add"))
    data = form_data(page) | {"title": "Customers first", "active": "on"}
    assert csi_client.post(admin_url(Goal, "add"), data).status_code == 302
    goal = Goal.objects.get(title="Customers first")
    assert goal.history.latest().history_user == csi


def test_unknown_event_id_does_not_break_event_admin(csi_client):
    Event.objects.create(id=uuid.uuid4(), type="initiative.created", payload={"id": 1})
    response = csi_client.get(admin_url(Event, "changelist"))
    assert response.status_code == 200


def test_catalogue_saves_go_through_the_service_and_record_the_actor(client, csi):
    client.force_login(csi)
    response = client.post(
        "/admin/improvement/service/add/", {"name": "Online Banking", "description": "Retail"}
    )
    assert response.status_code == 302
    service = Service.objects.get(name="Online Banking")
    assert service.description == "Retail"


def test_only_csi_managers_save_the_catalogue(csi, team_member):
    from improvement.exceptions import Forbidden

    with pytest.raises(Forbidden):
        services.service_save(actor=team_member, name="Shadow IT")
    assert services.service_save(actor=csi, name="Email").pk
