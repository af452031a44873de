"""Distributed tracing (docs/api.md): W3C trace context on every record, OpenTelemetry spans if on.

`traceparent` parses and makes W3C headers (no SDK); `base.Tracing` is tracing off (the
default: `otel.endpoint` empty) and the interface the rest of `signals` calls; `otel.OtelTracing`
is tracing on, with `middleware` (the server span) and `contexts` (W3C strings to OTel contexts).
"""
