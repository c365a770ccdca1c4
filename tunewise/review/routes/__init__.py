"""One router per file: auth (login/logout), pages (the reviewer's HTML), api (JSON), admin (results)."""
