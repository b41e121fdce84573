"""A Twisted get-poetry client in the manner of the tutorial's Part 13.

    python3 -u get_poetry.py [--netstring] [--timeout SECS] XFORM_ADDR POETRY_ADDR...

Addresses are [HOST:]PORT (a bare port means 127.0.0.1). Downloads every poem
at once: a plain poem is what arrives before the server closes; with
--netstring it is one netstring, and a connection that closes before the
netstring is whole is a failed download. Each poem is then sent to the
transformation server at XFORM_ADDR as the netstring `cummingsify.<poem>`;
when that fails, `Cummingsify failed!` goes to stderr and the original poem
is kept. The poems are written to stdout in the order given. Exits 1 when any
download failed or everything took longer than --timeout.
"""

import argparse
import sys

from twisted.internet import defer, task
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.protocols.basic import NetstringReceiver


class DownloadFailed(Exception):
    pass


class TransformFailed(Exception):
    pass


class PlainPoetryProtocol(Protocol):
    """The poem is every byte until the server closes."""

    def connectionMade(self):
        self.poem = b""

    def dataReceived(self, data):
        self.poem += data

    def connectionLost(self, reason):
        self.factory.finish(self.poem)


class NetstringPoetryProtocol(NetstringReceiver):
    """The poem is the one netstring the server sends."""

    def stringReceived(self, poem):
        self.factory.finish(poem)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        NetstringReceiver.connectionLost(self, reason)
        self.factory.fail(DownloadFailed("the connection closed before the netstring poem was whole"))


class OneResultFactory(ClientFactory):
    """Reports the first outcome of one connection through a Deferred."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.deferred = defer.Deferred()

    def finish(self, result):
        if not self.deferred.called:
            self.deferred.callback(result)

    def fail(self, error):
        if not self.deferred.called:
            self.deferred.errback(error)

    def clientConnectionFailed(self, connector, reason):
        self.fail(DownloadFailed(f"could not connect: {reason.getErrorMessage()}"))


class TransformProtocol(NetstringReceiver):
    def connectionMade(self):
        self.sendString(self.factory.request)

    def stringReceived(self, reply):
        self.factory.finish(reply)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        NetstringReceiver.connectionLost(self, reason)
        self.factory.fail(TransformFailed("no transformed poem came back"))


def connect(reactor, address, factory):
    host, port = address
    reactor.connectTCP(host, port, factory)
    return factory.deferred


def download(reactor, address, netstring):
    protocol = NetstringPoetryProtocol if netstring else PlainPoetryProtocol
    return connect(reactor, address, OneResultFactory(protocol))


def cummingsify(reactor, address, poem):
    factory = OneResultFactory(TransformProtocol)
    factory.request = b"cummingsify." + poem
    return connect(reactor, address, factory)


@defer.inlineCallbacks
def get_poem(reactor, address, xform_address, netstring):
    poem = yield download(reactor, address, netstring)
    try:
        poem = yield cummingsify(reactor, xform_address, poem)
    except Exception:
        # The transformation server is down, or refused: keep the original.
        print("Cummingsify failed!", file=sys.stderr, flush=True)
    return poem


def parse_address(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    return host.strip("[]"), int(port)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Twisted get-poetry client (Part 13 style).")
    parser.add_argument("--netstring", action="store_true", help="poems come as one netstring each")
    parser.add_argument("--timeout", type=float, default=10.0, help="give up after this many seconds")
    parser.add_argument("xform", help="the transformation server, [HOST:]PORT")
    parser.add_argument("servers", nargs="+", help="poetry servers, [HOST:]PORT")
    return parser.parse_args(argv)


@defer.inlineCallbacks
def main(reactor, argv):
    args = parse_args(argv)
    xform_address = parse_address(args.xform)
    addresses = [parse_address(server) for server in args.servers]
    poems = defer.DeferredList(
        [get_poem(reactor, address, xform_address, args.netstring) for address in addresses],
        consumeErrors=True,
    )
    poems.addTimeout(args.timeout, reactor)
    try:
        results = yield poems
    except defer.TimeoutError:
        print(f"get_poetry: not done within {args.timeout} s", file=sys.stderr)
        raise SystemExit(1)
    failed = False
    for server, (ok, result) in zip(args.servers, results):
        if ok:
            sys.stdout.buffer.write(result)
        else:
            failed = True
            print(f"get_poetry: {server}: {result.getErrorMessage()}", file=sys.stderr)
    sys.stdout.buffer.flush()
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    task.react(main, [sys.argv[1:]])
