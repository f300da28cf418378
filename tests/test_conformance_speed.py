"""What the conformance suite does to spend little time of its own, without changing what a
case judges: it waits for asynchronous effects until they come, until the target says
nothing more is queued (``POST /_admin/poll`` answering ``"queued": 0``), or for the whole
``--wait`` when the target does not say — never less; its session reads the environment's
proxy settings once per host, with the same outcome as ``requests`` reading them each
time."""

from __future__ import annotations

import io
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from oir_adapter.clients import clients_for
from oir_adapter.conformance import Role, SuiteOptions, cases_for
from oir_adapter.conformance.context import (
    CaseContext,
    Endpoint,
    Environment,
    TargetUnreachable,
    probe_target,
)
from oir_adapter.conformance.runner import RunSession

BASE = "http://waits.invalid"


class ScriptedPolls(BaseAdapter):
    """An admin API whose ``POST /_admin/poll`` answers the scripted bodies in turn (the
    last one again once they run out); each poll may also make an effect visible."""

    def __init__(self, answers: list[dict[str, Any]], *, arrives_at_poll: int | None = None
                 ) -> None:
        super().__init__()
        self.answers = answers
        self.arrives_at_poll = arrives_at_poll
        self.polls = 0

    @property
    def arrived(self) -> bool:
        return self.arrives_at_poll is not None and self.polls >= self.arrives_at_poll

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        assert request.method == "POST" and (request.url or "").endswith("/_admin/poll")
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(answer).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        return response

    def close(self) -> None:
        pass


def context(target: ScriptedPolls, wait: float) -> CaseContext:
    session = requests.Session()
    session.mount(BASE, target)
    endpoint = Endpoint(BASE, session, admin=True)
    env = Environment(SuiteOptions(target=BASE, wait=wait), endpoint,
                      clients_for(BASE, session=session), endpoint)
    return CaseContext(env, cases_for(Role.DEBITOR)[0])


def test_an_empty_queue_ends_the_wait_for_an_effect_that_must_not_come() -> None:
    target = ScriptedPolls([{"sent": 0, "events": [], "queued": 0}])
    probes: list[float] = []

    def nothing() -> list[str]:
        probes.append(time.monotonic())
        return []

    started = time.monotonic()
    assert context(target, wait=30).eventually(nothing) == []
    assert time.monotonic() - started < 5
    assert (target.polls, len(probes)) == (1, 2)  # one probe after the target said so


def test_while_calls_are_still_queued_the_wait_goes_on_until_the_effect_comes() -> None:
    queued = {"sent": 1, "events": [], "queued": 1}
    target = ScriptedPolls([queued, queued, queued, {"sent": 1, "events": [], "queued": 0}],
                           arrives_at_poll=3)
    found = context(target, wait=30).eventually(
        lambda: ["OPRETFORDRING"] if target.arrived else [])
    assert found == ["OPRETFORDRING"]
    assert target.polls == 3


def test_an_effect_sent_by_the_poll_that_empties_the_queue_is_seen() -> None:
    target = ScriptedPolls([{"sent": 1, "events": [], "queued": 0}], arrives_at_poll=1)
    found = context(target, wait=30).eventually(lambda: ["callback"] if target.arrived else [])
    assert found == ["callback"]


def test_a_target_that_does_not_say_what_is_queued_is_waited_for_the_whole_wait() -> None:
    target = ScriptedPolls([{"sent": 0, "events": []}])
    started = time.monotonic()
    assert context(target, wait=0.6).eventually(list) == []
    assert time.monotonic() - started >= 0.6
    assert target.polls >= 3  # pauses from 20 ms up: several polls, not one per 200 ms


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/service/OIR/x/1",
                                 "http://psrm.example.invalid/psrm/x/1",
                                 "https://oir.example.invalid/service/x/1"])
def test_the_run_session_settles_proxies_and_ca_bundles_as_requests_does(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3129")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,psrm.example.invalid")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    ours, theirs = RunSession(), requests.Session()
    for proxies, verify in (({}, None), ({"http": "http://given.invalid:1"}, False)):
        expected = theirs.merge_environment_settings(url, dict(proxies), None, verify, None)
        for _ in range(2):  # the second time from what the session kept
            assert ours.merge_environment_settings(url, dict(proxies), None, verify,
                                                   None) == expected


class Paths(BaseAdapter):
    """Answers 200 to every path but those in ``silent``, which get no answer at all."""

    def __init__(self, silent: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.silent = silent
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        path = urlsplit(request.url or "").path or "/"
        self.asked.append(path)
        if path in self.silent:
            raise requests.ConnectionError("Connection refused")
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"status": "ok", "version": "9"}).encode()
        response.raw = io.BytesIO(response._content)
        response.request = request
        return response

    def close(self) -> None:
        pass


def _probe(adapter: Paths) -> tuple[bool, str | None]:
    session = requests.Session()
    session.mount(BASE, adapter)
    return probe_target(BASE, session)


def test_an_emulator_is_probed_with_one_request_and_never_its_dashboard() -> None:
    adapter = Paths()
    assert _probe(adapter) == (True, "9")
    assert adapter.asked == ["/_admin/health"]


def test_without_an_answer_at_the_health_path_the_target_itself_is_probed() -> None:
    adapter = Paths(silent=("/_admin/health",))
    assert _probe(adapter) == (False, None)
    assert adapter.asked == ["/_admin/health", "/"]
    with pytest.raises(TargetUnreachable, match="connection refused"):
        _probe(Paths(silent=("/_admin/health", "/")))


def test_naming_every_case_by_id_selects_them_all_in_run_order() -> None:
    every = cases_for(Role.DEBITOR)
    assert cases_for(Role.DEBITOR, [c.id for c in reversed(every)]) == every
    assert [c.id for c in cases_for(Role.DEBITOR, ["oir-pay-001", "OIR-PAY-00?"])] == [
        c.id for c in every if c.id.startswith("OIR-PAY-00")]
    with pytest.raises(KeyError, match="OIR-NOPE-1"):
        cases_for(Role.DEBITOR, ["OIR-PAY-001", "OIR-NOPE-1"])
