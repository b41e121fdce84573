"""A Twisted poetry server that recites one poem slowly, or all at once.

    python3 -u slow_poetry.py [--port N] [--iface HOST] [--delay SECS] [--num-bytes N] POEM

Every client gets the poem in pieces of --num-bytes every --delay seconds
(with --delay 0, the whole poem in one write), and then the connection is
closed. Nothing the client sends is read. Once listening it prints
`Reciting POEM on HOST:PORT.` on stdout.
"""

import argparse
import sys

from twisted.internet import reactor
from twisted.internet.protocol import Protocol, ServerFactory


class RecitalProtocol(Protocol):
    """Writes the factory's poem, paced, then closes."""

    def connectionMade(self):
        self.sent = 0
        self.pending = None
        self.send_next()

    def send_next(self):
        poem, delay, size = self.factory.poem, self.factory.delay, self.factory.num_bytes
        self.pending = None
        end = len(poem) if delay == 0 else min(len(poem), self.sent + size)
        if end > self.sent:
            self.transport.write(poem[self.sent:end])
            self.sent = end
        if self.sent >= len(poem):
            # Twisted closes only once everything written has been sent.
            self.transport.loseConnection()
        else:
            self.pending = reactor.callLater(delay, self.send_next)

    def connectionLost(self, reason):
        if self.pending is not None and self.pending.active():
            self.pending.cancel()


class RecitalFactory(ServerFactory):
    protocol = RecitalProtocol

    def __init__(self, poem, delay, num_bytes):
        self.poem = poem
        self.delay = delay
        self.num_bytes = num_bytes


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Twisted slow poetry server.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--iface", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--delay", type=float, default=0.7, help="seconds between pieces (0: all at once)")
    parser.add_argument("--num-bytes", type=int, default=10, help="bytes in each piece")
    parser.add_argument("poem", help="the poem file")
    args = parser.parse_args(argv)
    if args.num_bytes < 1 or args.delay < 0:
        parser.error("--num-bytes must be at least 1 and --delay at least 0")
    return args


def main(argv):
    args = parse_args(argv)
    with open(args.poem, "rb") as poem_file:
        poem = poem_file.read()
    port = reactor.listenTCP(args.port, RecitalFactory(poem, args.delay, args.num_bytes), interface=args.iface)
    address = port.getHost()
    print(f"Reciting {args.poem} on {address.host}:{address.port}.", flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
