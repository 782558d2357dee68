"""Searching the service-item catalogue as citizens type (/services): by a substring of an
item's name, code, department or keywords (检索关键词), or by pinyin — the initials of the name's
or a keyword's characters (``spjy`` finds 食品经营许可, ``kfd`` the item whose keyword is 开饭店)
or the whole syllables (``canguan``).

Invariant: the pinyin of every item is computed once, when an item catalogue is loaded
(:class:`ItemSearch` is built by ``app/hall.ItemSource`` with each catalogue it reads), never
per request; a query is matched against precomputed lower-case strings only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from elicence.hall.items import ItemCatalogue, ServiceItem

MAX_QUERY = 50
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_SPACES = re.compile(r"[\s'·-]+")


def _letters(parts: Iterable[str]) -> str:
    """pypinyin's parts (a syllable or initial per Chinese character, other text as it was)
    joined, lower-case, without anything but letters and digits."""
    return _NOT_ALNUM.sub("", "".join(parts).lower())


def pinyin_keys(text: str) -> tuple[str, str]:
    """The initials and the whole syllables of ``text`` (``食品经营许可`` → ``spjyxk``,
    ``shipinjingyingxuke``), by pypinyin's most likely reading of each word."""
    initials = _letters(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default"))
    syllables = _letters(lazy_pinyin(text, errors="default"))
    return initials, syllables


@dataclass(frozen=True, slots=True)
class _Entry:
    code: str
    texts: tuple[str, ...]  # name, code, department, keywords: lower-case
    pinyin: tuple[str, ...]  # initials and syllables of the name and of each keyword


class ItemSearch:
    """The search index of one item catalogue (built once per catalogue loaded)."""

    def __init__(self, catalogue: ItemCatalogue) -> None:
        self._entries = tuple(self._entry(item, catalogue) for item in catalogue.items.values())

    @staticmethod
    def _entry(item: ServiceItem, catalogue: ItemCatalogue) -> _Entry:
        dept = catalogue.departments.get(item.department)
        words = (item.name_zh, *item.keywords)
        texts = (*words, item.code, dept.name_zh if dept else "")
        pinyin = tuple(key for w in words for key in pinyin_keys(w) if key)
        return _Entry(item.code, tuple(t.lower() for t in texts), pinyin)

    def find(self, query: str) -> list[str]:
        """The codes of the items the query finds, in catalogue order (all for no query)."""
        q = query.strip().lower()[:MAX_QUERY]
        if not q:
            return [e.code for e in self._entries]
        letters = _SPACES.sub("", q)
        by_pinyin = bool(letters) and letters.isascii() and letters.isalnum()
        return [
            e.code
            for e in self._entries
            if any(q in t for t in e.texts) or (by_pinyin and any(letters in p for p in e.pinyin))
        ]
