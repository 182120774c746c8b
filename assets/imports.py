"""Bulk CSV import and export of the asset registry (docs/import.md).

One file is one transaction: every row is read and validated first, with every
bad row reported by its line number, and only a file without a single error is
written, set-based (COPY / one UPDATE), never row by row. The rules are the
model's own: each column is converted and validated by its model field
(`to_python`, choices, validators), each row checked against the model's check
constraints (evaluated here in Python, with SQL's NULL semantics) and its kind's
requirements (`asset_kind_errors`), so the admin form, the import and the
database agree. The admin (through `assets.resources`), the `import_assets`
command and the Celery task for big files all call `assets_import`.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import phonenumbers
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from django.db import connection, transaction
from django.db.models import (
    CharField,
    CheckConstraint,
    EmailField,
    F,
    Field,
    FloatField,
    JSONField,
    Q,
    QuerySet,
    SlugField,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from assets.models import (
    AssetStatus,
    DERAsset,
    Owner,
    SetpointSource,
    asset_kind_errors,
)
from assets.selectors import user_owner_id
from dermgmt.db import insert_rows, update_rows
from grid.models import Substation

# The file's columns, in the order exports write them. Every column but the
# owner's and the substation's is the DERAsset field of the same name.
OWNER_COLUMNS = {"owner_email": "email", "owner_name": "name", "owner_phone": "phone"}
ASSET_COLUMNS = [
    "uid",
    "name",
    "kind",
    "status",
    "latitude",
    "longitude",
    "protocol",
    "max_discharge_power",
    "max_charge_power_kw",
    "energy_capacity_kwh",
    "state_of_charge",
    "min_soc_reserve",
    "ramp_limit_kw_per_s",
    "pv_dc_kwp",
    "pv_tilt_deg",
    "pv_azimuth_deg",
    "pv_ac_limit_kw",
    "wind_rated_kw",
    "wind_hub_height_m",
    "wind_turbine_type",
    "wind_power_curve",
]
COLUMNS = [*ASSET_COLUMNS[:4], *OWNER_COLUMNS, "substation", *ASSET_COLUMNS[4:]]
REQUIRED = ["uid", "name", "kind", "owner_email", "substation"]
# Measured, not registered: taken from the file for a new asset only.
INITIAL_ONLY = {"state_of_charge"}
# What starts a formula in a spreadsheet (OWASP, CSV injection): these signs,
# also after leading blanks and in their full-width forms (U+FF1D, U+FF0B,
# U+FF0D, U+FF20), and a leading tab or carriage return (formula_start).
FORMULA_SIGNS = frozenset("=+-@")
FORMULA_CONTROLS = ("\t", "\r")
TEXT_COLUMNS = {"name", "owner_name", "wind_turbine_type"}
PROGRESS_EVERY = 5_000
KEY_CHUNK = 10_000  # keys per `IN (...)` lookup: under SQLite's and psycopg's limits


class Invalid(Exception):
    """One cell's (or one row's) error message."""


@dataclass(frozen=True)
class RowError:
    line: int  # the file's line where the row starts; 1 is the header
    column: str  # "" for the row or the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    owners_created: int = 0
    owners_updated: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    # The first rows' outcome, for a preview: line, uid, "new" / "update" /
    # "skip", and the columns an update changes.
    sample: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_lines(self) -> int:
        return len({error.line for error in self.errors})

    def summary(self) -> str:
        if self.errors:
            return (
                f"{self.bad_lines} bad row(s) of {self.rows}, "
                f"{len(self.errors)} error(s): nothing was imported."
            )
        verb = "would be" if self.dry_run else "were"
        return (
            f"{self.rows} row(s): {self.created} asset(s) {verb} created, "
            f"{self.updated} updated, {self.unchanged} unchanged; "
            f"{self.owners_created} owner(s) created, {self.owners_updated} updated."
        )


class FileInvalid(Exception):
    """The file cannot be read past this point (encoding, quoting, size)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.error = RowError(line, "", message)


# --- Reading ---------------------------------------------------------------------


