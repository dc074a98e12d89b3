"""Prometheus metrics as rabbitmq_prometheus serves them, built at scrape time.

``scrape`` holds what one scrape reads (snapshots of the model, its counters,
what the process measures); ``families`` names every family with RabbitMQ's
TYPE and HELP; ``collect`` turns a Scrape into families for ``/metrics``
(aggregated), ``/metrics/per-object`` and ``/metrics/detailed``; ``text``
writes Prometheus's text format; ``app`` is the small ASGI application the
broker serves (see docs/management.md, "Prometheus metrics").
"""
