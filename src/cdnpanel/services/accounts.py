"""Accounts and their API keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.records import Account, ApiKey
from cdnpanel.services._clock import Clock, TokenSource
from cdnpanel.store.accounts import AccountStore
from cdnpanel.store.keys import KeyStore

__all__ = ["AccountService", "IssuedKey"]

_MAX_CDN_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its secret: the only moment the secret is ever handed out."""

    key: ApiKey
    cdn_id: int
    secret: str = field(repr=False)


class AccountService:
    def __init__(
        self, accounts: AccountStore, keys: KeyStore, *, clock: Clock, tokens: TokenSource
    ) -> None:
        self._accounts = accounts
        self._keys = keys
        self._clock = clock
        self._tokens = tokens

    def create_account(self, name: str, *, cdn_id: int | None = None) -> Account:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidParameter("name", "must be 1 to 200 characters")
        if cdn_id is not None and not 0 < cdn_id <= _MAX_CDN_ID:
            raise InvalidParameter("cdn", f"must be a positive CDN id up to {_MAX_CDN_ID}")
        return self._accounts.create(name=name, cdn_id=cdn_id, now=int(self._clock()))

    def find_account(self, cdn_id: int) -> Account | None:
        return self._accounts.get_by_cdn(cdn_id)

    def get_account(self, cdn_id: int) -> Account:
        account = self._accounts.get_by_cdn(cdn_id)
        if account is None:
            raise NotFound("account with CDN id", cdn_id, scope="")
        return account

    def list_accounts(self) -> list[Account]:
        return self._accounts.list()

    def create_key(self, cdn_id: int, *, label: str = "") -> IssuedKey:
        account = self.get_account(cdn_id)
        secret = self._tokens.secret()
        key = self._keys.create(
            account_id=account.id,
            api_key=self._tokens.api_key(),
            secret=secret,
            label=label.strip()[:200],
            now=int(self._clock()),
        )
        return IssuedKey(key=key, cdn_id=cdn_id, secret=secret)

    def list_keys(self, cdn_id: int) -> list[ApiKey]:
        return self._keys.list_for_account(self.get_account(cdn_id).id)

    def revoke_key(self, cdn_id: int, api_key: str) -> None:
        account = self.get_account(cdn_id)
        if not self._keys.revoke(account_id=account.id, api_key=api_key, now=int(self._clock())):
            raise NotFound("active API key", api_key)
