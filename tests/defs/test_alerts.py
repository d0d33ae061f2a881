"""The run-failure sensor on a real failed Dagster run: the alert line names the run, the job,
the failed step and its error, and the configured alert command receives the same JSON."""

from __future__ import annotations

import json
import shlex
import sys

import dagster as dg

from dagster_project.defs.schedules import run_failure_alert_sensor


@dg.op
def load_export() -> None:
    raise ValueError("orders.csv row 7: order_amount is not a number")


@dg.job
def nightly_job() -> None:
    load_export()


def _failed_run_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = nightly_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    return dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
    ).for_run_failure()


def test_a_failed_run_is_logged_and_sent_to_the_alert_command(tmp_path, monkeypatch) -> None:
    log, received = tmp_path / "alerts" / "failures.jsonl", tmp_path / "received.json"
    copy_stdin = f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"
    monkeypatch.setenv("MOPT_ALERT_LOG", str(log))
    monkeypatch.setenv("MOPT_ALERT_COMMAND", shlex.join([sys.executable, "-c", copy_stdin]))
    with dg.instance_for_test() as instance:
        context = _failed_run_context(instance)
        run_failure_alert_sensor(context)
        run_id = context.dagster_run.run_id
    (line,) = log.read_text().splitlines()
    alert = json.loads(line)
    assert alert["run_id"] == run_id
    assert alert["job_name"] == "nightly_job"
    assert alert["failed_steps"] == ["load_export"]
    assert "orders.csv row 7: order_amount is not a number" in alert["step_errors"]["load_export"]
    assert json.loads(received.read_text()) == alert


def test_a_failing_alert_command_fails_the_sensor_tick_after_logging(tmp_path, monkeypatch) -> None:
    log = tmp_path / "failures.jsonl"
    monkeypatch.setenv("MOPT_ALERT_LOG", str(log))
    monkeypatch.setenv("MOPT_ALERT_COMMAND", shlex.join([sys.executable, "-c", "exit(3)"]))
    with dg.instance_for_test() as instance:
        context = _failed_run_context(instance)
        try:
            run_failure_alert_sensor(context)
        except RuntimeError as e:
            assert "exited 3" in str(e)
        else:
            raise AssertionError("a failing alert command must not pass silently")
    assert len(log.read_text().splitlines()) == 1
