"""Forms of the people loop: a comment, and closing an initiative as a duplicate."""

from __future__ import annotations

from django import forms

from ..services.comments import MAX_COMMENT_LENGTH


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=MAX_COMMENT_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Plain text; links become clickable; @username mentions someone.",
    )


class CloseAsDuplicateForm(forms.Form):
    duplicate_of = forms.CharField(
        label="Duplicate of (reference)",
        max_length=20,
        help_text="The initiative that carries on, e.g. CIR-00042.",
        widget=forms.TextInput(attrs={"placeholder": "CIR-00042", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
