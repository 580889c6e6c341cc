"""A tiny HTTP client for the real web server (waitress): one cookie jar, no redirects
followed (so a test sees every Location), forms posted with the page's CSRF token."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

from tests.web.conftest import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class HttpClient:
    base: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, timeout: float = 60
    ) -> Reply:
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Reply(resp.status, resp.headers, text)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def csrf(self, path: str = "/login") -> str:
        found = _CSRF.search(self.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, form: dict[str, str], csrf_from: str = "/") -> Reply:
        return self.request("POST", path, {"csrf_token": self.csrf(csrf_from), **form})

    def login(self, email: str, password: str = PASSWORD, next_: str | None = None) -> Reply:
        token = self.csrf("/login")
        form = {"email": email, "password": password, "csrf_token": token}
        if next_ is not None:
            form["next"] = next_
        return self.request("POST", "/login", form)
