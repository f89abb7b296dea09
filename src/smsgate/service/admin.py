"""Operator use-cases: review of templates and sign names, policy documents, account settings.

One implementation serves both operator doors, the CLI and the HTTP admin API, so they cannot
drift apart. Everything here validates its input before it writes: a policy document that does not
parse is refused with a ValueError naming the problem, never stored.
"""

from __future__ import annotations

import json
from typing import Any

from smsgate.domain.faults import parse_faults
from smsgate.domain.models import ReviewStatus, SignName, Template
from smsgate.domain.settings import PlatformSettings
from smsgate.ports.clock import Clock
from smsgate.ports.store import Store
from smsgate.service.policy import parse_document

__all__ = ["TEMPLATE_TYPES", "AdminService", "NotFoundError"]

TEMPLATE_TYPES = ("verification", "notification", "promotion")
MAX_TEMPLATE_LENGTH = 500
MAX_SIGN_NAME_LENGTH = 11


class NotFoundError(LookupError):
    """The account, template, sign name or key named does not exist."""


class AdminService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def _platform(self) -> PlatformSettings:
        found = await self._store.get_document("platform")
        if found is None:
            return PlatformSettings()
        parsed: PlatformSettings = parse_document("platform", found[1])
        return parsed

    async def _must_account(self, account_id: str) -> None:
        if await self._store.get_account(account_id) is None:
            raise NotFoundError(f"no account {account_id}")

    # -- templates ------------------------------------------------------------------------------

    async def add_template(
        self, account_id: str, code: str, content: str, template_type: str
    ) -> Template:
        """Submit a template for review (approved at once when review is automatic)."""
        await self._must_account(account_id)
        if not code or len(code) > 64 or not code.replace("_", "").isalnum():
            raise ValueError("a template code is letters, digits and _ (e.g. SMS_123456789)")
        if not content.strip() or len(content) > MAX_TEMPLATE_LENGTH:
            raise ValueError(f"template content must be 1 to {MAX_TEMPLATE_LENGTH} characters")
        if template_type not in TEMPLATE_TYPES:
            raise ValueError(f"template type must be one of {', '.join(TEMPLATE_TYPES)}")
        auto = (await self._platform()).review_templates == "auto"
        template = Template(
            account_id=account_id,
            code=code,
            content=content,
            template_type=template_type,
            status=ReviewStatus.APPROVED if auto else ReviewStatus.PENDING,
            created_at=self._clock.now(),
        )
        await self._store.put_template(template)
        return template

    async def review_template(self, account_id: str, code: str, status: ReviewStatus) -> Template:
        template = await self._store.get_template(account_id, code)
        if template is None:
            raise NotFoundError(f"account {account_id} has no template {code}")
        reviewed = Template(
            template.account_id,
            template.code,
            template.content,
            template.template_type,
            status,
            template.created_at,
        )
        await self._store.put_template(reviewed)
        return reviewed

    # -- sign names -----------------------------------------------------------------------------

    async def add_sign_name(self, account_id: str, name: str) -> SignName:
        await self._must_account(account_id)
        if not name or len(name) > MAX_SIGN_NAME_LENGTH * 3:
            raise ValueError("a sign name must be 1 to 33 characters")
        auto = (await self._platform()).review_sign_names == "auto"
        sign = SignName(
            account_id,
            name,
            ReviewStatus.APPROVED if auto else ReviewStatus.PENDING,
            self._clock.now(),
        )
        await self._store.put_sign_name(sign)
        return sign

    async def review_sign_name(self, account_id: str, name: str, status: ReviewStatus) -> SignName:
        sign = await self._store.get_sign_name(account_id, name)
        if sign is None:
            raise NotFoundError(f"account {account_id} has no sign name {name!r}")
        reviewed = SignName(sign.account_id, sign.name, status, sign.created_at)
        await self._store.put_sign_name(reviewed)
        return reviewed

    # -- policy documents -----------------------------------------------------------------------

    async def get_policy(self, name: str) -> Any:
        """The document's JSON value, or None if it was never written (defaults apply)."""
        found = await self._store.get_document(name)
        return None if found is None else json.loads(found[1])

    async def put_policy(self, name: str, doc: Any) -> int:
        """Validate and store a document; returns its new version."""
        if name.startswith("account:"):
            await self._must_account(name.removeprefix("account:"))
        if (
            name.startswith("key:")
            and await self._store.find_key(name.removeprefix("key:")) is None
        ):
            raise NotFoundError(f"no access key {name.removeprefix('key:')}")
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        if not name.startswith("key:"):  # a key policy is evaluated per call: keep it as given
            parse_document(name, text)
        return await self._store.put_document(name, text)

    async def update_account_settings(self, account_id: str, changes: dict[str, Any]) -> Any:
        """Merge ``changes`` (None removes a setting) into the account's settings document."""
        name = f"account:{account_id}"
        current = await self.get_policy(name) or {}
        for key, value in changes.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        await self.put_policy(name, current)
        return current

    async def add_fault(self, rule: dict[str, Any]) -> list[Any]:
        rules = list(await self.get_policy("faults") or [])
        rules.append(rule)
        parse_faults(rules)
        await self.put_policy("faults", rules)
        return rules

    async def clear_faults(self, account_id: str | None = None) -> list[Any]:
        rules = list(await self.get_policy("faults") or [])
        kept = [] if account_id is None else [r for r in rules if r.get("account") != account_id]
        await self.put_policy("faults", kept)
        return kept
