"""The thin Trio edge: sockets, tasks and timers around the pure layers."""
