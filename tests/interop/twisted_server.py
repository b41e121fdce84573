"""A Twisted poetry transformation server, built like the tutorial's original.

It is the reference `poetry` must interoperate with: service, guarded
factory and NetstringReceiver protocol kept apart, as in the Twisted design.

    python3 -u twisted_server.py [--port N] [--iface HOST] [--max-length BYTES]

Once listening it prints `Serving transforms on HOST:PORT.` on stdout.
"""

import argparse
import sys

from twisted.internet import reactor
from twisted.internet.protocol import ServerFactory
from twisted.protocols.basic import NetstringReceiver


class TransformService:
    """The transforms themselves, unaware of any wire protocol."""

    def cummingsify(self, poem):
        return poem.lower()


class TransformProtocol(NetstringReceiver):
    """One netstring `NAME.POEM` in, one netstring out (or a bare close)."""

    def stringReceived(self, request):
        try:
            text = request.decode("utf-8")
        except UnicodeDecodeError:
            self.transport.loseConnection()
            return
        if "." not in text:
            self.transport.loseConnection()
            return
        # The poem may hold periods of its own: only the first one separates.
        xform_name, poem = text.split(".", 1)
        self.xformRequestReceived(xform_name, poem)

    def xformRequestReceived(self, xform_name, poem):
        new_poem = self.factory.transform(xform_name, poem)
        if new_poem is not None:
            self.sendString(new_poem.encode("utf-8"))
        self.transport.loseConnection()


class TransformFactory(ServerFactory):
    """Holds the service and exposes only the `xform_`-prefixed transforms."""

    protocol = TransformProtocol

    def __init__(self, service, max_length):
        self.service = service
        self.max_length = max_length

    def buildProtocol(self, addr):
        protocol = ServerFactory.buildProtocol(self, addr)
        protocol.MAX_LENGTH = self.max_length
        return protocol

    def transform(self, xform_name, poem):
        """The transformed poem, or None for an unknown name or a failure."""
        # The prefix keeps a client's name from reaching any other attribute.
        thunk = getattr(self, "xform_" + xform_name, None)
        if thunk is None:
            return None
        try:
            return thunk(poem)
        except Exception:
            return None

    def xform_cummingsify(self, poem):
        return self.service.cummingsify(poem)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Twisted poetry transformation server.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--iface", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--max-length",
        type=int,
        default=NetstringReceiver.MAX_LENGTH,
        help="largest request payload accepted, in bytes",
    )
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    factory = TransformFactory(TransformService(), args.max_length)
    port = reactor.listenTCP(args.port, factory, interface=args.iface)
    address = port.getHost()
    # Tests read the port from this exact line.
    print(f"Serving transforms on {address.host}:{address.port}.", flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
