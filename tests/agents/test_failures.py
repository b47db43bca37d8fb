"""ptb.agents.failures: what the four CLIs and their APIs print when they give up, typed."""

import pytest

from ptb.agents.failures import classify_failure, classify_line


@pytest.mark.parametrize(
    "line, kind",
    [
        ('API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}', "rate_limit"),
        ("stream error: 429 Too Many Requests", "rate_limit"),
        ('{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded for metric: requests per minute"}}', "rate_limit"),
        ('API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}', "rate_limit"),
        ('{"error":{"type":"insufficient_quota","message":"You exceeded your current quota, please check your plan and billing details."}}', "quota"),
        ("Your credit balance is too low to access the Anthropic API.", "quota"),
        ("You've hit your usage limit. Upgrade to Pro or try again later.", "quota"),
        ('{"error":{"code":"context_length_exceeded","message":"Your input exceeds the context window of this model."}}', "context_overflow"),
        ("API Error: 400 prompt is too long: 210000 tokens > 200000 maximum", "context_overflow"),
        ('API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}', "auth"),
        ("API key not valid. Please pass a valid API key.", "auth"),
        ("TypeError: fetch failed (cause: connect ECONNREFUSED 127.0.0.1:3128)", "network"),
        ("stream disconnected before completion: error sending request", "network"),
    ],
)
def test_each_vendors_words_get_their_type(line: str, kind: str) -> None:
    assert classify_line(line) == kind


def test_ordinary_errors_are_not_typed_and_the_last_match_wins() -> None:
    assert classify_line("Traceback (most recent call last): ValueError: bad shape") is None
    found = classify_failure(["rate limit hit, retrying", "working again", "Your credit balance is too low"])
    assert found == ("quota", "Your credit balance is too low")
    assert classify_failure(["all good"]) is None
