"""Components and groups: create, rename, describe, regroup, reorder, delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.contrib import messages
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.console.access import actor, attempt, requires, show
from heliograph.console.forms import ComponentForm, GroupForm
from heliograph.console.views.incidents import page_or_404
from heliograph.lib.errors import InputError

M = TypeVar("M", bound=Model)


def _screen(request: HttpRequest, page: Page, **forms: Any) -> HttpResponse:
    groups = list(page.groups.prefetch_related("components"))
    context = {
        "groups": groups,
        "section": "components",
        "ungrouped": page.components.filter(group__isnull=True),
        "components": page.components.select_related("group"),
        "group_form": GroupForm(),
        "component_form": ComponentForm(page=page),
        "group_choices": [(g.pk, g.name) for g in groups],
    }
    return show(request, "console/components.html", {**context, **forms})


@requires("read")
def components(request: HttpRequest) -> HttpResponse:
    return _screen(request, page_or_404(request))


def _run(request: HttpRequest, page: Page, call: Callable[[], object], done: str) -> HttpResponse:
    """Call a service; on bad input show the screen again with the message."""
    try:
        call()
    except InputError as exc:
        form = GroupForm()
        form.add_error(None, str(exc))
        return _screen(request, page, error_form=form)
    messages.success(request, done)
    return redirect("console:components")


def _group_of(page: Page, ref: str) -> ComponentGroup | None:
    return page.groups.filter(pk=ref).first() if ref else None


@requires("manage_components")
@require_POST
def component_create(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    form = ComponentForm(request.POST, page=page)
    if not form.is_valid():
        return _screen(request, page, component_form=form)
    data = form.cleaned_data
    created = attempt(
        form,
        lambda: catalog.create_component(
            page=page,
            name=data["name"],
            description=data["description"],
            group=_group_of(page, data["group"]),
            actor=actor(request),
        ),
    )
    if created is None:
        return _screen(request, page, component_form=form)
    messages.success(request, f"Added “{created.name}”.")
    return redirect("console:components")


@requires("manage_components")
@require_POST
def group_create(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    form = GroupForm(request.POST)
    created = (
        None
        if not form.is_valid()
        else attempt(
            form,
            lambda: catalog.create_group(
                page=page,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                actor=actor(request),
            ),
        )
    )
    if created is None:
        return _screen(request, page, group_form=form)
    messages.success(request, f"Added group “{created.name}”.")
    return redirect("console:components")


def _one(page: Page, model: type[M], ref: str) -> M:
    found = model._default_manager.filter(pk=ref, page=page).first()
    if found is None:
        raise Http404("not on this page")
    return found


@requires("manage_components")
@require_POST
def component_edit(request: HttpRequest, component_id: str) -> HttpResponse:
    page = page_or_404(request)
    component = _one(page, Component, component_id)
    post = request.POST
    return _run(
        request,
        page,
        lambda: catalog.update_component(
            component=component,
            actor=actor(request),
            name=post.get("name", component.name),
            description=post.get("description", component.description),
            group=_group_of(page, post.get("group", "")),
        ),
        "Component saved.",
    )


@requires("manage_components")
@require_POST
def group_edit(request: HttpRequest, group_id: str) -> HttpResponse:
    page = page_or_404(request)
    group = _one(page, ComponentGroup, group_id)
    post = request.POST
    return _run(
        request,
        page,
        lambda: catalog.update_group(
            group=group,
            actor=actor(request),
            name=post.get("name", group.name),
            description=post.get("description", group.description),
        ),
        "Group saved.",
    )


def moved(items: Sequence[M], item: M, direction: str) -> list[M]:
    """The list with ``item`` one place up or down (unchanged at either end)."""
    order = list(items)
    index = order.index(item)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


@requires("manage_components")
@require_POST
def component_move(request: HttpRequest, component_id: str) -> HttpResponse:
    page = page_or_404(request)
    component = _one(page, Component, component_id)
    order = moved(list(page.components.all()), component, request.POST.get("direction", ""))
    return _run(
        request,
        page,
        lambda: catalog.reorder_components(page=page, ordered=order, actor=actor(request)),
        "Order saved.",
    )


@requires("manage_components")
@require_POST
def group_move(request: HttpRequest, group_id: str) -> HttpResponse:
    page = page_or_404(request)
    group = _one(page, ComponentGroup, group_id)
    order = moved(list(page.groups.all()), group, request.POST.get("direction", ""))
    return _run(
        request,
        page,
        lambda: catalog.reorder_groups(page=page, ordered=order, actor=actor(request)),
        "Order saved.",
    )


@requires("manage_components")
@require_POST
def component_delete(request: HttpRequest, component_id: str) -> HttpResponse:
    page = page_or_404(request)
    component = _one(page, Component, component_id)
    return _run(
        request,
        page,
        lambda: catalog.delete_component(component=component, actor=actor(request)),
        f"Deleted “{component.name}”.",
    )


@requires("manage_components")
@require_POST
def group_delete(request: HttpRequest, group_id: str) -> HttpResponse:
    page = page_or_404(request)
    group = _one(page, ComponentGroup, group_id)
    return _run(
        request,
        page,
        lambda: catalog.delete_group(group=group, actor=actor(request)),
        f"Deleted group “{group.name}”.",
    )
