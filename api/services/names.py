"""People's names: what we accept, and the one rule that says when two names are the same person.

The rule is ours, not the database's: a name is NFC-normalised with its whitespace collapsed, and
two names are the same person exactly when their case-folded keys are equal code point for code
point. Accents, emoji and every other character stay distinct ("Zoë" is not "Zoe", "😃" is not
"😀"); the key column compares bytes (``utf8mb4_bin`` on MySQL/MariaDB), so no server collation can
merge two people. Control characters and bidirectional overrides are refused: they make a stored
name display as something other than what it is."""

from __future__ import annotations

import unicodedata

from api.errors import ApiError

MAX_NAME_LENGTH = 255

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, and the isolates."""


def _forbidden(character: str) -> bool:
    return character in BIDI_CONTROLS or unicodedata.category(character) in ("Cc", "Cs")


def clean_name(person_name: str, field: str = "person_name") -> str:
    """The name as stored: NFC, whitespace collapsed; 422 when empty, too long or unsafe to display."""
    name = " ".join(unicodedata.normalize("NFC", person_name).split())
    if not name:
        raise ApiError(422, f"{field} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(422, f"{field} is longer than {MAX_NAME_LENGTH} characters")
    bad = next((c for c in name if _forbidden(c)), None)
    if bad is not None:
        raise ApiError(
            422, f"{field} contains a control or text-direction character (U+{ord(bad):04X}), which names may not"
        )
    return name


def name_key(name: str) -> str:
    """The identity of a (cleaned) name: case-folded, NFC again (folding can decompose)."""
    return unicodedata.normalize("NFC", name.casefold())


def search_key(text: str) -> str:
    """The same folding for a search text, without the validation (any text may be searched)."""
    return name_key(" ".join(unicodedata.normalize("NFC", text).split()))
