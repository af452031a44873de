"""One table per rule: the label a message gets and a cue that shows which rule decided it.

Each row is (text, label, cue); cue "" means the label alone is checked, and cue None means the
message must have no cues at all. A cue's text spans any modifier or negator that shaped it
("stressed:really frustrated"). The texts are written for these tests, not taken from dev.
"""

from __future__ import annotations

import pytest

from signals.sentiment import Classifier

Row = tuple[str, str, str | None]


def check(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    result = classifier.classify(text)
    assert result.label == label, (text, result)
    if cue is None:
        assert result.cues == [], (text, result)
    elif cue:
        assert cue in result.cues, (text, result)


NEGATION: list[Row] = [
    ("I'm not pleased with the result", "stressed", "stressed:not pleased"),
    ("honestly not helpful at all", "stressed", ""),
    ("This is not bad at all, nice work", "positive", "positive:not bad at all"),
    ("it's not terrible, I can live with it", "positive", "positive:not terrible"),
    ("don't worry about it, thanks anyway", "positive", "positive:don't worry"),
    ("no problem, that's fine", "positive", "positive:no problem"),
    ("I'm not confused anymore", "neutral", "negated:not confused"),
    ("I don't really understand the second step", "uncertain", ""),
    ("I never really got how the interest is computed", "uncertain", ""),
    ("nobody has answered my ticket", "stressed", "stressed:nobody has answered"),
    ("it was less scary than I expected", "positive", "positive:was less scary"),
    # a clause break ends the negation
    ("No, this is great", "positive", "positive:great"),
    # a negative question asks, it does not negate
    ("Isn't this supposed to be included?", "uncertain", ""),
    # a superlative is not a negation
    ("never had such an easy checkout, well done", "positive", "positive:easy"),
    ("I've never been so annoyed with a bank", "stressed", "stressed:annoyed"),
    # nor is a negator before an emoji: it shows what it shows
    ("the rent is due and I can't get in \U0001f630", "stressed", "stressed:\U0001f630"),
    ("not a single hiccup with the upgrade", "positive", "positive:not a single hiccup"),
]

MODIFIERS: list[Row] = [
    ("I'm really frustrated with the upload page", "stressed", "stressed:really frustrated"),
    ("I'm a bit confused by the second chart", "uncertain", "uncertain:a bit confused"),
    ("so so happy with how this turned out", "positive", "positive:so so happy with"),
]

EMPHASIS: list[Row] = [
    ("fantastic!!!", "positive", "emphasis:!!!"),
    ("I am NOT happy with this", "stressed", "emphasis:CAPS"),
    ("what is going on?!", "stressed", "emphasis:?!"),
    ("PLEASE respond, the payment is stuck", "stressed", "emphasis:CAPS"),
    # capitals alone are not a feeling: plenty of people type in capitals
    ("ORDER NUMBER IS 55821", "neutral", None),
]

EMOJI: list[Row] = [
    ("\U0001f64f", "positive", "positive:\U0001f64f"),
    ("the order arrived smashed \U0001f621", "stressed", "stressed:\U0001f621"),
    ("\U0001f914 which port does it use", "uncertain", "uncertain:\U0001f914"),
    ("love it \u2764\ufe0f", "positive", "positive:\u2764"),
    ("works now :)", "positive", "positive::)"),
    ("still broken :(", "stressed", "stressed::("),
    ("Open https://example.com/docs:/v2 please", "neutral", None),
]

CONTRAST: list[Row] = [
    ("Thanks, but it still crashes and I'm furious", "stressed", "stressed:furious"),
    ("I was worried at first, but it all worked out, thanks", "positive", "contrast:but"),
    ("It was confusing at first, but now it makes sense", "positive", "contrast:but now"),
    # a hedge before "but" still frames the question after it
    ("Maybe I'm missing something, but where is the export button?", "uncertain", ""),
    # "until" ahead of a wait is no change of state: the hedge before it stands
    ("would it be better to sell now or hold until the spring?", "uncertain", ""),
]

LITERAL: list[Row] = [
    ("Kill the process listening on port 8080", "neutral", "neutral:kill the process"),
    ("Add a panic handler to the worker threads", "neutral", "neutral:panic handler"),
    ("Run a stress test against staging with 500 users", "neutral", "neutral:stress test"),
    ("The patient has a history of panic attacks; add it to the chart", "neutral", ""),
    ("the villain is furious when the letter arrives; what does that foreshadow?", "neutral", ""),
    ("Archive the mailboxes that have been inactive for a month", "neutral", ""),
    ("schedule the backup for 3am", "neutral", "neutral:for 3am"),
    ("Give me a fun fact about the moon", "neutral", ""),
    ("Check that the parser fails as expected on empty input", "neutral", ""),
    ("Is the determinant of this matrix positive or negative?", "neutral", ""),
    ("kernel panic on boot, collect the logs", "neutral", "neutral:kernel panic"),
    ("Compute the mean of column B", "neutral", "neutral:the mean"),
    ("Write a thank-you note to my landlord", "neutral", "neutral:thank-you note"),
    ("List the stressed syllables in 'banana'", "neutral", ""),
    # a literal phrase does not hide a real feeling next to it
    ("I'm panicking, a kernel panic took down production", "stressed", "stressed:panicking"),
]

MENTION: list[Row] = [
    ('Translate "I am so worried" into French', "neutral", ""),
    ('Rename the "Panic" button to "Emergency stop"', "neutral", 'neutral:"panic"'),
    ("Explain what a panic attack is for my psychology class", "neutral", ""),
    ("Draft an angry complaint about the late delivery", "neutral", ""),
    ("What are the symptoms of burnout and anxiety?", "neutral", ""),
    ("In the novel the narrator is terrified of the sea", "neutral", ""),
    ("Open a ticket for the broken badge reader on floor 2", "neutral", ""),
    # a quoted word in a question is a term asked about, not sarcasm
    ('does "resolved" mean they fixed it or closed the ticket?', "uncertain", ""),
    # the writer's own feeling, outside the topic, still counts
    ("Explain the fees again, I'm really confused", "uncertain", ""),
    ("I'm furious, write a complaint to the airline", "stressed", "stressed:furious"),
    # a name reaches only the next few words
    ("our cat is named Angry Pants", "neutral", ""),
    ("My name is Joy and I'm furious about this charge", "stressed", "stressed:furious"),
    # a deliberation weighs what follows: the writer doubts, the complaint is not yet felt
    ("Unsure whether to file a formal complaint or just wait", "uncertain", ""),
    ("I might have sent it to the wrong account, can you check?", "uncertain", ""),
    ("not sure if I should cancel :(", "stressed", "stressed::("),
    ("not sure if I should wait, this is hopeless", "stressed", "stressed:hopeless"),
    # someone else's feeling, reported, and a state left behind
    ("My client says he's upset about the invoice; draft a reply", "neutral", ""),
    ("the patient reported feeling dizzy and anxious after the dose", "neutral", ""),
    ("my son went from hating reading to finishing two books, thank you", "positive", ""),
    ("it went from bad to worse after the update", "stressed", ""),
]

DOUBT: list[Row] = [
    # a doubt about what happened weighs the hints of its clause ...
    ("not sure what I'm doing wrong with the formula", "uncertain", "uncertain:not sure what"),
    ("wondering if I typed the postcode wrong", "uncertain", "uncertain:wondering"),
    ("I don't know if the payment failed or went through", "uncertain", ""),
    # ... but a strong cue is still felt
    ("not sure what happened and I'm furious", "stressed", "stressed:furious"),
    ("I don't know if my visa was approved and I'm terrified", "stressed", ""),
    # an evaluation the writer cannot make
    ("is a lower score better or worse here?", "uncertain", "uncertain:better or worse"),
    ("I can't work it out from the manual", "uncertain", ""),
]

QUESTIONS: list[Row] = [
    ("What's the routing number for my account?", "neutral", "neutral:information question"),
    ("how do I reset my password", "neutral", "neutral:information question"),
    ("Sorry if this is a silly question, but what is an escrow account?", "uncertain", ""),
    ("not sure what 'APR' means on this statement", "uncertain", ""),
    ("Hmm, how do I reset my password?", "uncertain", "uncertain:hmm"),
    ("Should I pick the monthly or the annual plan?", "uncertain", ""),
    ("is it normal for a refund to take a week?", "uncertain", ""),
]

SARCASM: list[Row] = [
    ("Oh great, the app crashed again", "stressed", "stressed:oh great"),
    # ironic praise in the sentence of a mishap, with no sarcasm phrase
    ("Love how the upload button deletes my files. Superb.", "stressed", "stressed:love how"),
    ("awesome, the app signs me out on its own", "stressed", "stressed:awesome"),
    ("the page logs me out on every refresh, wonderful", "stressed", "stressed:wonderful"),
    # not when the mishap is negated, in another sentence, or a fear that is over
    ("nice, it no longer logs me out", "positive", "positive:nice"),
    ("Wonderful support. The old version crashed, this one is solid.", "positive", ""),
    ("Brilliant, I thought I'd lost my notes", "positive", "positive:brilliant"),
    ('yeah right, "same-day" delivery', "stressed", 'stressed:"same-day"'),
    ("\u201cfast\u201d shipping, two weeks later", "stressed", 'stressed:"fast"'),
    ("thanks for nothing", "stressed", "stressed:thanks for nothing"),
]

PRECEDENCE: list[Row] = [
    ("Thanks! Also set my timezone to UTC", "positive", "positive:thanks"),
    ("Thanks, though I'm still not sure how step 2 works", "uncertain", ""),
    ("I'm confused and honestly furious about these fees", "stressed", "stressed:honestly furious"),
    ("Great, thanks! One thing I don't understand: why two fees?", "uncertain", ""),
    ("I appreciate it, but I'm terrified the transfer went to the wrong account", "stressed", ""),
]


@pytest.mark.parametrize(("text", "label", "cue"), NEGATION)
def test_negation(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), MODIFIERS)
def test_intensifiers_and_diminishers(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), EMPHASIS)
def test_emphasis(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), EMOJI)
def test_emoji_and_emoticons(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), CONTRAST)
def test_contrast(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), LITERAL)
def test_technical_and_literal_words(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), MENTION)
def test_mentioned_feelings_are_not_felt(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), DOUBT)
def test_a_doubt_weighs_its_hints(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), QUESTIONS)
def test_information_versus_confused_questions(
    classifier: Classifier, text: str, label: str, cue: str | None
) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), SARCASM)
def test_sarcasm(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    check(classifier, text, label, cue)


@pytest.mark.parametrize(("text", "label", "cue"), PRECEDENCE)
def test_precedence(classifier: Classifier, text: str, label: str, cue: str | None) -> None:
    check(classifier, text, label, cue)
