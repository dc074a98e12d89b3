"""The management HTTP API, shaped like RabbitMQ's (rabbitmq_management 3.10).

Layers, outermost first: ``app`` is the ASGI application hypercorn serves on
Trio (body and header limits, one JSON error path); ``router`` matches the raw
path, one percent-encoded segment per name; ``auth`` checks HTTP Basic
credentials and tags; each module of ``resources`` answers for one kind of
object. Resources read the model through ``view`` snapshots and change it only
through the operations ``context`` offers; they never reach into its internals.
"""
