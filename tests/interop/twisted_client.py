"""A Twisted client for the poetry transformation protocol.

    python3 -u twisted_client.py --host H --port P NAME [FILE]

Sends the poem in FILE (or stdin) as one netstring `NAME.POEM` and writes the
reply's payload to stdout, byte for byte. Exits 1, with a message on stderr,
when the server closes without a reply, the connection fails, or it times out.
"""

import argparse
import sys

from twisted.internet import defer, task
from twisted.internet.protocol import ClientFactory
from twisted.protocols.basic import NetstringReceiver


class TransformFailed(Exception):
    """The exchange ended without a transformed poem."""


class TransformClientProtocol(NetstringReceiver):
    """Sends the request once connected; the first netstring back is the reply."""

    def connectionMade(self):
        self.sendString(self.factory.request)

    def stringReceived(self, reply):
        self.transport.loseConnection()
        self.factory.finish(reply)

    def connectionLost(self, reason):
        NetstringReceiver.connectionLost(self, reason)
        # A no-op when a reply already arrived.
        self.factory.fail(TransformFailed("the server closed the connection without a reply"))


class TransformClientFactory(ClientFactory):
    """Carries the request and reports the outcome through one Deferred."""

    protocol = TransformClientProtocol

    def __init__(self, xform_name, poem):
        self.request = xform_name + b"." + poem
        self.deferred = defer.Deferred()

    def finish(self, reply):
        if not self.deferred.called:
            self.deferred.callback(reply)

    def fail(self, error):
        if not self.deferred.called:
            self.deferred.errback(error)

    def clientConnectionFailed(self, connector, reason):
        self.fail(TransformFailed(f"could not connect: {reason.getErrorMessage()}"))


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Twisted poetry transformation client.")
    parser.add_argument("--host", default="localhost", help="server host")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--timeout", type=float, default=10.0, help="give up after this many seconds")
    parser.add_argument("name", help="transform name, e.g. cummingsify")
    parser.add_argument("file", nargs="?", help="poem file (default: stdin)")
    return parser.parse_args(argv)


def read_poem(path):
    # Bytes, not text: the poem goes on the wire exactly as given.
    if path is None:
        return sys.stdin.buffer.read()
    with open(path, "rb") as poem_file:
        return poem_file.read()


@defer.inlineCallbacks
def main(reactor, argv):
    args = parse_args(argv)
    factory = TransformClientFactory(args.name.encode("utf-8"), read_poem(args.file))
    connector = reactor.connectTCP(args.host, args.port, factory, timeout=args.timeout)

    def give_up():
        factory.fail(TransformFailed(f"no reply within {args.timeout} s"))
        connector.disconnect()

    # Bounds the whole exchange, not only the connect.
    timer = reactor.callLater(args.timeout, give_up)
    try:
        reply = yield factory.deferred
    except TransformFailed as error:
        print(f"twisted_client: {error}", file=sys.stderr)
        raise SystemExit(1)
    finally:
        if timer.active():
            timer.cancel()
    sys.stdout.buffer.write(reply)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    task.react(main, [sys.argv[1:]])
