"""An event's form, generated from its pydantic input model, and the way back.

``build`` turns a model into widgets (the templates render them); ``collect`` turns the
posted form back into the JSON the engine validates. Nothing is typed that the case
already knows: participants are chosen from the case, times are picked as a Copenhagen
date and time (the UTC offset, summer or winter, is added here), notes come one per
present participant, an action plan as rows.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from machines import (
    COPENHAGEN,
    CaseSnapshot,
    ChildOfCase,
    Choices,
    ParticipantIn,
    Process,
    Series,
    SeriesSession,
    children_of,
    required_by_rule,
    setting_choices,
)
from machines import inputs as machine_inputs

from .views import local

C = TypeVar("C")

#: Rows offered for a list of rows (action plan, new participants) beyond those filled in.
BLANK_ROWS = 3
#: A text longer than this gets a text area.
LONG_TEXT = 1000

FormData = Mapping[str, list[str]]


@dataclass
class Widget:
    name: str  # the form field's name: a dotted path ("items.0.owner")
    label: str
    # text textarea number date datetime checkbox select radio checkboxes group rows, and
    # texts and times (lists of one kind), which ``expand`` turns into a group of rows
    kind: str
    required: bool = False
    help: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    children: list[Widget] = field(default_factory=list)  # group fields, or rows' groups
    value: Any = None  # str, or list of str (checkboxes), or (date, time) for datetime
    error: str | None = None
    min_rows: int = 0  # rows and text lists: how many rows the model requires

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True)
class Context:
    """What a form may offer as choices: the case and its process."""

    process: Process
    case: CaseSnapshot | None

    def people(self, keys: list[str] | None = None) -> list[tuple[str, str]]:
        if self.case is None:
            return []
        chosen = self.case.participants
        if keys is not None:
            chosen = tuple(p for p in chosen if p.key in keys)
        return [(p.key, f"{p.name} ({self._role(p.role)})") for p in chosen]

    def invited(self) -> list[tuple[str, str]]:
        invited = self.process.invited_roles()
        return [(k, label) for k, label in self.people() if self._role_of(k) in invited]

    def _role_of(self, key: str) -> str:
        found = self.case.participant(key) if self.case else None
        return found.role if found else ""

    def _role(self, role: str) -> str:
        spec = self.process.roles.get(role)
        return spec.title if spec else role

    def children(self) -> list[tuple[str, str]]:
        """The children in the case now (pseudonymous references: shown as they are)."""
        return [(child, child) for child in children_of(self.case)] if self.case else []

    def sessions(self) -> list[tuple[str, str]]:
        """The sessions of the case's series that take place, by the time their rule
        planned them (the value the rules know them by), in the order they are held."""
        found = []
        for meeting in self.case.meetings if self.case else ():
            if meeting.series is None:
                continue
            for held in Series.from_json(meeting.series).held_or_planned():
                text = local(held.start)
                if held.moved:
                    text += f" (flyttet fra {local(held.recurrence_id)})"
                found.append((held.recurrence_id.astimezone(COPENHAGEN).isoformat(), text))
        return found

    def roles(self) -> list[tuple[str, str]]:
        return [(r, spec.title) for r, spec in self.process.roles.items()]

    def dict_keys(
        self, keyed_by_participant: bool, names: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """The entries of a mapping field: notes per present participant, or form sections
        (by the Danish ``names`` of the key type's choices)."""
        data = self.case.data if self.case else {}
        if keyed_by_participant:
            present = data.get("present")
            return self.people(list(present)) if present else self.invited()
        sections = (data.get("consent") or {}).get("sections") or []
        return [(s, names.get(s, s)) for s in sections]


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(the bare type, its Annotated metadata, whether None is allowed)."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            metadata.extend(more)
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
        else:
            return annotation, metadata, optional


def _choices(literal: Any, metadata: list[Any]) -> list[tuple[str, str]]:
    """A ``Literal``'s values with their Danish names (its ``Choices``, see machines.inputs)."""
    names = next((m.names for m in metadata if isinstance(m, Choices)), {})
    return [(str(v), names.get(str(v), str(v))) for v in typing.get_args(literal)]


def _is_key(metadata: list[Any]) -> bool:
    return any(isinstance(m, AfterValidator) and m.func is machine_inputs._key for m in metadata)


def _marked(metadata: list[Any], marker: type) -> bool:
    """Whether the input model marks the field so (``ChildOfCase``, ``SeriesSession``)."""
    return any(isinstance(m, marker) for m in metadata)


def _max_length(metadata: list[Any]) -> int | None:
    found = _constraint(metadata, MaxLen)
    return None if found is None else int(found.max_length)


def _min_length(metadata: list[Any]) -> int:
    found = _constraint(metadata, MinLen)
    return 0 if found is None else int(found.min_length)


def _constraint(metadata: list[Any], kind: type[C]) -> C | None:
    """The first ``kind`` (MaxLen, MinLen) among the metadata, also inside a ``Field(...)``."""
    for m in metadata:
        if isinstance(m, kind):
            return m
        if isinstance(m, FieldInfo):
            found = _constraint(list(m.metadata), kind)
            if found is not None:
                return found
    return None


def _label(name: str, info: FieldInfo | None) -> str:
    # pydantic fills ``title`` only when the definition gives one; else the field's name.
    title = info.title if info is not None else None
    return title or name.replace("_", " ").capitalize()


def build(model: type[BaseModel], ctx: Context, prefix: str = "") -> list[Widget]:
    widgets = []
    for name, info in model.model_fields.items():
        widget = _widget(
            f"{prefix}{name}",
            _label(name, info),
            info.annotation,
            [*info.metadata],
            info.is_required() or required_by_rule(info.metadata),
            ctx,
            parent=model,
        )
        if widget is not None:
            widget.help = info.description or ""
            widgets.append(widget)
    return widgets


def _widget(
    name: str,
    label: str,
    annotation: Any,
    metadata: list[Any],
    required: bool,
    ctx: Context,
    parent: type[BaseModel] | None = None,
) -> Widget | None:
    bare, more, _optional = _unwrap(annotation)
    metadata = [*metadata, *more]
    origin = typing.get_origin(bare)
    if bare is datetime or bare is AwareDatetime:
        if ctx.case is not None and _marked(metadata, SeriesSession):
            return Widget(name, label, "select", required, choices=ctx.sessions())
        return Widget(name, label, "datetime", required)
    if bare is date:
        return Widget(name, label, "date", required)
    if bare is bool:
        return Widget(name, label, "checkbox", False)
    if bare is int:
        return Widget(name, label, "number", required)
    if origin is Literal:
        return Widget(name, label, "radio", required, choices=_choices(bare, metadata))
    if bare is str:
        new_person = parent is not None and issubclass(parent, ParticipantIn)
        if new_person and name.rsplit(".", 1)[-1] == "key":
            return None  # a new person's key is made from the role (assign_keys)
        if new_person and name.rsplit(".", 1)[-1] == "role":
            return Widget(name, label, "select", required, choices=ctx.roles())
        if _is_key(metadata) and ctx.case is not None:
            return Widget(name, label, "select", required, choices=ctx.people())
        if _marked(metadata, ChildOfCase) and ctx.case is not None:
            return Widget(name, label, "select", required, choices=ctx.children())
        long = (_max_length(metadata) or 0) > LONG_TEXT
        return Widget(name, label, "textarea" if long else "text", required)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return Widget(name, label, "group", required, children=build(bare, ctx, f"{name}."))
    if origin is list:
        (item,) = typing.get_args(bare)
        item_bare, item_meta, _ = _unwrap(item)
        from_setting = setting_choices(item, item_meta)
        if from_setting:  # e.g. a monthly record's topics
            offered = from_setting[0].offered(ctx.process.settings)
            return Widget(name, label, "checkboxes", required, choices=offered)
        if _is_key(item_meta):
            return Widget(name, label, "checkboxes", required, choices=ctx.people())
        if _marked(item_meta, ChildOfCase) and ctx.case is not None:
            return Widget(name, label, "checkboxes", required, choices=ctx.children())
        if typing.get_origin(item_bare) is Literal:
            choices = _choices(item_bare, item_meta)
            return Widget(name, label, "checkboxes", required, choices=choices)
        least = _min_length(metadata)
        if isinstance(item_bare, type) and issubclass(item_bare, BaseModel):
            return Widget(name, label, "rows", required, value=item_bare, min_rows=least)
        if item_bare is str:
            return Widget(name, label, "texts", required, min_rows=least)
        if item_bare is datetime or item_bare is AwareDatetime:
            return Widget(name, label, "times", required, min_rows=least)  # e.g. slots
        return None
    if origin is dict:
        key_type, value_type = typing.get_args(bare)
        key_bare, key_meta, _ = _unwrap(key_type)
        if _unwrap(value_type)[0] is not str:
            return None
        from_setting = setting_choices(key_type, key_meta)
        if from_setting:  # e.g. the development wheel: a note for the areas that apply
            entries = from_setting[0].offered(ctx.process.settings)
            children = [Widget(f"{name}.{k}", text, "textarea", False) for k, text in entries]
            return Widget(name, label, "group", required, children=children)
        names = dict(_choices(key_bare, key_meta)) if typing.get_origin(key_bare) is Literal else {}
        entries = ctx.dict_keys(keyed_by_participant=_is_key(key_meta), names=names)
        children = [Widget(f"{name}.{k}", text, "textarea", True) for k, text in entries]
        return Widget(name, label, "group", required, children=children)
    return None  # a type the desk cannot offer as a field (e.g. free JSON): left out


def _rows_filled(form: FormData, name: str) -> int:
    indexes = {
        int(part)
        for key in form
        if key.startswith(f"{name}.")
        and (part := key[len(name) + 1 :].split(".", 1)[0]).isdigit()
        and any(v.strip() for v in form[key])
    }
    return max(indexes) + 1 if indexes else 0


def _row_count(w: Widget, form: FormData) -> int:
    """Rows filled in, and blank ones after them; at least as many as the model requires."""
    return max(_rows_filled(form, w.name) + BLANK_ROWS, w.min_rows)


def expand(widgets: list[Widget], ctx: Context, form: FormData) -> list[Widget]:
    """Rows and text lists get a child per filled row plus blank ones; values filled in."""
    for w in widgets:
        if w.kind == "rows":
            model = w.value
            w.children = [
                Widget(
                    f"{w.name}.{i}",
                    f"{w.label} {i + 1}",
                    "group",
                    i < w.min_rows,
                    children=expand(build(model, ctx, f"{w.name}.{i}."), ctx, form),
                )
                for i in range(_row_count(w, form))
            ]
            w.value = None
        elif w.kind in ("texts", "times"):
            item_kind = "textarea" if w.kind == "texts" else "datetime"
            w.children = expand(
                [
                    Widget(f"{w.name}.{i}", f"{w.label} {i + 1}", item_kind, i < w.min_rows)
                    for i in range(_row_count(w, form))
                ],
                ctx,
                form,
            )
            w.kind, w.value = "group", None
        elif w.kind == "group":
            expand(w.children, ctx, form)
        elif w.kind == "checkboxes":
            w.value = list(form.get(w.name, []))
        elif w.kind == "datetime":
            w.value = (_first(form, f"{w.name}.date"), _first(form, f"{w.name}.time"))
        else:
            w.value = _first(form, w.name)
    return widgets


def _first(form: FormData, name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def collect(widgets: list[Widget], form: FormData) -> dict[str, Any]:
    """The posted form as the event's input JSON; empty optional fields are left out."""
    result: dict[str, Any] = {}
    for w in widgets:
        key = w.name.rsplit(".", 1)[-1]
        value = _value(w, form)
        if value is not None:
            result[key] = value
    return result


def _value(w: Widget, form: FormData) -> Any:
    if w.kind == "datetime":
        day, time = _first(form, f"{w.name}.date").strip(), _first(form, f"{w.name}.time").strip()
        if not day and not time:
            return None
        return _copenhagen(day, time)
    if w.kind == "checkbox":
        return _first(form, w.name) == "on"
    if w.kind == "checkboxes":
        chosen = [v for v in form.get(w.name, []) if v]
        return chosen if chosen or w.required else None
    if _is_list(w):
        rows = [_value(c, form) for c in w.children]
        filled = [r for r in rows if r not in (None, {}, "")]
        return filled if filled or w.required else None
    if w.kind == "group":
        inner = collect(w.children, form)
        if not any(v not in (None, "", [], False) for v in inner.values()):
            return inner if w.required else None
        return inner
    text = _first(form, w.name)
    if not text.strip():
        return None
    if w.kind == "number":
        try:
            return int(text)
        except ValueError:
            return text  # pydantic says, in Danish via the catalogue, that it is no number
    return text


def _is_list(w: Widget) -> bool:
    """Rows (an action plan) or a list of texts (decisions), expanded or not."""
    return w.kind in ("rows", "texts") or (
        w.kind == "group"
        and bool(w.children)
        and all(c.name.rsplit(".", 1)[-1].isdigit() for c in w.children)
    )


def has_rows(widgets: list[Widget]) -> bool:
    """Whether the form has a list that can be given more blank rows."""
    return any(_is_list(w) for w in flat(widgets))


def _copenhagen(day: str, time: str) -> str:
    """A Copenhagen wall-clock date and time as ISO 8601 with the offset of that moment."""
    if not day or not time:
        return f"{day}T{time}"  # incomplete: the model's check answers "date and time"
    try:
        naive = datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        return f"{day} {time}"  # not a time: refused by the model's check
    return naive.replace(tzinfo=COPENHAGEN).isoformat()


def place_errors(widgets: list[Widget], errors: Mapping[str, str]) -> list[str]:
    """Attach each error to its widget; returns those that fit no widget (shown on top)."""
    by_name = {w.name: w for w in flat(widgets)}
    loose: list[str] = []
    for path, message in errors.items():
        # An error inside a field without widgets of its own ("themes.0": one of the
        # checkboxes) is told at the nearest field that has one.
        while path not in by_name and "." in path:
            path = path.rsplit(".", 1)[0]
        if path in by_name:
            by_name[path].error = by_name[path].error or message
        else:
            loose.append(message)
    return loose


def flat(widgets: list[Widget]) -> list[Widget]:
    """Every widget, depth first (for the error summary's links)."""
    out: list[Widget] = []
    for w in widgets:
        out.append(w)
        out.extend(flat(w.children))
    return out
