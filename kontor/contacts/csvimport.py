"""Contact import from CSV: streamed row by row, every bad row reported with its line number, and
nothing applied unless every row is valid or the caller asks for the valid rows only. Applying is one
transaction, set-based (bulk_create / bulk_update in chunks), audited as one row.

Problems with the file itself (too large, binary, not UTF-8, no phone column, not CSV) raise
Invalid on the field "file"; problems with rows are in the returned ImportReport."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from kontor.audit.services import record
from kontor.contacts.models import Contact, Phonebook
from kontor.contacts.services import account_columns, region_of
from kontor.contacts.values import clean_phone, clean_value, columns_by_name, search_text
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.tenancy.models import CustomColumn

if TYPE_CHECKING:
    from kontor.access.models import User

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
CHUNK = 1_000
PHONE_HEADERS = {"phone", "mobile", "msisdn", "number", "phone number", "mobile number"}
DELIMITERS = ",;\t"
# stream_csv escapes cells that a spreadsheet would run as a formula with a leading apostrophe (an
# exported "-4" reads "'-4"); undo that so an export imports again unchanged.
_ESCAPED = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header
    reason: str
    column: str = ""
    value: str = ""


@dataclass
class ImportReport:
    rows: int = 0  # data rows read (blank lines are skipped)
    valid: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    applied: bool = False
    dry_run: bool = False
    only_valid: bool = False
    delimiter: str = ","
    columns: list[str] = field(default_factory=list)  # the account columns the file fills, phone first
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        """Data rows with at least one problem (the header's own problem is not a row)."""
        return len({e.line for e in self.errors if e.line > 1})

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["invalid"] = self.invalid
        return out


class _Refused(Exception):
    pass


class _Guarded(io.RawIOBase):
    """Reads the upload, refusing it once it passes the size limit or shows a NUL byte (binary or
    UTF-16), before the CSV parser sees any of it."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        self._source = source
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._source.read(len(buffer))
        if isinstance(chunk, str):  # a text file object was passed: treat it as UTF-8
            chunk = chunk.encode("utf-8")
        n = len(chunk)
        self._read += n
        if self._read > self._limit:
            raise _Refused(f"The file is larger than {_size(self._limit)}; split it into smaller files.")
        if b"\x00" in chunk:
            raise _Refused(
                "The file contains NUL bytes, so it is not a text CSV file "
                "(a spreadsheet or UTF-16 file?). Save it as “CSV UTF-8” and upload that."
            )
        buffer[:n] = chunk
        return n


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _max_bytes() -> int:
    return int(getattr(settings, "KONTOR_MAX_IMPORT_BYTES", DEFAULT_MAX_BYTES) or DEFAULT_MAX_BYTES)


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _Refused("The file is UTF-16 text; save it as “CSV UTF-8” and upload that.")
    # The sample may end inside a multi-byte character: drop up to three trailing bytes.
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
    raise _Refused("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload that.")


def _delimiter(sample: str) -> str:
    lines = sample.splitlines()
    first = lines[0] if lines else ""
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "\n".join(lines[:-1])  # the last line of a sample is usually cut short
    try:
        found: str | None = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = None
    counts = {d: first.count(d) for d in DELIMITERS}
    if found is None or (counts.get(found, 0) == 0 and max(counts.values()) > 0):
        best = max(counts, key=lambda d: counts[d])
        found = best if counts[best] else ","
    return found


def _cell(row: list[str], index: int) -> str:
    text = row[index] if index < len(row) else ""
    if len(text) > 1 and text[0] == "'" and text[1] in _ESCAPED:
        text = text[1:]
    return text.strip()


@dataclass
class _Layout:
    phone: int
    columns: list[tuple[int, CustomColumn]]
    width: int


def _layout(header: list[str], columns: list[CustomColumn], report: ImportReport) -> _Layout:
    by_name = columns_by_name(columns)
    phone: int | None = None
    mapped: list[tuple[int, CustomColumn]] = []
    used: set[str] = set()
    for index in range(len(header)):
        name = _cell(header, index).lstrip("\ufeff")
        key = name.lower()
        if not key:
            continue
        # An account column named e.g. "Number" wins over the phone aliases it shares a name with.
        is_phone = key in PHONE_HEADERS and key not in by_name
        if key in used or (is_phone and phone is not None):
            raise _Refused(f"The column “{name}” appears twice in the header; keep one.")
        used.add(key)
        if is_phone:
            phone = index
        elif key in by_name:
            mapped.append((index, by_name[key]))
        else:
            report.ignored_columns.append(name)
    if phone is None:
        found = ", ".join(f"“{h.strip()}”" for h in header if h.strip()) or "nothing"
        raise _Refused(
            "The file has no phone number column: name one column phone, mobile, msisdn or number. "
            f"The header has {found}."
        )
    report.columns = ["phone", *(c.name for _, c in mapped)]
    if report.ignored_columns:
        known = ", ".join(c.name for c in columns) or "none"
        unknown = ", ".join(report.ignored_columns)
        report.errors.append(
            RowError(
                line=1,
                reason=f"Unknown column {unknown}: this account's columns are {known}. "
                "Importing only the valid rows leaves it out.",
                column=unknown,
            )
        )
    return _Layout(phone=phone, columns=mapped, width=len(header))


def _rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _Refused(f"Line {start}: {exc}. The file is not valid CSV.") from None
        except UnicodeDecodeError:
            raise _Refused(
                f"Around line {start} the file is not UTF-8 text. Save it as “CSV UTF-8” and upload that."
            ) from None
        yield start, row


def import_contacts(
    phonebook: Phonebook,
    fileobj: IO[bytes],
    *,
    actor: User | None,
    only_valid: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import `fileobj` (CSV bytes, UTF-8 with or without BOM, `,` `;` or tab separated) into
    `phonebook`. A contact already in the phonebook with the same phone gets the file's values for
    the columns the file has (an empty cell clears it); other columns keep theirs."""
    try:
        return _import(phonebook, fileobj, actor=actor, only_valid=only_valid, dry_run=dry_run)
    except _Refused as exc:
        raise Invalid.field("file", str(exc)) from None


def _import(
    phonebook: Phonebook, fileobj: IO[bytes], *, actor: User | None, only_valid: bool, dry_run: bool
) -> ImportReport:
    account = phonebook.account
    if not account.is_active:
        raise Conflict("This account is archived; restore it before changing it.", code=ErrorCode.ACCOUNT_ARCHIVED)
    limit = _max_bytes()
    size = getattr(fileobj, "size", None)
    if isinstance(size, int) and size > limit:
        raise _Refused(f"The file is larger than {_size(limit)}; split it into smaller files.")
    buffered = io.BufferedReader(_Guarded(fileobj, limit), buffer_size=64 * 1024)
    head = buffered.peek(4096)[:4096]
    if not head.strip():
        raise _Refused("The file is empty.")
    report = ImportReport(dry_run=dry_run, only_valid=only_valid)
    report.delimiter = _delimiter(_decode_head(head)[:1024])
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, delimiter=report.delimiter)
    rows = _rows(reader)
    header = next((row for _, row in rows if any(c.strip() for c in row)), None)
    if header is None:
        raise _Refused("The file is empty.")
    columns = account_columns(account)
    layout = _layout(header, columns, report)
    region = region_of(account)
    first_line: dict[str, int] = {}
    good: list[tuple[str, dict[str, str]]] = []
    for line, row in rows:
        if not any(c.strip() for c in row):
            continue
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise _Refused(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")
        problems: list[RowError] = []
        if len(row) > layout.width and any(c.strip() for c in row[layout.width :]):
            problems.append(RowError(line, f"The row has {len(row)} cells but the header has {layout.width}."))
        raw_phone = _cell(row, layout.phone)
        phone = ""
        try:
            phone = clean_phone(raw_phone, region)
        except Invalid as exc:
            problems.append(RowError(line, exc.message, "phone", raw_phone[:100]))
        values: dict[str, str] = {}
        for index, column in layout.columns:
            raw = _cell(row, index)
            try:
                values[str(column.pk)] = clean_value(column, raw, region)
            except Invalid as exc:
                problems.append(RowError(line, exc.message, column.name, raw[:100]))
        if phone:
            if phone in first_line:
                problems.append(RowError(line, f"{phone} is also on line {first_line[phone]}.", "phone", raw_phone))
            else:
                first_line[phone] = line
        if problems:
            report.errors.extend(problems)
        else:
            good.append((phone, values))
    report.valid = len(good)
    if report.has_errors and not only_valid:
        return report
    if dry_run:
        _count(phonebook, good, report)
        return report
    if not good:
        return report
    _apply(phonebook, good, report, actor=actor)
    return report


def _existing(phonebook: Phonebook, phones: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    found: dict[str, tuple[int, dict[str, str]]] = {}
    for start in range(0, len(phones), CHUNK):
        chunk = phones[start : start + CHUNK]
        for pk, phone, values in Contact.objects.filter(phonebook=phonebook, phone__in=chunk).values_list(
            "pk", "phone", "values"
        ):
            found[phone] = (pk, values or {})
    return found


def _merged(current: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    out = dict(current)
    for key, value in changes.items():
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    return out


def _count(phonebook: Phonebook, good: list[tuple[str, dict[str, str]]], report: ImportReport) -> None:
    existing = _existing(phonebook, [p for p, _ in good])
    for phone, values in good:
        if phone not in existing:
            report.created += 1
        elif _merged(existing[phone][1], values) != existing[phone][1]:
            report.updated += 1
        else:
            report.unchanged += 1


def _apply(
    phonebook: Phonebook, good: list[tuple[str, dict[str, str]]], report: ImportReport, *, actor: User | None
) -> None:
    account = phonebook.account
    now = timezone.now()
    in_use = {str(pk) for pk in CustomColumn.objects.filter(account=account).values_list("pk", flat=True)}
    try:
        with transaction.atomic():
            # One import per phonebook at a time, so two uploads of one file cannot both create a row.
            Phonebook.objects.select_for_update().filter(pk=phonebook.pk).exists()
            existing = _existing(phonebook, [p for p, _ in good])
            new: list[Contact] = []
            changed: list[Contact] = []
            for phone, values in good:
                if phone not in existing:
                    kept = {k: v for k, v in values.items() if v}
                    new.append(
                        Contact(
                            customer_id=account.customer_id,
                            account=account,
                            phonebook=phonebook,
                            phone=phone,
                            values=kept,
                            search=search_text(phone, kept),
                        )
                    )
                    if len(new) >= CHUNK:
                        Contact.objects.bulk_create(new, batch_size=CHUNK)
                        report.created += len(new)
                        new = []
                    continue
                pk, current = existing[phone]
                merged = _merged(current, values)
                if merged == current:
                    report.unchanged += 1
                    continue
                changed.append(Contact(pk=pk, values=merged, search=search_text(phone, merged, in_use), updated_at=now))
                if len(changed) >= CHUNK:
                    Contact.objects.bulk_update(changed, ["values", "search", "updated_at"], batch_size=CHUNK)
                    report.updated += len(changed)
                    changed = []
            if new:
                Contact.objects.bulk_create(new, batch_size=CHUNK)
                report.created += len(new)
            if changed:
                Contact.objects.bulk_update(changed, ["values", "search", "updated_at"], batch_size=CHUNK)
                report.updated += len(changed)
            report.applied = True
            record(
                "phonebook.import",
                phonebook,
                actor=actor,
                customer=account.customer_id,
                account_id=account.pk,
                after={
                    "rows": report.rows,
                    "valid": report.valid,
                    "invalid": report.invalid,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "only_valid": report.only_valid,
                    "ignored_columns": report.ignored_columns,
                },
            )
    except IntegrityError:
        report.applied = False
        report.created = report.updated = report.unchanged = 0
        raise Conflict(
            "Contacts were added to this phonebook while the file was imported; nothing was imported. Please try again."
        ) from None
