"""Docstring parts shared between sibling estimators."""

from __future__ import annotations

import re
import textwrap


class Substitution:
    """Class decorator filling the ``%(name)s`` markers of a docstring.

    As imbalanced-learn's ``Substitution``, but only the named markers are
    replaced (a docstring may hold other ``%`` signs), each alone on its line, and
    every line of the text takes the indentation of that line.

    Parameters
    ----------
    **parts : str
        Text of each marker.
    """

    def __init__(self, **parts):
        self.parts = parts

    def __call__(self, obj):
        doc = obj.__doc__
        if not doc:  # python -OO
            return obj
        for name, text in self.parts.items():
            lines = textwrap.dedent(text).strip().splitlines()

            def indented(match, lines=lines):
                return "\n".join(match[1] + line if line else "" for line in lines)

            doc = re.sub(rf"^([ \t]*)%\({name}\)s$", indented, doc, flags=re.M)
        obj.__doc__ = doc
        return obj
