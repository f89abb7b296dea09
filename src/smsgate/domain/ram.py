"""AccessKey permission policies, in the shape of Alibaba RAM policies.

A key may carry a policy document (``key:<AccessKeyId>``) instead of a plain list of actions::

    {"Version": "1",
     "Statement": [{"Effect": "Allow", "Action": ["dysms:SendMessageToGlobe", "dysms:Query*"],
                    "Resource": "*"},
                   {"Effect": "Deny", "Action": "dysms:BatchSendMessageToGlobe", "Resource": "*"}]}

An explicit Deny wins over any Allow; with no matching Allow the call is denied
(``isp.RAM_PERMISSION_DENY``). A policy that cannot be evaluated (not JSON, no Statement, an
Effect other than Allow/Deny, an Action that is not a string or list of strings) fails closed with
``isv.RAM_CHECK_FAILED``: a broken policy must never allow anything.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from smsgate import errors
from smsgate.errors import SmsError

__all__ = ["PRODUCT", "check_policy"]

PRODUCT = "dysms"


def check_policy(policy_text: str, action: str) -> None:
    """Raise unless the policy allows ``dysms:<action>``."""
    statements = _statements(policy_text)
    wanted = f"{PRODUCT}:{action}".lower()
    allowed = False
    for effect, patterns in statements:
        if any(fnmatch.fnmatchcase(wanted, p.lower()) or p == "*" for p in patterns):
            if effect == "Deny":
                raise SmsError(errors.RAM_PERMISSION_DENY, f"the key's policy denies {action}")
            allowed = True
    if not allowed:
        raise SmsError(errors.RAM_PERMISSION_DENY, f"the key's policy does not allow {action}")


def _statements(policy_text: str) -> list[tuple[str, list[str]]]:
    try:
        doc: Any = json.loads(policy_text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise _unusable("it is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), list):
        raise _unusable("it has no Statement list")
    statements = []
    for statement in doc["Statement"]:
        if not isinstance(statement, dict):
            raise _unusable("a statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise _unusable(f"Effect {effect!r} is neither Allow nor Deny")
        actions = statement.get("Action")
        if isinstance(actions, str):
            actions = [actions]
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise _unusable("Action must be a string or a list of strings")
        statements.append((effect, actions))
    return statements


def _unusable(why: str) -> SmsError:
    return SmsError(
        errors.RAM_CHECK_FAILED, f"the key's permission policy cannot be evaluated: {why}"
    )