def read_csv(lines: Iterable[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each record of a UTF-8 CSV file given as its raw
    lines, the header first. A byte-order mark at the very start is allowed (Excel
    writes one); empty lines and lines of empty cells are skipped; a record may
    span lines inside quotes. Raises FileInvalid where reading cannot go on."""
    reader = csv.reader(_decoded(lines))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            message = str(error)
            if "field larger than field limit" in message:
                message = f"a cell is longer than {csv.field_size_limit():,} characters"
            raise FileInvalid(line, f"Unreadable CSV: {message}.") from None
        start, line = line, reader.line_num + 1
        if any(cells):
            yield start, cells


def _decoded(lines: Iterable[bytes]) -> Iterator[str]:
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            byte = raw[error.start : error.start + 1].hex().upper()
            raise FileInvalid(
                number,
                f"Not UTF-8 (byte 0x{byte} at column {error.start + 1}): save the "
                "file as 'CSV UTF-8'.",
            ) from None
        if "\x00" in text:
            raise FileInvalid(number, "A NUL character: this is not a text file.")
        yield text


# --- Converting and validating --------------------------------------------------

Converter = Callable[[str], Any]


def converter(model_field: Field, *, text: bool = False) -> Converter:
    """The cell -> value conversion of one column, with its model field's rules:
    empty means NULL (or "" for text) where the field allows it, then the type,
    choices, length and validators. Plain text and numbers take a fast path (a
    100,000-row file has two million cells); any other field goes through its own
    `to_python`, `validate` and `run_validators`."""
    allows_empty, empty = empty_cell(model_field)
    parse: Callable[[str], Any] | None
    if isinstance(model_field, FloatField):
        parse = _float
    elif isinstance(model_field, JSONField):
        parse = _json
    elif type(model_field) in (CharField, SlugField, EmailField):
        parse = None  # the cell is the value
    else:
        return _generic(model_field, empty, allows_empty)
    choices = {str(value) for value, _ in model_field.flatchoices} or None
    max_length = model_field.max_length
    # Django's validators, less the two checked here faster: the length, and NUL
    # characters (a file holding one is refused whole).
    validators = [
        plain(validator)
        for validator in model_field.validators
        if not isinstance(
            validator, MaxLengthValidator | ProhibitNullCharactersValidator
        )
    ]

    def convert(cell: str) -> Any:
        was_escaped = False
        if cell[:1] == "'":
            cell, was_escaped = unescaped(cell)
        if cell == "":
            if not allows_empty:
                raise Invalid("This field is required.")
            return empty
        if "\ufeff" in cell:
            raise Invalid("A byte-order mark inside a cell: were two files joined?")
        if text and not was_escaped and (start := formula_start(cell)):
            raise Invalid(
                f"Starts with {start!r}: a spreadsheet would run it as a "
                "formula. Write it with a leading apostrophe if it is text."
            )
        value = parse(cell) if parse else cell
        if choices is not None and value not in choices:
            raise Invalid(f"Value {value!r} is not a valid choice.")
        if max_length is not None and len(value) > max_length:
            raise Invalid(
                f"Ensure this value has at most {max_length} characters "
                f"(it has {len(value)})."
            )
        try:
            for validate in validators:
                validate(value)
        except ValidationError as error:
            raise Invalid(" ".join(error.messages)) from None
        return value

    return convert


def plain(validator: Callable[[Any], None]) -> Callable[[Any], None]:
    """A regex or bound validator as a direct check: the same rule and message,
    without its per-call set-up (a lazily compiled regex, a params dict)."""
    if isinstance(validator, RegexValidator):
        regex = re.compile(validator.regex.pattern, validator.regex.flags)
        inverse = validator.inverse_match

        def check_regex(value: Any) -> None:
            if bool(regex.search(str(value))) == inverse:
                raise ValidationError(
                    validator.message, validator.code, {"value": value}
                )

        return check_regex
    if type(validator) in (MinValueValidator, MaxValueValidator) and not callable(
        validator.limit_value
    ):
        limit = validator.limit_value
        beyond = operator.lt if type(validator) is MinValueValidator else operator.gt

        def check_limit(value: Any) -> None:
            if beyond(value, limit):
                params = {"limit_value": limit, "show_value": value, "value": value}
                raise ValidationError(validator.message, validator.code, params)

        return check_limit
    return validator


def empty_cell(model_field: Field) -> tuple[bool, Any]:
    """Whether an empty cell is allowed in the field's column, and its value."""
    empty: Any = "" if model_field.empty_strings_allowed else None
    return bool(model_field.null or (model_field.blank and empty == "")), empty


def _float(cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise Invalid(f"{cell!r} value must be a float.") from None
    if not math.isfinite(value):
        raise Invalid("A finite number is required.")
    return value


def _json(cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        raise Invalid("Not valid JSON.") from None


def _generic(model_field: Field, empty: Any, allows_empty: bool) -> Converter:
    def convert(cell: str) -> Any:
        cell = unescaped(cell)[0]
        if cell == "":
            if not allows_empty:
                raise Invalid("This field is required.")
            return empty
        try:
            value = model_field.to_python(cell)
            model_field.validate(value, None)
            model_field.run_validators(value)
        except ValidationError as error:
            raise Invalid(" ".join(error.messages)) from None
        return value

    return convert


def formula_start(cell: str) -> str:
    """The start of `cell` that a spreadsheet would run as a formula, or "".

    A tab or carriage return first; else the first character after leading
    whitespace and control or format characters (a space, a line feed, a
    zero-width space), compared in its compatibility form (NFKC): the
    full-width and small forms of the signs (U+FF1D, U+FF0B, U+FF0D, U+FF20,
    U+FE66, ...) read as = + - @, as spreadsheets read them."""
    if cell.startswith(FORMULA_CONTROLS):
        return cell[0]
    for index, char in enumerate(cell):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        if unicodedata.normalize("NFKC", char)[:1] in FORMULA_SIGNS:
            return cell[: index + 1]
        return ""
    return ""


def escaped(cell: str) -> str:
    """A text cell as an export writes it: a leading apostrophe before one that a
    spreadsheet would run as a formula (the import takes it off again)."""
    return "'" + cell if formula_start(cell) else cell


def unescaped(cell: str) -> tuple[str, bool]:
    """The cell without the apostrophe `escaped` adds, and whether it had one."""
    if cell.startswith("'") and formula_start(cell[1:]):
        return cell[1:], True
    return cell, False


def export_rows(assets: QuerySet[DERAsset]) -> Iterator[list[str]]:
    """The header, then a row per asset (by uid): what an import reads back as
    no change at all."""
    lookups = {
        **{name: name for name in ASSET_COLUMNS},
        **{column: f"owner__{name}" for column, name in OWNER_COLUMNS.items()},
        "substation": "substation__code",
    }
    yield list(COLUMNS)
    rows = assets.order_by("uid").values_list(*(lookups[c] for c in COLUMNS))
    for row in rows.iterator(chunk_size=5_000):
        yield [export_cell(value) for value in row]


def export_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return escaped(str(value))


def cached(convert: Converter) -> Converter:
    """`convert` once per distinct cell (owners' emails and phones, substations)."""
    done: dict[str, Any] = {}

    def once(cell: str) -> Any:
        if cell not in done:
            try:
                done[cell] = convert(cell)
            except Invalid as error:
                done[cell] = error
        value = done[cell]
        if isinstance(value, Invalid):
            raise value
        return value

    return once


def _owner_phone(cell: str) -> str:
    """The owner's phone in E.164, checked as PhoneNumberField's validator does
    (valid for its country), with `phonenumbers` directly: parsed once, where
    PhoneNumber objects check validity again each time they are printed."""
    cell = unescaped(cell)[0]
    if cell == "":
        return ""
    try:
        number = phonenumbers.parse(cell, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException as error:
        raise Invalid(f"Not a phone number: {error}.") from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid("The phone number entered is not valid.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def converters() -> dict[str, Converter]:
    meta = DERAsset._meta
    out = {
        name: converter(cast(Field, meta.get_field(name)), text=name in TEXT_COLUMNS)
        for name in ASSET_COLUMNS
    }
    for column, name in OWNER_COLUMNS.items():
        owner_field = cast(Field, Owner._meta.get_field(name))
        out[column] = cached(
            _owner_phone
            if name == "phone"
            else converter(owner_field, text=column in TEXT_COLUMNS)
        )
    out["substation"] = lambda cell: unescaped(cell)[0]
    return out


# Check constraints in Python. SQL compares NULL as unknown, and a CHECK refuses
# a row only when its condition is FALSE (not unknown): each condition is compiled
# once into a plain Python expression that is true exactly when SQL would find it
# FALSE, or TRUE (with `want`), without three-valued logic at run time.
OPERATORS = {"exact": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def violated(q: Q) -> Callable[[Mapping[str, Any]], bool]:
    """A function of a row's values: True where the database would refuse it."""
    # Source built from our own models' constraints, never from input.
    return eval(f"lambda v: {_condition(q, want=False)}", {})


def _condition(q: Q, *, want: bool) -> str:
    """Python source: whether `q` is SQL-TRUE (want) or SQL-FALSE (not want)."""
    inner = want != q.negated
    parts = [
        _condition(child, want=inner) if isinstance(child, Q) else _leaf(child, inner)
        for child in q.children
    ]
    # AND is TRUE when all are TRUE and FALSE when any is FALSE; OR the other way.
    joiner = " and " if (q.connector == Q.AND) == inner else " or "
    return "(" + joiner.join(parts) + ")"


def _leaf(child: tuple[str, Any], want: bool) -> str:
    lookup, rhs = child
    name, _, op = lookup.rpartition("__")
    if op not in OPERATORS and op != "isnull":
        name, op = lookup, "exact"
    left = f"v[{name!r}]"
    if op == "isnull":
        return f"({left} is None)" if bool(rhs) == want else f"({left} is not None)"
    right = f"v[{rhs.name!r}]" if isinstance(rhs, F) else repr(rhs)
    known = f"{left} is not None" + (
        f" and {right} is not None" if isinstance(rhs, F) else ""
    )
    comparison = f"{left} {OPERATORS[op]} {right}"
    return f"({known} and {'' if want else 'not '}({comparison}))"


def first_field(q: Q) -> str:
    """The first field a condition names: the column an error on it points at."""
    child = q.children[0]
    if isinstance(child, Q):
        return first_field(child)
    return child[0].split("__")[0]


# --- The import ------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    line: int
    values: dict[str, Any]  # asset fields given in the file, converted
    owner_email: str
    substation: str


@dataclass(slots=True)
class _OwnerSeen:
    line: int
    name: str | None
    phone: str | None


def assets_import(
    lines: Iterable[bytes],
    *,
    user: User | AnonymousUser | None = None,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
    file_name: str = "",
) -> ImportReport:
    """Validate the CSV file (its raw lines) and, if every row is valid and not
    `dry_run`, write it in one transaction, recorded in the admin log as
    `user`'s import of `file_name`. `user`: an owner's login may import only its
    own assets (None: the command without --user, unrestricted and unlogged).
    `progress(rows)` is called every few thousand rows read."""
    report = ImportReport(dry_run=dry_run)
    try:
        rows, owners = _read(lines, report, progress)
    except FileInvalid as invalid:
        report.errors.append(invalid.error)
        return report
    if report.errors and not rows:
        return report
    scope = user_owner_id(user) if user is not None else None
    plan = _plan(rows, owners, report, scope)
    report.errors.sort(key=lambda error: error.line)
    if report.errors or dry_run:
        return report
    with transaction.atomic():
        _registry_lock()
        _write(plan, report)
        if user is not None and user.is_authenticated:
            _logged(user=user, file_name=file_name, report=report)
    return report


def _read(
    lines: Iterable[bytes],
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> tuple[list[_Row], dict[str, _OwnerSeen]]:
    records = read_csv(lines)
    first = next(records, None)
    if first is None:
        raise FileInvalid(1, "The file is empty: the first line names the columns.")
    header = [cell.strip() for cell in first[1]]
    _check_header(header)
    index = {name: i for i, name in enumerate(header)}
    convert = converters()
    # (name, index, converter, the value of an allowed empty cell, else Invalid):
    # most cells of a file are empty columns of other kinds, taken without a call.
    asset_columns = [
        (name, index[name], convert[name], empty if allowed else Invalid)
        for name in ASSET_COLUMNS
        if name in index
        for allowed, empty in [empty_cell(cast(Field, DERAsset._meta.get_field(name)))]
    ]
    owner_columns = [(name, index.get(name), convert[name]) for name in OWNER_COLUMNS]
    width = len(header)
    rows: list[_Row] = []
    owners: dict[str, _OwnerSeen] = {}
    first_line: dict[str, int] = {}
    errors = report.errors
    for line, cells in records:
        report.rows += 1
        if progress and report.rows % PROGRESS_EVERY == 0:
            progress(report.rows)
        if len(cells) != width:
            errors.append(
                RowError(line, "", f"{len(cells)} cells where the header has {width}.")
            )
            continue
        values: dict[str, Any] = {}
        bad = False
        for name, i, conv, empty in asset_columns:
            cell = cells[i]
            if not cell and empty is not Invalid:
                values[name] = empty
                continue
            try:
                values[name] = conv(cell)
            except Invalid as error:
                errors.append(RowError(line, name, str(error)))
                bad = True
        owner: list[Any] = []  # email, name, phone (None: column absent or bad)
        for name, i, conv in owner_columns:
            if i is None:
                owner.append(None)
                continue
            try:
                owner.append(conv(cells[i]))
            except Invalid as error:
                owner.append(None)
                errors.append(RowError(line, name, str(error)))
                bad = True
        email, owner_name, owner_phone = owner
        uid = values.get("uid")
        if uid:
            if uid in first_line:
                errors.append(
                    RowError(
                        line, "uid", f"{uid!r} is on line {first_line[uid]} already."
                    )
                )
                bad = True
            else:
                first_line[uid] = line
        if email:
            seen = owners.get(email)
            if seen is None:
                owners[email] = _OwnerSeen(line, owner_name, owner_phone)
            elif seen.name != owner_name or seen.phone != owner_phone:
                for name, mine, theirs in (
                    ("owner_name", owner_name, seen.name),
                    ("owner_phone", owner_phone, seen.phone),
                ):
                    if mine != theirs:
                        errors.append(
                            RowError(
                                line,
                                name,
                                f"Differs from line {seen.line} for the same owner.",
                            )
                        )
                bad = True
        if not bad:
            substation = convert["substation"](cells[index["substation"]])
            rows.append(_Row(line, values, email, substation))
    if not report.rows:
        raise FileInvalid(1, "The file has no rows under its header.")
    if progress:
        progress(report.rows)
    return rows, owners


def _check_header(header: list[str]) -> None:
    if len(header) == 1 and ";" in header[0]:
        raise FileInvalid(
            1,
            "The columns are separated by ';': save the file as comma-separated "
            "'CSV UTF-8'.",
        )
    problems = []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(map(repr, unknown))}")
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        problems.append(f"column(s) given twice: {', '.join(doubled)}")
    if problems:
        raise FileInvalid(
            1,
            "; ".join(problems).capitalize() + f". The columns: {', '.join(COLUMNS)}.",
        )


@dataclass
class _Plan:
    creates: list[tuple[_Row, dict[str, Any]]]  # with the values to insert
    updates: list[tuple[_Row, dict[str, Any]]]  # with the values to set (and pk)
    new_owners: dict[str, _OwnerSeen]
    owner_updates: list[tuple[int, str, str]]  # pk, name, phone
    columns: list[str]  # the asset fields the file gives (updates set these)


def _by_key(queryset: QuerySet, key: str, keys: Iterable[str], *fields: str) -> dict:
    """`key` -> row (a dict of `fields`) for the rows whose `key` is in `keys`."""
    keys = list(keys)
    found = {}
    # PostgreSQL: the keys as one array parameter (a list of 100,000 is slow to
    # build as `IN (%s, ...)`); SQLite: in chunks under its parameter limit.
    postgresql = connection.vendor == "postgresql"
    step = (len(keys) or 1) if postgresql else KEY_CHUNK
    for start in range(0, len(keys), step):
        chunk = keys[start : start + step]
        wanted = RawSQL("SELECT unnest(%s::text[])", [chunk]) if postgresql else chunk
        for row in queryset.filter(**{f"{key}__in": wanted}).values(key, *fields):
            found[row[key]] = row
    return found


def _plan(
    rows: list[_Row],
    owners: dict[str, _OwnerSeen],
    report: ImportReport,
    scope: int | None,
) -> _Plan:
    """Resolve the keys, apply the rules that need the database, and sort each
    row into create, update or unchanged (an error on a row adds to `report`)."""
    errors = report.errors
    columns = [c for c in ASSET_COLUMNS if rows and c in rows[0].values]
    compared = [c for c in columns if c not in INITIAL_ONLY and c != "uid"]
    substations = _by_key(
        Substation.objects.all(), "code", {row.substation for row in rows}, "pk"
    )
    stored_owners = _by_key(
        # the phone as stored (E.164 text), not parsed into a PhoneNumber per row
        Owner.objects.annotate(phone_e164=Cast("phone", TextField())),
        "email",
        owners,
        "pk",
        "name",
        "phone_e164",
    )
    stored = _by_key(
        DERAsset.objects.all(),
        "uid",
        (row.values["uid"] for row in rows),
        "pk",
        "owner_id",
        "substation_id",
        "status",
        "target_output_kw",
        *ASSET_COLUMNS[1:],
    )
    scope_email = (
        Owner.objects.filter(pk=scope).values_list("email", flat=True).first()
        if scope is not None
        else None
    )
    checks = [
        (violated(constraint.condition), constraint, first_field(constraint.condition))
        for constraint in DERAsset._meta.constraints
        if isinstance(constraint, CheckConstraint)
    ]
    defaults = {
        f.name: f.get_default()
        for f in DERAsset._meta.concrete_fields
        if f.name in ASSET_COLUMNS or f.name == "target_output_kw"
    }
    plan = _Plan([], [], {}, [], columns)
    for email, seen in owners.items():
        have = stored_owners.get(email)
        if have is None:
            plan.new_owners[email] = seen
        elif (seen.name is not None and seen.name != have["name"]) or (
            seen.phone is not None and seen.phone != have["phone_e164"]
        ):
            plan.owner_updates.append(
                (
                    have["pk"],
                    have["name"] if seen.name is None else seen.name,
                    have["phone_e164"] if seen.phone is None else seen.phone,
                )
            )
    for row in rows:
        line, values = row.line, row.values
        before = len(errors)
        substation = substations.get(row.substation)
        if substation is None:
            errors.append(
                RowError(line, "substation", f"Unknown substation {row.substation!r}.")
            )
        if scope is not None and row.owner_email != scope_email:
            errors.append(
                RowError(
                    line,
                    "owner_email",
                    f"You may import only your own assets (owner {scope_email})."
                    if scope_email
                    else "This login is linked to no owner: it may import nothing.",
                )
            )
        new_owner = plan.new_owners.get(row.owner_email)
        if new_owner is not None and new_owner.line == line and not new_owner.name:
            errors.append(
                RowError(line, "owner_name", "Required for an owner not yet known.")
            )
        have = stored.get(values["uid"])
        status = values.get("status")
        if have is None:
            merged = {**defaults, **values}
            if status == AssetStatus.FAULT:
                errors.append(
                    RowError(
                        line,
                        "status",
                        "'fault' is set by the hardware error check, not imported.",
                    )
                )
        else:
            if scope is not None and have["owner_id"] != scope:
                errors.append(
                    RowError(line, "uid", "Taken by an asset that is not yours.")
                )
            merged = {**have, **{c: values[c] for c in compared}}
            if status is not None and (status == AssetStatus.FAULT) != (
                have["status"] == AssetStatus.FAULT
            ):
                errors.append(
                    RowError(
                        line,
                        "status",
                        "An asset enters or leaves 'fault' through the hardware "
                        "error check and its technician task, not an import.",
                    )
                )
        for refused, constraint, column in checks:
            if refused(merged):
                message = constraint.get_violation_error_message()
                if constraint.name == "asset_target_within_limits" and have:
                    column = "max_discharge_power"
                    message = (
                        f"It is commanded {have['target_output_kw']:g} kW now, above "
                        f"the new maximum of {merged['max_discharge_power']:g} kW: "
                        "import again once the setpoint has ended."
                    )
                errors.append(RowError(line, column, message))
        for name, message in asset_kind_errors(merged).items():
            errors.append(RowError(line, name, message))
        if len(errors) > before:
            continue
        owner = stored_owners.get(row.owner_email)
        keys = {
            "owner": owner["pk"] if owner else None,
            "substation": substation and substation["pk"],
        }
        changed: list[str] = []
        if have is None:
            merged.update(keys)  # a new dict for each new row
            plan.creates.append((row, merged))
            outcome = "new"
        else:
            changed = [c for c in compared if merged[c] != have[c]]
            changed += [
                column
                for column, key in (
                    ("owner_email", "owner"),
                    ("substation", "substation"),
                )
                if keys[key] != have[f"{key}_id"]
            ]
            if changed:
                plan.updates.append(
                    (
                        row,
                        {"pk": have["pk"], **{c: merged[c] for c in compared}, **keys},
                    )
                )
                outcome = "update"
            else:
                report.unchanged += 1
                outcome = "skip"
        if len(report.sample) < SAMPLE_ROWS:
            report.sample.append((line, values["uid"], outcome, ", ".join(changed)))
    if errors:  # refused: nothing would be written
        report.unchanged = 0
        report.sample.clear()
    else:
        report.created, report.updated = len(plan.creates), len(plan.updates)
        report.owners_created = len(plan.new_owners)
        report.owners_updated = len(plan.owner_updates)
    return plan


SAMPLE_ROWS = 100


def _registry_lock() -> None:
    """One import at a time (PostgreSQL; SQLite's writers are serialised)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [IMPORT_NAMESPACE])


IMPORT_NAMESPACE = 1548  # advisory lock namespace (dermgmt.locks has 1547)


# Text columns whose converted cells are already what the database stores.
TEXT_AS_IS = {
    f.name
    for f in DERAsset._meta.concrete_fields
    if type(f) in (CharField, SlugField) and f.name in ASSET_COLUMNS
}


def _statistics_refreshed(model, added: int) -> None:
    """ANALYZE a table that just grew a lot, in the import's transaction.

    PostgreSQL plans each connection's foreign-key checks once and keeps the
    plan: planned while assets_owner was small (a sequential scan), the checks of
    100,000 new assets against 66,000 new owners then took 189 s instead of 1 s
    on a connection that had imported before (a web or worker process). Fresh
    statistics make PostgreSQL plan them again, with the index."""
    if connection.vendor == "postgresql" and added >= ANALYZE_AFTER_ROWS:
        with connection.cursor() as cursor:
            # A small sample: the row count is what the plans need; autovacuum
            # gathers the full statistics later.
            cursor.execute("SET LOCAL default_statistics_target = 10")
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
            cursor.execute("RESET default_statistics_target")


ANALYZE_AFTER_ROWS = 1_000


def _ids_reserved(model, count: int) -> list[int]:
    """PostgreSQL: `count` primary keys taken from the table's sequence in one
    query, so the rows are written with their keys and need no reading back.
    SQLite: [] (its rows are read back by natural key)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
            "FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _write(plan: _Plan, report: ImportReport) -> None:
    now = timezone.now()
    if plan.new_owners:
        ids = _ids_reserved(Owner, len(plan.new_owners))
        fields = ["email", "name", "phone", "sms_consent", "created_at"]
        rows = [
            (email, seen.name, seen.phone or "", False, now)
            for email, seen in plan.new_owners.items()
        ]
        insert_rows(
            model=Owner,
            fields=[*fields, "id"] if ids else fields,
            ready={"email", "name", "phone"},  # checked text (phone: E.164)
            rows=[(*row, pk) for row, pk in zip(rows, ids, strict=True)]
            if ids
            else rows,
        )
        _statistics_refreshed(Owner, len(plan.new_owners))
        created = (
            dict(zip(plan.new_owners, ids, strict=True))
            if ids
            else {
                email: row["pk"]
                for email, row in _by_key(
                    Owner.objects.all(), "email", plan.new_owners, "pk"
                ).items()
            }
        )
        for row, values in [*plan.creates, *plan.updates]:
            if values["owner"] is None:
                values["owner"] = created[row.owner_email]
    if plan.owner_updates:
        pks, names, phones = zip(*plan.owner_updates, strict=True)
        update_rows(
            model=Owner,
            pks=pks,
            columns={"name": names, "phone": phones},
            ready={"phone"},
        )
    if plan.creates:
        fields = [*plan.creates[0][1]]
        given = operator.itemgetter(*fields)
        insert_rows(
            model=DERAsset,
            fields=[*fields, "setpoint_source", "created_at", "updated_at"],
            ready=TEXT_AS_IS,
            rows=[
                (*given(values), SetpointSource.AUTO, now, now)
                for _, values in plan.creates
            ],
        )
        _statistics_refreshed(DERAsset, len(plan.creates))  # telemetry checks next
    if plan.updates:
        fields = [f for f in plan.updates[0][1] if f != "pk"]
        update_rows(
            model=DERAsset,
            pks=[values["pk"] for _, values in plan.updates],
            columns={
                **{f: [values[f] for _, values in plan.updates] for f in fields},
                "updated_at": [now] * len(plan.updates),
            },
        )


def _logged(*, user: User, file_name: str, report: ImportReport) -> None:
    """The admin log's record of an import that wrote: who, when, file, counts."""
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(DERAsset),
        object_repr=f"CSV import {file_name}"[:200],
        action_flag=ADDITION,
        change_message=report.summary(),
    )
