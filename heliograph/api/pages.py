"""``/v1/pages``: the page profile."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from heliograph.api.auth import actor
from heliograph.api.common import api_key, page_or_404, paginate, responses
from heliograph.api.schemas import PageIn, PageOut, Paging
from heliograph.api.serialize import Json, page_body
from heliograph.catalog import services
from heliograph.catalog.models import Page

router = Router(tags=["pages"])


@router.get(
    "/pages",
    response=responses(200, list[PageOut]),
    operation_id="getPages",
    summary="Get a list of pages",
)
def list_pages(request: HttpRequest, paging: Query[Paging]) -> list[Json]:
    key = api_key(request)
    pages = Page.objects.order_by("created_at", "name")
    if key.page_id:
        pages = pages.filter(pk=key.page_id)
    return [page_body(p) for p in paginate(pages, paging.page, paging.per_page)]


@router.get(
    "/pages/{page_id}",
    response=responses(200, PageOut),
    operation_id="getPagesPageId",
    summary="Get a page",
)
def get_page(request: HttpRequest, page_id: str) -> Json:
    return page_body(page_or_404(page_id))


@router.patch("/pages/{page_id}", response=responses(200, PageOut), operation_id="patchPagesPageId")
@router.put("/pages/{page_id}", response=responses(200, PageOut), operation_id="putPagesPageId")
def update_page(request: HttpRequest, page_id: str, data: PageIn) -> Json:
    page = page_or_404(page_id)
    fields = data.page
    page = services.update_page(
        page=page,
        actor=actor(request),
        name=fields.name,
        url=fields.url,
        time_zone=fields.time_zone,
        domain=fields.domain,
        allow_subscribers=fields.allow_page_subscribers,
        allow_feeds=fields.allow_rss_atom_feeds,
        embeddable=fields.embeddable,
    )
    page.refresh_from_db()
    return page_body(page)
