"""Writes of the benefits (SPEC §10): the expected benefits of an initiative and what they
realised, recorded at the review and at or after closing.

An expected benefit has a category, an amount (a Decimal between 0 and 10¹²), a unit or
currency and, optionally, the KPI of the same initiative it rests on. Units are kept as
typed except for case: a known ISO 4217 currency code is kept upper-case (`eur` → `EUR`),
any other unit lower-case (`Hours` → `hours`), so that sums group them as one.

A realisation is the realised figure to date: the latest one replaces the earlier ones
(they never add up) and is copied onto the benefit, where the portfolio sums it.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from django.db import transaction

from .. import choices, permissions
from ..exceptions import Conflict, InvalidInput
from ..models import BENEFIT_AMOUNT_LIMIT, KPI, Benefit, BenefitRealisation, Initiative
from .common import require, save_validated, text_problem, validate

#: ISO 4217 codes recognised as currencies (kept upper-case); any other unit is lower-cased
_CURRENCY_CODES = (
    "EUR USD GBP CHF JPY CNY AUD CAD NZD SEK NOK DKK ISK PLN CZK HUF RON BGN TRY RUB UAH "
    "INR PKR BDT LKR IDR MYR SGD THB VND PHP KRW HKD TWD AED SAR QAR KWD ILS EGP ZAR NGN "
    "KES MAD BRL MXN ARS CLP COP PEN"
)
CURRENCIES = frozenset(_CURRENCY_CODES.split(" "))
#: the fields of an expected benefit a caller may set
BENEFIT_FIELDS = ("category", "description", "amount", "unit", "kpi")


def normalise_unit(unit) -> str:
    """A unit as stored: blanks collapsed; an ISO 4217 currency upper-case, others lower."""
    if type(unit) is not str:
        raise InvalidInput("A unit or currency is required.", errors={"unit": ["Text required."]})
    text = " ".join(unit.split())
    if text.upper() in CURRENCIES:
        return text.upper()
    return text.lower()


def parse_amount(value, field: str = "amount") -> Decimal:
    """A finite Decimal between 0 and 10¹² with at most 2 decimals, or InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(
            "The amount must be a number.", errors={field: ["A number is required."]}
        )
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (decimal.InvalidOperation, ValueError):
        raise InvalidInput(
            "The amount must be a number.", errors={field: ["A number is required."]}
        ) from None
    if not amount.is_finite():
        raise InvalidInput(
            "The amount must be a finite number.", errors={field: ["A finite number is required."]}
        )
    if amount < 0 or amount > BENEFIT_AMOUNT_LIMIT:
        message = f"The amount must be between 0 and {BENEFIT_AMOUNT_LIMIT:,}."
        raise InvalidInput(message, errors={field: [message]})
    if amount != amount.quantize(Decimal("0.01"), rounding=decimal.ROUND_DOWN):
        message = "The amount has at most 2 decimals."
        raise InvalidInput(message, errors={field: [message]})
    return amount.quantize(Decimal("0.01"))


def _clean(benefit: Benefit, data: dict) -> None:
    unknown = sorted(set(data) - set(BENEFIT_FIELDS))
    if unknown:
        raise InvalidInput(
            f"Unknown field(s): {', '.join(unknown)}.",
            errors={k: ["This field cannot be set here."] for k in unknown},
        )
    errors: dict[str, list[str]] = {}
    if "amount" in data:
        try:
            benefit.amount = parse_amount(data["amount"])
        except InvalidInput as exc:
            errors.update(exc.errors)
    if "unit" in data:
        try:
            benefit.unit = normalise_unit(data["unit"])
        except InvalidInput as exc:
            errors.update(exc.errors)
    for name, limit in (("description", 200), ("category", 24)):
        if name in data:
            value = data[name]
            value = str(value) if isinstance(value, str) else value  # a TextChoices member
            problem = text_problem(value, limit)
            if problem:
                errors[name] = [problem]
            else:
                setattr(benefit, name, value.strip())
    if "kpi" in data:
        kpi = data["kpi"]
        if kpi is not None and not isinstance(kpi, KPI):
            errors["kpi"] = ["A KPI of this initiative is required."]
        elif kpi is not None and kpi.initiative_id != benefit.initiative_id:
            errors["kpi"] = [f"KPI '{kpi.name}' belongs to another initiative."]
        else:
            benefit.kpi = kpi
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors=errors)
    validate(benefit, exclude=("initiative", "created_by", "kpi"))


