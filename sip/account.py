"""A SIP identity on our transport: direct calls, or REGISTER with digest auth.

pjsua refreshes the registration by itself before it expires; `unregister()`
sends REGISTER with Expires: 0.
"""

from __future__ import annotations

import time
from typing import Callable

import gevent.event
import pjsua2 as pj

from callproof.sip.endpoint import Endpoint, pj_error_text
from callproof.sip.errors import SipConfigError
from callproof.sip.settings import AccountSpec


class SipAccount(pj.Account):
    def __init__(self, endpoint: Endpoint, spec: AccountSpec,
                 on_incoming: Callable[["SipAccount", int, str], None] | None = None,
                 on_registration: Callable[[int, str, int], None] | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.spec = spec
        self._on_incoming = on_incoming
        self._on_registration = on_registration
        self.changed = gevent.event.Event()
        self.registrations: list[tuple[float, int, str, int]] = []  # (at, code, reason, expires)

    def start(self) -> None:
        spec = self.spec
        cfg = self.endpoint.account_config(spec.user)
        if spec.domain:
            scheme, rest = cfg.idUri.split(":", 1)
            cfg.idUri = f"{scheme}:{spec.user}@{spec.domain}"
        if spec.registrar:
            cfg.regConfig.registrarUri = spec.registrar
            cfg.regConfig.timeoutSec = spec.expires_s
            cfg.regConfig.registerOnAdd = True
            cfg.regConfig.retryIntervalSec = 0  # a failed registration is reported, not retried
        if spec.proxy:
            cfg.sipConfig.proxies.append(spec.proxy)
        if spec.password is not None:
            cfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", spec.realm, spec.username or spec.user, 0, spec.password)
            )
        try:
            self.create(cfg, True)
        except pj.Error as exc:
            raise SipConfigError(f"account {cfg.idUri} was refused: {pj_error_text(exc)}") from None

    # -- registration --------------------------------------------------------

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.registrations.append((time.monotonic(), prm.code, prm.reason, prm.expiration))
        self.changed.set()
        if self._on_registration is not None:
            self._on_registration(prm.code, prm.reason, prm.expiration)

    def wait_registration(self, timeout_s: float, after: int = 0) -> tuple[int, str, int] | None:
        """The first registration outcome after `after` outcomes; None on timeout."""
        deadline = time.monotonic() + timeout_s
        while len(self.registrations) <= after:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.changed.clear()
            self.changed.wait(remaining)
        _, code, reason, expires = self.registrations[after]
        return code, reason, expires

    def unregister(self) -> None:
        if self.spec.registrar and self.isValid():
            try:
                self.setRegistration(False)
            except pj.Error:
                pass  # not registered: nothing to remove

    # -- incoming calls --------------------------------------------------------

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        if self._on_incoming is not None:
            self._on_incoming(self, prm.callId, prm.rdata.wholeMsg)  # the INVITE as received
            return
        # A caller-only identity turns incoming calls away.
        call = pj.Call(self, prm.callId)
        param = pj.CallOpParam()
        param.statusCode = pj.PJSIP_SC_BUSY_HERE
        call.hangup(param)
        self.endpoint.bury(call)
