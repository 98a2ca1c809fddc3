#!/usr/bin/env python3
# The latency step's SMTP sink, a process of its own: it stamps each message's arrival with the wall
# clock (CLOCK_REALTIME, in nanoseconds) as it reads the final dot, before it answers, and prints one
# JSON line per message: {"messageId": "<...>", "arrivedAt": <ms>}. The first line is {"port": N}.
#
# It replaced smtp-sink -d, whose files' modification times were the arrivals: the kernel stamps a
# new file from its coarse clock (up to a tick behind, 4 ms at HZ=250), which made latencies look
# shorter, down to a negative median.
#
# Enough SMTP for nodemailer: EHLO offers PIPELINING and 8BITMIME, commands may arrive in batches
# (each batch is answered in one write), and anything else is answered 250.
#
#   python3 scripts/bench/stamp-sink.py
import asyncio
import json
import re
import sys
import time

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
END_OF_DATA = b"\r\n.\r\n"


def stamp(text: bytes, arrived_ns: int) -> None:
    found = MESSAGE_ID.search(text)
    line = {"messageId": found.group(1).decode("latin-1") if found else None, "arrivedAt": arrived_ns / 1e6}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


class Session(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""
        self.data = None  # the text of the message being received, in DATA
        transport.write(b"220 stamp-sink ESMTP\r\n")

    def data_received(self, chunk):
        self.pending += chunk
        replies = []
        while True:
            if self.data is not None:
                self.data += self.pending
                self.pending = b""
                # The text starts on a fresh line, so a lone "." right after DATA ends it too.
                end = self.data.find(END_OF_DATA) if not self.data.startswith(b".\r\n") else -2
                if end == -1:
                    break
                arrived = time.time_ns()
                text, rest = (b"", self.data[3:]) if end == -2 else (self.data[: end + 2], self.data[end + 5 :])
                stamp(text, arrived)
                self.data = None
                self.pending = rest
                replies.append(b"250 2.0.0 queued\r\n")
                continue
            line_end = self.pending.find(b"\r\n")
            if line_end < 0:
                break
            line, self.pending = self.pending[:line_end], self.pending[line_end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-stamp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                replies.append(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                self.data = b""
            elif verb == b"QUIT":
                replies.append(b"221 2.0.0 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:
                replies.append(b"250 2.0.0 ok\r\n")
        if replies:
            self.transport.write(b"".join(replies))


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
