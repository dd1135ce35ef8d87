"""A judge behind an OpenAI-compatible chat-completions endpoint, for users who have one.

The study graded with GPT-4.1 at temperature 0, asking for a JSON object; this client sends
the same request to any server that speaks the OpenAI API (OpenAI, vLLM, llama.cpp, ...). The
key, when the server needs one, is read from `OPENAI_API_KEY`. Only the standard library is
used, so nothing is installed for a feature most runs leave off.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.core.errors import UserError

API_KEY_ENV = "OPENAI_API_KEY"
MAX_TOKENS = 256  # the study's judge budget
ATTEMPTS = 3
TIMEOUT_S = 120


@dataclass
class Endpoint:
    """One model at one endpoint; `model_id` becomes the model the server says answered."""

    url: str  # the API base, e.g. https://api.openai.com/v1
    model: str
    json_mode: bool = True  # ask for `response_format: json_object` (rubrics whose verdict is JSON)
    model_id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"judge endpoint {self.url!r}: expected an http(s) URL such as https://api.openai.com/v1")
        self.model_id = self.model

    @property
    def name(self) -> str:
        """The model as the user named it (records keep it beside the endpoint)."""
        return self.model

    def request(self, prompt: str) -> dict:
        """The chat-completions body: the prompt as one user message, greedy (temperature 0)."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def complete(self, prompt: str) -> str:
        """The reply's text; a server that keeps failing ends the run with one line, never a made-up score."""
        data = json.dumps(self.request(prompt)).encode()
        headers = {"Content-Type": "application/json"}
        if key := os.environ.get(API_KEY_ENV):
            headers["Authorization"] = f"Bearer {key}"
        problem = ""
        for attempt in range(ATTEMPTS):
            try:
                req = urllib.request.Request(f"{self.url}/chat/completions", data=data, headers=headers)
                with urllib.request.urlopen(req, timeout=TIMEOUT_S) as reply:
                    answer = json.loads(reply.read())
                self.model_id = str(answer.get("model") or self.model)
                return str(answer["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code != 429:  # the request itself is wrong: retrying will not help
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            except (ValueError, KeyError, IndexError, TypeError):
                problem = "the reply is not a chat completion"
                break
            time.sleep(2**attempt)
        raise UserError(f"judge endpoint {self.url} ({self.model}): {problem}")

    def ask(self, prompts: Sequence[str]) -> list[str]:
        """One reply per prompt, in order."""
        return [self.complete(p) for p in prompts]
