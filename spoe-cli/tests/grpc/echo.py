"""A gRPC server and client (Google's grpcio) for gateway_tls_servers.rs, with no generated
code: the messages are raw bytes.

    echo.py server          serves /spoe.Echo/Say and /spoe.Echo/Fail on 127.0.0.1:0 (h2c),
                            prints "port N", runs until stdin closes
    echo.py client ADDR     calls both through ADDR and prints what came back, one line each

Say answers "echo:" + the request, with the trailing metadata x-trailer: kept. Fail answers
the status NOT_FOUND with a message: both travel in HTTP/2 trailers, so the client sees them
only if every hop keeps the trailers.
"""

import sys
from concurrent import futures

import grpc

IDENT = lambda b: b  # noqa: E731 (bytes in, bytes out)


def say(request, context):
    context.set_trailing_metadata((("x-trailer", "kept"),))
    return b"echo:" + request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(say, IDENT, IDENT),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, IDENT, IDENT),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("spoe.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    sys.stdin.read()
    server.stop(0)


def call(addr):
    with grpc.insecure_channel(addr) as channel:
        say_rpc = channel.unary_unary("/spoe.Echo/Say", IDENT, IDENT)
        reply, c = say_rpc.with_call(b"hello", timeout=10)
        trailers = dict(c.trailing_metadata())
        print(f"say reply={reply.decode()} code={c.code().name} x-trailer={trailers.get('x-trailer')}")
        fail_rpc = channel.unary_unary("/spoe.Echo/Fail", IDENT, IDENT)
        try:
            fail_rpc(b"thing", timeout=10)
            print("fail succeeded")
        except grpc.RpcError as e:
            print(f"fail code={e.code().name} details={e.details()}")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        call(sys.argv[2])
