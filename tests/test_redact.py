"""ptb.redact: the agent's key values are masked wherever they appear; short values are not secrets."""

from ptb.redact import Redactor


def test_keys_are_masked_by_the_variable_they_came_from() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-abcdefgh12345", "HF_TOKEN": "hf_zzzzzzzzzzzz", "PTB_SEED": "1"}
    redact = Redactor.of_env(env, ("ANTHROPIC_API_KEY", "HF_TOKEN", "PTB_SEED", "UNSET_VAR"))
    line = "curl -H 'x-api-key: sk-ant-abcdefgh12345' ... token=hf_zzzzzzzzzzzz seed 1"
    assert redact(line) == "curl -H 'x-api-key: [ANTHROPIC_API_KEY]' ... token=[HF_TOKEN] seed 1"


def test_a_key_containing_another_is_masked_whole() -> None:
    env = {"A": "secret-value-1", "B": "secret-value-1-and-more"}
    assert Redactor.of_env(env, ("A", "B"))("x secret-value-1-and-more y secret-value-1") == "x [B] y [A]"


def test_nothing_to_mask_leaves_the_text_alone() -> None:
    assert Redactor.of_env({"K": "short"}, ("K",))("short text") == "short text"