def benefit_create(
    *, actor, initiative: Initiative, category: str, amount, unit: str, **data
) -> Benefit:
    """Add an expected benefit to the initiative: whoever may edit it."""
    require(permissions.may_edit_benefits(actor, initiative), permissions.edit_denial(initiative))
    benefit = Benefit(initiative=initiative, created_by=actor)
    _clean(benefit, {"category": category, "amount": amount, "unit": unit, **data})
    with transaction.atomic():
        save_validated(benefit, actor=actor, validated=True)
    return benefit


def benefit_update(*, actor, benefit: Benefit, **data) -> Benefit:
    """Change an expected benefit (its category, amount, unit, description or KPI): whoever
    may edit the initiative. A benefit with realisations keeps its unit (the figures
    recorded were in it)."""
    initiative = benefit.initiative
    require(permissions.may_edit_benefits(actor, initiative), permissions.edit_denial(initiative))
    # as stored: a form may have set the new unit on the instance already
    old_unit = Benefit.objects.filter(pk=benefit.pk).values_list("unit", flat=True).first()
    _clean(benefit, data)
    if benefit.unit != old_unit and benefit.realisations.exists():
        benefit.unit = old_unit
        message = "The unit cannot change once a realised amount was recorded in it."
        raise Conflict(message, errors={"unit": [message]})
    with transaction.atomic():
        save_validated(benefit, actor=actor, validated=True)
    return benefit


def benefit_delete(*, actor, benefit: Benefit) -> None:
    """Remove an expected benefit nothing was realised against: whoever may edit the
    initiative (a realised one stays, as a record of what was delivered)."""
    initiative = benefit.initiative
    require(permissions.may_edit_benefits(actor, initiative), permissions.edit_denial(initiative))
    if benefit.realisations.exists():
        raise Conflict("A benefit with a realised amount recorded cannot be removed.")
    benefit._history_user = actor
    benefit.delete()


def benefit_realise(*, actor, benefit: Benefit, amount, note: str = "") -> BenefitRealisation:
    """Record what the benefit realised to date, at the review (step 6), while sustaining
    (step 7) or at or after closing: the initiative's editors and CSI managers. It becomes
    the benefit's realised amount (replacing an earlier figure)."""
    with transaction.atomic():
        # the row lock orders concurrent recordings: the last one recorded is the figure
        benefit = (
            Benefit.objects.select_for_update().select_related("initiative").get(pk=benefit.pk)
        )
        initiative = benefit.initiative
        if initiative.step not in choices.REALISATION_STEPS:
            raise Conflict(
                "A realised benefit is recorded at the review (step 6), while sustaining "
                f"(step 7) or once closed; this initiative is in {initiative.get_step_display()}."
            )
        require(permissions.may_realise_benefits(actor, initiative), permissions.NEED_REALISE)
        value = parse_amount(amount)
        problem = text_problem(note, 10_000)
        if problem:
            raise InvalidInput(problem, errors={"note": [problem]})
        realisation = BenefitRealisation.objects.create(
            benefit=benefit,
            amount=value,
            step=initiative.step,
            iteration=initiative.iteration,
            note=note.strip(),
            recorded_by=actor,
        )
        benefit.realised_amount = value
        benefit.realised_at = realisation.recorded_at
        save_validated(benefit, actor=actor, validated=True)
    return realisation
