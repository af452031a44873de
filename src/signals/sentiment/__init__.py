"""Sentiment of a user's message to an AI agent: stressed, uncertain, positive or neutral.

    from signals.sentiment import Classifier
    classifier = Classifier(settings.sentiment)   # Classifier() uses the shipped lexicon only
    result = classifier.classify(text)            # text: str | None
    result.label, result.cues

Labels follow the labelling guidelines (docs/sentiment-guidelines.md). When a message
mixes states, the first label whose score reaches `rules.threshold` wins, in the order
stressed > uncertain > positive; if none does, the message is neutral. The first Classifier of
a process loads and compiles the lexicon (a fraction of a second); later ones reuse it and cost
well under a millisecond (overrides that add or remove phrases compile their own automata).
`classify` is pure CPU with no I/O, safe to call inline from an async handler, and a Classifier
keeps no state between calls.

How a message is scored. One pass of an Aho-Corasick automaton finds every lexicon phrase
(longest first, on whole words) in the lower-cased text, in time linear in its length, as are
all the rules below; a message is read up to its 512th phrase or mark. Each cue adds its weight
to its label, under these rules:

- negation: a negator ("not", "don't", "never", "nobody", "less") up to `negation_window` words
  before a cue, in the same clause, turns a stressed cue into a weaker positive one ("not bad")
  and a positive cue into a stressed one ("not happy"); a negated uncertain cue ("not confused")
  counts for nothing. Some phrases count only when negated ("I don't understand", "it won't
  load"). Fixed phrases ("not sure", "no problem", "no worries") are cues of their own, and a
  negative question ("isn't this ...?", "doesn't that mean ...?") is a question, not a negation.
- intensifiers ("really", "so") and diminishers ("a bit", "slightly", and a past tense "was")
  multiply the next cue.
- contrast ("but", "though", "however"): feelings before it keep `contrast_factor` of their
  weight, hedges keep all of it ("maybe I'm wrong, but ..."); a turnaround ("but now", "in the
  end") discounts hedges too ("I was confused, but now it makes sense").
- questions: a "?" makes the hedges of its sentence weigh more and its praise less; a plain
  question with no affect is neutral ("what's the routing number?").
- emphasis: "!!", "?!" or "???" multiply the cues of their sentence, and "?!" and "???" are
  stressed on their own; a cue in CAPS is multiplied, a shouted "NOT" or "PLEASE" is stressed,
  and a run of three CAPS words is a little stressed (capitals alone are not a feeling).
- sarcasm: phrases such as "oh great" or "yeah right", and praise in scare quotes
  (yeah, "instant" transfer); a quoted word in a question is a term asked about, not sarcasm.
  Praise such as "love how" or "fantastic" (the lexicon's `ironic_praise`, never thanks or
  relief) in the same sentence as a mishap told as an event ("deletes my", "logs me out":
  `mishaps`) counts as stressed when the mishap alone is too weak to decide ("Love how the
  save button deletes my draft").
- literal use: neutral phrases ("stress test", "kill the process", "kernel panic") hide the
  emotional words inside them; "as expected" after a cue cancels it; words inside double
  quotes are mentioned, not felt; after a task verb ("explain what", "translate",
  "draft a", "the character", "I thought I'd lost") the feelings of the same clause are its
  topic; and the words right after a name or a diagnosis ("the dog's name is Happy", "a
  history of anxiety") are what something is called, as are those right after a reported
  feeling ("my customer says she's frustrated") or a state left behind ("went from dreading").
- deliberation: a doubt about what to do ("not sure whether to", "I may have") is uncertain,
  and the feelings of the clause it opens are what it weighs, not what the writer feels ("not
  sure whether to escalate this"); an emoji there is still felt. A doubt about what happened
  ("not sure what", "wondering", "I don't know if") weighs the hints of its clause the same way
  ("not sure what I did wrong"), while a cue of twice the threshold or in CAPS is still felt.
- emoji and emoticons are cues like words (":)", "🙏", "😡", "🤔").

Cues. `result.cues` lists what decided the label, in text order, without repeats. Each is
"<kind>:<text>", the text being the lower-cased span matched:

- "<label>:<text>" a cue for the winning label, with any modifier or negator that shaped it:
  "stressed:furious", "stressed:really stressed", "positive:not bad", "stressed:not happy";
- "negated:<text>" a cue that negation cancelled ("negated:not confused");
- "emphasis:CAPS", "emphasis:!!!", "emphasis:?!" emphasis that strengthened or decided the label;
- "contrast:<word>" a contrast word that the winning label's cues come after;
- "neutral:<text>" a literal phrase, quotation or topic that hid an emotional word
  ("neutral:stress test", 'neutral:"i am worried"', "neutral:explain what a panic attack");
- "neutral:information question" a plain question with no affect.

A neutral message with nothing to explain has no cues: [].

Tuning. The lexicon is `data/lexicon.toml` in this package: cue weights per label, negators,
modifiers, contrast words and the numeric `[rules]`. `SentimentSettings.cues` adds a phrase or
overrides its weight ({"stressed": {"borked": 2.0}}; naming a shipped phrase under another label
moves it there); a phrase under "neutral" shields its words and its weight is unused.
`SentimentSettings.remove` drops shipped phrases. Mistakes (an empty phrase, a weight that is not
a finite number within ±10, removing a phrase the lexicon does not have) raise `LexiconError`, a
ValueError naming the settings key, from the Classifier constructor.

Measuring. `signals.sentiment.evaluate` scores a classifier against a labelled JSON Lines file.
"""

from signals.sentiment.classifier import Classifier
from signals.sentiment.lexicon import LexiconError
from signals.sentiment.verdict import Classification

__all__ = ["Classification", "Classifier", "LexiconError"]
