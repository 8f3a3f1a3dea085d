"""HTTP/1.1 sink for bench/memory.sh: reads every request body as it arrives (discarding it,
counting the bytes), answers 200 once the body is complete, keeps connections alive.
`GET /received` (sent to the sink directly) answers the bytes of bodies received so far.
Usage: python3 memory_sink.py PORT"""
import asyncio
import sys

received = 0


async def serve(reader, writer):
    global received
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if lines[0].startswith("GET /received"):
                body = str(received).encode()
            else:
                while length > 0:
                    chunk = await reader.read(min(length, 1 << 16))
                    if not chunk:
                        return
                    length -= len(chunk)
                    received += len(chunk)
                body = b"ok"
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main())
