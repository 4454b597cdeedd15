"""One marker for an argument not given, where None is a meaningful value ("no group",
"clear it"): ``def update(*, group: Group | None | Unset = UNSET)``."""

import enum


class Unset(enum.Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET
