"""Sentiment of a user's message to an AI agent: stressed, uncertain, positive or neutral.

    from signals.sentiment import Classifier
    classifier = Classifier(settings.sentiment)   # Classifier() uses the shipped lexicon only
    result = classifier.classify(text)            # text: str | None
    result.label, result.cues

Labels follow /work/shared/sentiment/GUIDELINES.md. When a message mixes states the first label
that reaches `rules.threshold` wins, in the order stressed > uncertain > positive; otherwise it is
neutral.

How a message is scored. One regular expression finds every lexicon phrase (longest first, whole
words) in the lower-cased text. Each cue adds its weight to its label, after these rules:

- negation: a negator ("not", "don't", "never", ...) up to `negation_window` words before a cue,
  in the same clause, turns a stressed cue into a weaker positive one ("not bad") and a positive
  cue into a stressed one ("not happy"); a negated uncertain cue ("not confused") counts for
  nothing. Fixed phrases ("not sure", "no problem", "don't worry") are cues of their own.
- intensifiers ("really", "so") and diminishers ("a bit", "slightly") multiply the next cue.
- contrast ("but", "though", "however"): cues before it keep `contrast_factor` of their weight.
- emphasis: "!!", "?!" or "???" multiply the cues of their sentence; "?!" and "???" are also
  stressed on their own; a cue written in CAPS is multiplied too, and a run of three CAPS words
  (or a shout word such as "PLEASE") counts as stressed.
- sarcasm: phrases such as "oh great" or "yeah right", and praise in scare quotes ("instant").
- literal use: neutral phrases ("stress test", "kill the process", "kernel panic") hide the
  emotional words inside them, and "as expected" after a cue cancels it.
- emoji and emoticons are cues like words (":)", "🙏", "😡", "🤔").

Cues. `result.cues` lists what decided the label, in text order, each "<kind>:<text>" where the
text is the lower-cased span matched:

- "<label>:<text>" a cue for the winning label, including any modifier or negator before it:
  "stressed:furious", "stressed:really stressed", "positive:not bad", "stressed:not happy";
- "negated:<text>" a cue that negation cancelled ("negated:not confused");
- "emphasis:CAPS", "emphasis:!!!", "emphasis:?!" emphasis that strengthened the winning label;
- "contrast:<word>" a contrast word that the winning label's cues follow;
- "neutral:<phrase>" a literal phrase that hid an emotional word ("neutral:stress test");
- "neutral:information question" a plain question with no affect.

A neutral message with nothing to say has no cues: [].

Tuning. The lexicon is `data/lexicon.toml` in this package. `SentimentSettings.cues` adds a
phrase or overrides its weight ({"stressed": {"on fire": 2.0}}); a phrase under "neutral" shields
its words and its weight is unused. `SentimentSettings.remove` drops shipped phrases. Mistakes
raise `LexiconError` (a ValueError) from the Classifier constructor.
"""

from signals.sentiment.classifier import Classifier
from signals.sentiment.lexicon import LexiconError
from signals.sentiment.tally import Classification

__all__ = ["Classification", "Classifier", "LexiconError"]
