"""A live idempotent producer's own epoch bump against millrace's Kafka
front: confluent-kafka (enable.idempotence, acks=all) through a proxy that
stalls the server's answers, so messages time out while in flight;
librdkafka then bumps its epoch itself ("bumping epoch locally", KIP-360 on
the client side, no InitProducerId, same producer id) and sends the next
records from sequence 0. Kafka accepts that.

Usage: idem_bump.py UPSTREAM --proxy-port PORT --topic T

The server must advertise the proxy (`--kafka-advertised 127.0.0.1:PORT`).
Phases: 5 records delivered; the proxy stalls answers and 3 records are
sent, which time out (message.timeout.ms 2 s, request.timeout.ms 5 s);
the proxy passes again and 5 more records are sent and must be delivered.
Then the topic is read back (directly from UPSTREAM). Prints one JSON line:
{"errors": {phase: [...]}, "fatal": ..., "values": [...], "acquired": n,
"sends": [{phase, partition, count, seq, id, epoch}]}. Exits non-zero on
any failure of its own. Every wait is bounded.
"""

import argparse
import json
import logging
import socket
import sys
import threading
import time

from idem_expiry import Sends


class StallingProxy:
    """Forwards 127.0.0.1:port to upstream; while `stalled`, answers from
    the server are held back (not read), so requests stay in flight until
    the client gives up on them."""

    def __init__(self, port, upstream):
        host, uport = upstream.rsplit(":", 1)
        self.upstream = (host, int(uport))
        self.stalled = threading.Event()
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=10)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.pipe, args=(client, up, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(up, client, True), daemon=True).start()

    def pipe(self, src, dst, answers):
        try:
            while True:
                if answers:
                    while self.stalled.is_set():
                        time.sleep(0.01)
                data = src.recv(65536)
                if not data:
                    break
                if answers and self.stalled.is_set():
                    # Stalled after the read: hold these bytes back too.
                    while self.stalled.is_set():
                        time.sleep(0.01)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def main():
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--proxy-port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    proxy = StallingProxy(args.proxy_port, args.upstream)
    sends = Sends()
    logger = logging.getLogger("idem-bump")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(sends)
    errors = {"before": [], "stalled": [], "after": []}
    phase_sends = {}
    fatal = None

    def report(phase):
        def delivered(err, _msg):
            if err is not None:
                errors[phase].append(err.name())

        return delivered

    producer = Producer(
        {
            "bootstrap.servers": f"127.0.0.1:{args.proxy_port}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 2000,
            "request.timeout.ms": 5000,
            "debug": "eos,msg",
        },
        logger=logger,
    )
    phases = [("before", 5, 10), ("stalled", 3, 15), ("after", 5, 30)]
    for phase, count, wait_s in phases:
        if phase == "stalled":
            proxy.stalled.set()
        started = len(sends.sends)
        for i in range(count):
            producer.produce(args.topic, value=f"{phase}-{i}".encode(), partition=0, on_delivery=report(phase))
        left = producer.flush(wait_s)
        if phase == "stalled":
            proxy.stalled.clear()
        if left:
            raise TimeoutError(f"{phase}: {left} messages without a delivery report")
        phase_sends[phase] = started
    try:
        producer.poll(0)
    except KafkaException as e:
        fatal = str(e)
    labelled = []
    bounds = sorted(phase_sends.items(), key=lambda item: item[1])
    for index, send in enumerate(sends.sends):
        phase = [name for name, start in bounds if start <= index][-1]
        labelled.append({"phase": phase, **send})

    consumer = Consumer(
        {
            "bootstrap.servers": args.upstream,
            "group.id": "idem-bump-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(args.topic, 0, 0)])
    values = []
    deadline = time.monotonic() + 10
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 2:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        values.append(msg.value().decode())
        quiet_since = time.monotonic()
    consumer.close()
    print(
        json.dumps(
            {
                "errors": errors,
                "fatal": fatal,
                "values": values,
                "acquired": sends.acquired,
                "sends": labelled,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(json.dumps({"exception": repr(e)}))
        sys.exit(1)
