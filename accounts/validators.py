"""Text people type that other people read: no invisible or control characters.

A direction override (U+202E) makes ``REF-<U+202E>1-FER`` display as another
reference; a zero-width space or a Hangul filler makes a second ``admin``
that looks exactly like the first. References and usernames are read by
officers, reviewers and auditors who must be able to trust what they see,
so both refuse such characters, with a message naming the character.

Lives in ``accounts`` (usernames) and is used by ``applications``
(references), which may import it; one rule for both.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# Control (Cc), format (Cf: bidi controls, zero-width characters, soft
# hyphen, BOM), private use (Co), surrogates (Cs), unassigned (Cn), line and
# paragraph separators, and spaces other than the ordinary one (Zs: no-break,
# em, ideographic space, ...).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})
# Letters and marks that render as nothing (Unicode's default-ignorable
# characters outside the categories above).
INVISIBLE_CHARACTERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


def first_invisible_character(text: str) -> str | None:
    """The first character of ``text`` a reader could not see or that changes how the rest reads."""
    for character in text:
        # NUL has Django's own validator (ProhibitNullCharactersValidator) on every form field.
        if character in (" ", "\x00"):
            continue
        if character in INVISIBLE_CHARACTERS or unicodedata.category(character) in REFUSED_CATEGORIES:
            return character
    return None


def describe(character: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``, or ``U+0009`` for characters without a name."""
    code = f"U+{ord(character):04X}"
    name = unicodedata.name(character, "")
    return f"{code} ({name})" if name else code


@deconstructible
class VisibleTextValidator:
    """Refuses text holding an invisible or control character (see the module docstring)."""

    code = "invisible_character"

    def __call__(self, value: object) -> None:
        character = first_invisible_character(str(value))
        if character is not None:
            raise ValidationError(
                "Remove the invisible or control character %(character)s: "
                "it can make this look like something it is not.",
                code=self.code,
                params={"character": describe(character)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VisibleTextValidator)

    def __hash__(self) -> int:
        return hash(self.code)
