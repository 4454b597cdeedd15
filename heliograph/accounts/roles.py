"""Who may do what: four roles, each able to do everything the one below can.

Plain module, no Django.
"""

from __future__ import annotations

VIEWER, RESPONDER, ADMIN, OWNER = "viewer", "responder", "admin", "owner"
ROLES = (VIEWER, RESPONDER, ADMIN, OWNER)

# The least role each permission needs.
PERMISSIONS = {
    "read": VIEWER,  # see the console, the audit log
    "manage_incidents": RESPONDER,  # incidents, updates, maintenance, postmortems, changes
    "manage_components": ADMIN,  # pages, groups, components, templates
    "manage_subscribers": ADMIN,
    "manage_keys": ADMIN,
    "manage_users": OWNER,
}


def can(role: str, permission: str) -> bool:
    """Whether a user with ``role`` holds ``permission`` (unknown ones: never)."""
    needed = PERMISSIONS.get(permission)
    if needed is None or role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)
