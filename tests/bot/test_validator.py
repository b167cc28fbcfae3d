"""``kefu data validate`` on the fixture projects: each broken file gives its exact path, line and message."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.project import load_project
from bot.validator import validate_project

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"

# Severities follow Rasa 3.6's `rasa data validate`: what Rasa only warns about is a warning here too
# (the project trains); Kefu's own extra findings are warnings as well. `--fail-on-warnings` fails on them.
BROKEN_CASES = {
    "bad_indentation": "domain.yml:11:14: error: invalid YAML: mapping values are not allowed here",
    "tab_indentation": "data/nlu.yml:4:1: error: tab character used for indentation; YAML needs spaces",
    "unknown_intent_in_story": (
        "data/stories.yml:7:5: warning: unknown intent 'track_oder' in story 'track an order' (did you mean 'track_order'?)"
    ),
    "undeclared_entity_in_slot_mapping": (
        "domain.yml:12:7: warning: slot 'order_id' maps from entity 'order_number', which is not declared in 'entities';"
        " this mapping never fills it"
    ),
    "missing_response": (
        "data/stories.yml:11:5: warning: action 'utter_goodbye' in story 'track an order' has no response in the domain"
    ),
    "contradicting_rules": (
        "data/rules.yml:19:5: warning: contradicting rules: rule 'greet with a lookup' (data/rules.yml:19) predicts"
        " 'action_check_order' but rule 'say hi' (data/rules.yml:6) predicts 'utter_greet' after the same steps"
    ),
    "wrong_version": (
        "data/nlu.yml:1:10: error: unsupported format version '4.0'; Kefu reads 2.0, 3.0, 3.1 (quote it: version: \"3.1\")"
    ),
    "duplicate_example": (
        "data/nlu.yml:15:7: warning: example 'hello there' is listed under intent 'inform' and under intent 'greet'"
        " (data/nlu.yml:6)"
    ),
    "non_utf8": "data/nlu.yml:6:8: error: file is not valid UTF-8 (byte 0xe9); save it as UTF-8",
    "empty_file": "data/stories.yml:1:1: warning: file is empty",
    "unclosed_bracket": (
        "data/nlu.yml:10:22: error: unclosed '[' in entity annotation (expected '[text](entity)') in example"
        " 'where is order [A12345 please' of intent 'track_order'"
    ),
    "undeclared_slot_in_story": "data/stories.yml:10:5: warning: unknown slot 'order_number' in story 'track an order'",
    "form_slot_without_mapping": (
        "domain.yml:15:9: warning: form 'track_form' requires slot 'order_id', which has no mappings"
        " (only the form's validation action can fill it)"
    ),
    "unknown_form_in_active_loop": (
        "data/stories.yml:9:5: error: unknown form 'tracking_form' in active_loop of story 'track an order'"
        " (did you mean 'track_form'?)"
    ),
    "utter_action_without_response": (
        "domain.yml:27:5: warning: action 'utter_goodbye' is an utter_ action but has no response in 'responses'"
        " (the bot will say nothing for it)"
    ),
    "duplicate_key": "domain.yml:27:1: error: duplicate key 'intents' (first defined on line 2)",
    "unknown_slot_type": (
        "domain.yml:10:11: error: slot 'order_id' has unknown type 'txt' (one of text, bool, categorical, float, list,"
        " any or a custom class 'module.Class')"
    ),
    "response_without_text": "domain.yml:20:5: error: response 'utter_greet': unknown key 'txt'",
    "story_contradicts_rule": (
        "data/stories.yml:7:5: warning: story 'track an order' (data/stories.yml:7) predicts 'action_check_order' where"
        " rule 'say hi' (data/rules.yml:3) predicts 'action_listen' (the rule and the story contradict)"
    ),
    "unknown_step": (
        "data/stories.yml:5:5: error: story 'track an order': unknown step 'intnt' (expected one of intent, user,"
        " action, bot, slot_was_set, active_loop, or, checkpoint)"
    ),
    "bad_entity_json": (
        "data/nlu.yml:13:20: error: entity annotation {\"entity\": order_id} is not valid JSON: Expecting value in"
        " example 'it's [A54321]{\"entity\": order_id}' of intent 'inform'"
    ),
    "undeclared_entity_in_example": (
        "data/nlu.yml:14:7: warning: entity 'order_no' is annotated in example 'the number is A11111' but not declared"
        " in the domain (did you mean 'order_id'?)"
    ),
}


def _project_with(case: str, tmp_path: Path) -> Path:
    root = tmp_path / case
    shutil.copytree(FIXTURES / "mini", root)
    shutil.copytree(FIXTURES / "broken" / case, root, dirs_exist_ok=True)
    return root


def test_every_broken_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in (FIXTURES / "broken").iterdir()) == sorted(BROKEN_CASES)
    assert len(BROKEN_CASES) >= 15


def test_mini_project_is_valid() -> None:
    assert validate_project(load_project(root=FIXTURES / "mini")) == []


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_broken_fixture_reports_path_line_and_message(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(_project_with(case, tmp_path))
    code = main(["data", "validate"])
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert BROKEN_CASES[case] in lines, out.out
    assert "Traceback" not in out.out + out.err
    expected_severity = BROKEN_CASES[case].split(": ")[1]
    assert code == (1 if expected_severity == "error" else 0)


def test_fail_on_warnings_turns_warnings_into_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(_project_with("duplicate_example", tmp_path))
    assert main(["data", "validate"]) == 0
    assert main(["data", "validate", "--fail-on-warnings"]) == 1
    assert "Validation failed" in capsys.readouterr().out


def test_missing_files_are_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["data", "validate"]) == 1
    out = capsys.readouterr().out
    assert "domain.yml: error: domain file not found" in out
    assert "data: error: training data path not found" in out


def test_demo_shop_is_valid(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    code = main(["data", "validate", "--fail-on-warnings"])
    assert code == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    "project",
    ["rasa_helpdesk_assistant", "rasa_reference/rasa/cli/initial_project"],
)
def test_rasa_projects_validate_unchanged(project: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = SHARED / project
    if not root.exists():
        pytest.skip("../shared/data is absent: the Rasa fixture projects are not available")
    monkeypatch.chdir(root)
    started = time.perf_counter()
    code = main(["data", "validate"])
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 error(s)" in out
    if project == "rasa_helpdesk_assistant":
        assert "17 intents" in out and "14 stories" in out
        assert elapsed < 1.0, f"validating the helpdesk assistant took {elapsed:.2f}s"
