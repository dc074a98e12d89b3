"""The sans-I/O AMQP 0-9-1 wire layer: bytes and time in, events and bytes out."""
