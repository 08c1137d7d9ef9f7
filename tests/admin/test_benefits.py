"""The benefits inline of the initiative's change form: saved through the benefit services."""

from decimal import Decimal

import pytest

from improvement import services
from improvement.choices import Step
from improvement.models import Benefit

from .support import change_url, save_initiative

pytestmark = pytest.mark.django_db


def test_the_benefit_inline_goes_through_the_services(csi_client, csi, initiative_at):
    initiative = initiative_at(Step.REVIEW)
    kpi = initiative.kpis.get()
    save_initiative(
        csi_client,
        initiative,
        rows={
            "benefits": [
                {"category": "cost_reduction", "amount": "2500", "unit": "eur", "kpi": kpi.pk}
            ]
        },
    )
    benefit = Benefit.objects.get()
    assert (benefit.amount, benefit.unit, benefit.kpi) == (Decimal(2500), "EUR", kpi)
    assert benefit.history.get().history_user == csi
    services.benefit_realise(actor=csi, benefit=benefit, amount="100")
    # a realised benefit is kept: the delete is refused with a message, nothing changes
    save_initiative(csi_client, initiative, fields={"benefits-0-DELETE": "on"})
    assert Benefit.objects.filter(pk=benefit.pk).exists()
    page = csi_client.get(change_url(initiative))
    assert "cannot be removed" in page.content.decode()
