"""`signals simulate`: realistic traffic against a running instance, so the dashboard fills up and
anomalies fire.

`simulate(base_url, rate=..., duration=...)` sends events for `duration` seconds at about `rate`
events per second, mostly one per `POST /v1/log`, sometimes several per `POST /v1/log/batch`:

- users are skewed (a few heavy users, a long tail), each with their own agent and temperament;
- signal types are a weighted mix (chat, search, tool_call, feedback, login, escalation), each with
  its own mix of stressed, uncertain, positive and neutral texts from a built-in corpus;
- about every 8-20 s one (user, signal type) bursts: more than `threshold` events (default 10, the
  service's default) in about 1.5 s, well inside the default 5 s window; the first burst and about
  half of the rest reach critical (at least 1.5 x threshold);
- about 1.5% of sends repeat an earlier event (a client retry with the same `event_id`).

Pacing is a token schedule: every event, bursts and batches included, spends 1/rate seconds of
budget, so the average holds while bursts stay fast. At most `concurrency` requests are in flight.
Failures never raise: a refused connection, a timeout or an error status is counted by kind in the
summary. Event ids are `sim-<run>-<n>`, where <run> is random even with a seed, so a rerun never
collides with an earlier run; the seed makes the content (users, texts, bursts) reproducible.
"""
