"""The study's judge: a JSON verdict (0-10 and a rationale) at temperature 0, malformed outputs
counted and never scored, an OpenAI-compatible endpoint as an option, and records judged with the
first (bare-number) rubric still valid."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from conftest import head_commit, run_args

from bench.answer.endpoint import Endpoint
from bench.answer.judge import judge_samples
from bench.core.errors import UserError
from bench.harness.judging import CURRENT, LEGACY, MALFORMED, METRIC, STUDY, Verdict, parse_verdict, rubric_by_hash

GOOD = '{"score": 7, "rationale": "Right idea, one detail missing."}'


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        (GOOD, Verdict(7, "Right idea, one detail missing.")),
        ('```json\n{"score": 10, "rationale": "Same facts."}\n```', Verdict(10, "Same facts.")),
        ('Here is my verdict: {"score": 0, "rationale": "Off topic."} Thanks.', Verdict(0, "Off topic.")),
        ('{"rationale": "ok", "score": 3, "extra": 1}', Verdict(3, "ok")),
        ('{"score": 11, "rationale": "too high"}', None),
        ('{"score": -1, "rationale": "too low"}', None),
        ('{"score": 7.5, "rationale": "not a whole number"}', None),
        ('{"score": "7", "rationale": "a string"}', None),
        ('{"score": true, "rationale": "a boolean"}', None),
        ('{"score": 7}', None),
        ('{"score": 7, "rationale": "  "}', None),
        ('{"score": 7, "rationale": "cut off', None),
        ("[7]", None),
        ("7", None),
        ("", None),
        ('{"verdict": "bad"} {"score": 9, "rationale": "a second object is not read"}', None),
    ],
)
def test_verdicts_are_one_json_object_with_a_whole_score_and_a_reason(output, verdict):
    assert parse_verdict(output) == verdict
    assert STUDY.parse(output) == verdict


def test_malformed_outputs_are_counted_not_scored():
    assert STUDY.sample_metrics(GOOD) == {METRIC: 0.7, MALFORMED: 0.0}
    assert STUDY.sample_metrics("8") == {MALFORMED: 1.0}  # no judge score at all, not a 0
    assert LEGACY.sample_metrics("8") == {METRIC: 0.8} and LEGACY.sample_metrics("no idea") == {METRIC: 0.0}


def test_rubrics_are_known_by_hash_and_the_first_one_kept():
    assert CURRENT is STUDY and STUDY.structured and STUDY.scale == 10
    assert (
        LEGACY.sha256 == "33ee239af68ee92f049ada2a09bfdf1b00b6ce128cd9aeb84af8b43e1ac53d1b"
    )  # the hash records judged with it carry
    assert rubric_by_hash(LEGACY.sha256) is LEGACY and rubric_by_hash(STUDY.sha256) is STUDY
    assert rubric_by_hash("0" * 64) is None
    prompt = STUDY.prompt("What is X?", "X is Y.", "X is Z.")
    assert "What is X?" in prompt and "X is Y." in prompt and '{"score": <whole number 0-10>' in prompt
    for criterion in ("Correctness", "Completeness", "Nothing invented"):
        assert criterion in prompt


class FakeJudge:
    name = model_id = "fake"

    def __init__(self, outputs: list[str]) -> None:
        self.outputs = outputs

    def ask(self, prompts):
        assert len(prompts) == len(self.outputs)
        return list(self.outputs)


def sample(answer: str) -> dict:
    return {"doc": {"question": "What is X?", "answers": ["X is Y."]}, "response": f" {answer}\n", "metrics": {}}


def test_judging_samples_keeps_raw_outputs_and_counts_malformed():
    samples = [sample("X is Y."), sample("X is Z.")]
    assert judge_samples(FakeJudge([GOOD, "seven"]), samples) == 1
    assert samples[0]["judge_output"] == GOOD and samples[0]["metrics"] == {METRIC: 0.7, MALFORMED: 0.0}
    assert samples[1]["judge_output"] == "seven" and samples[1]["metrics"] == {MALFORMED: 1.0}


class ChatServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat-completions endpoint that answers from a script and keeps the requests."""

    requests: ClassVar[list[dict]] = []
    replies: ClassVar[list[str]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatServer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        reply = {"model": "judge-2025-01-01", "choices": [{"message": {"content": ChatServer.replies.pop(0)}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChatServer.requests, ChatServer.replies = [], []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_an_openai_compatible_endpoint_judges_at_temperature_zero(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ChatServer.replies = [GOOD, "not json"]
    endpoint = Endpoint(chat_server + "/", "gpt-4.1")
    samples = [sample("X is Y."), sample("X is Z.")]
    assert judge_samples(endpoint, samples) == 1
    first = ChatServer.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["model"] == "gpt-4.1" and first["temperature"] == 0 and first["max_tokens"] == 256
    assert first["response_format"] == {"type": "json_object"}
    assert first["messages"][0]["content"] == STUDY.prompt("What is X?", "X is Y.", "X is Y.")
    assert endpoint.model_id == "judge-2025-01-01" and samples[1]["metrics"] == {MALFORMED: 1.0}


def test_a_bad_endpoint_is_one_line(monkeypatch):
    monkeypatch.setattr("bench.answer.endpoint.time.sleep", lambda seconds: None)
    with pytest.raises(UserError, match="expected an http"):
        Endpoint("api.openai.com/v1", "gpt-4.1")
    with pytest.raises(UserError, match=r"judge endpoint http://127\.0\.0\.1:9/v1 \(gpt-4\.1\)"):
        Endpoint("http://127.0.0.1:9/v1", "gpt-4.1").complete("hi")


def test_an_endpoint_needs_a_judge_model(tiny_model_dir, tmp_path, capsys):
    from bench.cli import main

    args = run_args(
        tiny_model_dir, tmp_path, "kmb_paperqa_study_small", "--judge-endpoint", "http://x/v1", memories="none"
    )
    assert main(args) == 2
    assert "needs --judge MODEL" in capsys.readouterr().err


@pytest.fixture
def judged_out(tiny_model_dir, tmp_path, monkeypatch):
    """A judged run on the study-framed PaperQA whose judge says one valid and one malformed thing."""
    import bench.answer.judge
    import bench.run.runner

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    outputs = iter([GOOD, "I would give it a 6."])
    monkeypatch.setattr(bench.answer.judge.LocalJudge, "ask", lambda self, prompts: [next(outputs) for _ in prompts])

    def run(rubric=STUDY):
        from bench.cli import main

        monkeypatch.setattr(bench.run.runner, "JUDGE_RUBRIC", rubric)
        args = run_args(tiny_model_dir, tmp_path / "runs", "kmb_paperqa_study_small", memories="none", limit=2)
        assert main([*args, "--judge", str(tiny_model_dir)]) == 0
        return tmp_path / "runs"

    return run


def test_a_judged_run_records_scale_and_malformed_and_validates(judged_out, tmp_path):
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.run.record import find_records, load_record, samples_path_for

    out = judged_out()
    record = load_record(find_records(out)[0])
    assert record.judge.scale == 10 and record.judge.unparseable == 1 and record.judge.endpoint is None
    assert record.judge.rubric_sha256 == STUDY.sha256
    assert record.metrics[METRIC].value == 0.7 and record.metrics[MALFORMED].value == 0.5  # 0.7 over one answer
    folder = create_submission(out, tmp_path / "submissions", "judged", "tests", "2 CPU cores")
    assert validate_submission(folder) == []
    path = find_records(folder)[0]
    rows = [json.loads(line) for line in samples_path_for(path).read_text().splitlines()]
    rows[1]["judge_output"] = '{"score": 2, "rationale": "Wrong."}'  # was malformed: now it would score
    samples_path_for(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = validate_submission(folder)
    assert any("judge scores differ" in p for p in problems) and any("malformed outputs claimed" in p for p in problems)


def test_records_judged_with_the_first_rubric_still_validate(judged_out, tmp_path):
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.run.record import find_records, load_record

    out = judged_out(LEGACY)
    path = find_records(out)[0]
    raw = json.loads(path.read_text())
    for key in ("scale", "endpoint"):  # as such records were written, before these fields
        del raw["judge"][key]
    path.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")
    record = load_record(path)
    assert record.judge.rubric_sha256 == LEGACY.sha256 and record.judge.scale == 10
    assert record.metrics[METRIC].value == pytest.approx((0.7 + 0.6) / 2)  # "6" is a bare-number score there
    folder = create_submission(out, tmp_path / "submissions", "legacy", "tests", "2 CPU cores")
    assert validate_submission(folder) == []


def test_an_endpoint_judged_run_records_the_endpoint_and_validates(chat_server, tiny_model_dir, tmp_path, monkeypatch):
    import bench.run.runner
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.cli import main
    from bench.run.record import find_records, load_record

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    ChatServer.replies = [GOOD, '{"score": 3, "rationale": "Partly wrong."}']
    args = run_args(tiny_model_dir, tmp_path / "runs", "kmb_paperqa_study_small", memories="none", limit=2)
    assert main([*args, "--judge", "gpt-4.1", "--judge-endpoint", chat_server + "/"]) == 0
    record = load_record(find_records(tmp_path / "runs")[0])
    assert record.judge.endpoint == chat_server and record.judge.model == "gpt-4.1"
    assert record.judge.model_id == "judge-2025-01-01" and record.judge.unparseable == 0
    assert record.metrics[METRIC].value == pytest.approx(0.5) and record.metrics[MALFORMED].value == 0.0
    folder = create_submission(tmp_path / "runs", tmp_path / "submissions", "endpoint", "tests", "2 CPU cores")
    assert validate_submission(folder) == []
