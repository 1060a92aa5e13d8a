import json

from orchard_featurize import logs


def test_the_failed_line_becomes_the_termination_message(tmp_path, monkeypatch, capsys):
    message = tmp_path / "termination-log"
    message.write_text("")  # the kubelet creates the file before the container starts
    monkeypatch.setattr(logs, "TERMINATION_LOG", str(message))
    logs.log("spark_started", version="3.5.8")
    assert message.read_text() == ""
    logs.log(logs.FAILED_EVENT, level="error", error="s3a://b/in holds no images")
    written = json.loads(message.read_text())
    assert written["event"] == "failed" and written["error"] == "s3a://b/in holds no images"
    # The line still goes to stderr, with every other line of the job.
    assert [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()] == ["spark_started", "failed"]


def test_no_termination_file_outside_a_pod_and_a_long_line_is_cut_to_the_kubelet_limit(tmp_path):
    assert logs.write_termination_message("x", str(tmp_path / "absent")) is False
    target = tmp_path / "termination-log"
    target.write_text("")
    assert logs.write_termination_message("é" * 5000, str(target)) is True
    assert len(target.read_text().encode("utf-8")) <= logs.TERMINATION_LIMIT
