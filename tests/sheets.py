"""Spreadsheet files for the import tests, made with openpyxl as a user's Excel would be."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook


def xlsx_bytes(rows) -> bytes:
    """An XLSX workbook whose first sheet holds `rows` (the header first, if any)."""
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def xlsx_upload(rows, name: str = "register.xlsx") -> SimpleUploadedFile:
    """The same, as an uploaded file for a form or API post."""
    return SimpleUploadedFile(name, xlsx_bytes(rows))
