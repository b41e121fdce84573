"""A Twisted poetry server that sends its poem as one netstring (exercise 6).

    python3 -u netstring_poetry.py [--port N] [--iface HOST] [--cut-after BYTES] POEM

Every client gets the poem framed by NetstringReceiver.sendString, and then
the connection is closed. --cut-after BYTES sends only the first BYTES bytes of
the netstring before closing, as a server that dies mid-poem would, so that a
client can be seen to notice. Once listening it prints
`Reciting POEM on HOST:PORT.` on stdout.
"""

import argparse
import sys

from twisted.internet import reactor
from twisted.internet.protocol import ServerFactory
from twisted.protocols.basic import NetstringReceiver


class NetstringPoetryProtocol(NetstringReceiver):
    def connectionMade(self):
        cut_after = self.factory.cut_after
        if cut_after is None:
            self.sendString(self.factory.poem)
        else:
            # The frame NetstringReceiver would send, stopped short.
            poem = self.factory.poem
            frame = str(len(poem)).encode("ascii") + b":" + poem + b","
            self.transport.write(frame[:cut_after])
        self.transport.loseConnection()

    def stringReceived(self, string):
        # A poetry client sends nothing; whatever it does send is ignored.
        pass


class NetstringPoetryFactory(ServerFactory):
    protocol = NetstringPoetryProtocol

    def __init__(self, poem, cut_after):
        self.poem = poem
        self.cut_after = cut_after


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Twisted netstring poetry server.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--iface", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--cut-after", type=int, default=None, help="send only this many bytes of the netstring")
    parser.add_argument("poem", help="the poem file")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    with open(args.poem, "rb") as poem_file:
        poem = poem_file.read()
    factory = NetstringPoetryFactory(poem, args.cut_after)
    port = reactor.listenTCP(args.port, factory, interface=args.iface)
    address = port.getHost()
    print(f"Reciting {args.poem} on {address.host}:{address.port}.", flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
