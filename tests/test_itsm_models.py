"""The database holds the ITSM records' invariants whatever door a row comes in by."""

import pytest
from django.db import IntegrityError, transaction

from improvement.models import ITSMRecord


def make(**kwargs):
    return ITSMRecord.objects.create(**{"system": "servicenow", "kind": "incident", **kwargs})


@pytest.mark.django_db
def test_a_number_is_unique_per_system_and_kind_whatever_its_case():
    make(number="INC0010001")
    with pytest.raises(IntegrityError), transaction.atomic():
        make(number="inc0010001")
    # the same number in another tool, or of another kind, is another record
    make(number="INC0010001", system="jira")
    make(number="INC0010001", kind="problem")
    assert ITSMRecord.objects.count() == 3


@pytest.mark.django_db
def test_a_record_needs_a_number():
    with pytest.raises(IntegrityError), transaction.atomic():
        make(number="")
    assert not ITSMRecord.objects.exists()
