"""Consume-transform-produce with Kafka transactions against millrace serve.

Usage: txn_loop.py BOOTSTRAP COMMAND [options]

  seed      produce --records input records "in-00000".. to --input (partition 0)
  loop      read --input partition 0 as group --group (manual assignment,
            positions from the committed offsets), and for each batch of up to
            --batch records: begin a transaction, produce "out-NNNNN" for each
            "in-NNNNN" to --output, send the offsets to the transaction, then
            abort every --abort-every'th transaction (rewinding to the committed
            offset) and commit the others, until every input record is
            consumed. With --survive, errors (a server killed and restarted)
            are handled as each client documents: abort when the client says
            the transaction must be aborted, otherwise make a new producer and
            init it again; either way rewind to the committed offset.
  read      read --topic partition 0 from the start with --isolation, until
            the end of the partition; print the values.
  fence     two producers with one transactional id: the first begins a
            transaction, the second inits; the first's commit must fail as
            fenced; the second commits.

Every wait is bounded (--deadline seconds in all). Prints one JSON object on
stdout; exits non-zero on failure. To see where a stage hangs: SIGUSR1 dumps
every thread's stack on stderr, and TXN_LOOP_DEBUG=1 logs the clients'
debug output there.
"""

import argparse
import faulthandler
import json
import logging
import os
import signal
import sys
import time


def transform(value):
    return b"out-" + value[len(b"in-"):]


def parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("command", choices=["seed", "loop", "read", "fence"])
    parser.add_argument("--client", default="confluent", choices=["confluent", "kafka-python"])
    parser.add_argument("--input", default="in")
    parser.add_argument("--output", default="out")
    parser.add_argument("--topic", default="out")
    parser.add_argument("--group", default="stage")
    parser.add_argument("--txn-id", default="stage-1")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--batch", type=int, default=7)
    parser.add_argument("--abort-every", type=int, default=2)
    parser.add_argument("--isolation", default="read_committed")
    parser.add_argument("--survive", action="store_true")
    parser.add_argument("--progress", action="store_true",
                        help="print a JSON line per transaction ended (commit or abort) and per error")
    parser.add_argument("--deadline", type=float, default=100.0)
    return parser.parse_args()


def progress(args, **fields):
    if args.progress:
        print(json.dumps(fields))
        sys.stdout.flush()


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, what):
        if self.left() <= 0:
            raise SystemExit("deadline passed while " + what)


# ---------------------------------------------------------------- confluent

def confluent_seed(args):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "enable.idempotence": False})
    failures = []
    for i in range(args.records):
        producer.produce(args.input, value=b"in-%05d" % i, partition=0,
                         on_delivery=lambda err, msg: err and failures.append(str(err)))
    left = producer.flush(args.deadline)
    if left or failures:
        raise SystemExit("seed failed: %d undelivered, %s" % (left, failures[:3]))
    return {"seeded": args.records}


def confluent_read(args):
    from confluent_kafka import Consumer, TopicPartition, KafkaError

    deadline = Deadline(args.deadline)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "txn-reader",
        "enable.auto.commit": False,
        "isolation.level": args.isolation,
        "enable.partition.eof": True,
    })
    consumer.assign([TopicPartition(args.topic, 0, 0)])
    values = []
    while True:
        deadline.check("reading %s" % args.topic)
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                break
            raise SystemExit("read failed: %s" % message.error())
        values.append(message.value().decode())
    consumer.close()
    return {"values": values}


def confluent_loop(args):
    from confluent_kafka import Consumer, Producer, TopicPartition, KafkaException

    deadline = Deadline(args.deadline)
    stats = {"commits": 0, "aborts": 0, "reinits": 0, "errors": []}
    partition = TopicPartition(args.input, 0)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "reconnect.backoff.max.ms": 500,
    })

    def new_producer():
        while True:
            deadline.check("initialising the transactional producer")
            producer = Producer({
                "bootstrap.servers": args.bootstrap,
                "transactional.id": args.txn_id,
                "transaction.timeout.ms": 60000,
                "message.timeout.ms": 20000,
                "reconnect.backoff.max.ms": 500,
            })
            try:
                producer.init_transactions(max(1.0, min(20.0, deadline.left())))
                return producer
            except KafkaException as error:
                if not args.survive:
                    raise
                stats["errors"].append("init: " + str(error.args[0]))
                producer.purge()
                del producer

    def rewind():
        while True:
            deadline.check("reading the committed offset")
            try:
                committed = consumer.committed([partition], timeout=5)[0].offset
                position = committed if committed >= 0 else 0
                consumer.assign([TopicPartition(args.input, 0, position)])
                return position
            except KafkaException as error:
                if not args.survive:
                    raise
                stats["errors"].append("committed: " + str(error.args[0]))
                time.sleep(0.2)

    producer = new_producer()
    position = rewind()
    transaction = 0
    while position < args.records:
        deadline.check("processing (at %d of %d)" % (position, args.records))
        messages = [m for m in consumer.consume(num_messages=args.batch, timeout=1.0) if not m.error()]
        if not messages:
            continue
        try:
            producer.begin_transaction()
            for message in messages:
                producer.produce(args.output, value=transform(message.value()), partition=0)
            offsets = [TopicPartition(args.input, 0, messages[-1].offset() + 1)]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 20)
            transaction += 1
            if args.abort_every and transaction % args.abort_every == 0:
                producer.abort_transaction(20)
                stats["aborts"] += 1
                position = rewind()
                progress(args, ended="abort", position=position)
            else:
                producer.commit_transaction(20)
                stats["commits"] += 1
                position = messages[-1].offset() + 1
                progress(args, ended="commit", position=position)
        except KafkaException as exception:
            error = exception.args[0]
            if not args.survive:
                raise
            stats["errors"].append(str(error))
            progress(args, error=str(error))
            aborted = False
            if error.txn_requires_abort():
                try:
                    producer.abort_transaction(20)
                    aborted = True
                except KafkaException as abort_error:
                    stats["errors"].append("abort: " + str(abort_error.args[0]))
            if not aborted:
                producer.purge()
                del producer
                producer = new_producer()
                stats["reinits"] += 1
            position = rewind()
    consumer.close()
    stats["position"] = position
    return stats


def confluent_fence(args):
    from confluent_kafka import Producer, KafkaException

    def producer():
        p = Producer({"bootstrap.servers": args.bootstrap, "transactional.id": args.txn_id})
        p.init_transactions(20)
        return p

    first = producer()
    first.begin_transaction()
    first.produce(args.output, value=b"zombie", partition=0)
    first.flush(20)
    second = producer()
    result = {}
    try:
        first.commit_transaction(20)
        result["first"] = "committed"
    except KafkaException as exception:
        error = exception.args[0]
        result["first"] = error.name()
        result["first_fatal"] = error.fatal()
    second.begin_transaction()
    second.produce(args.output, value=b"successor", partition=0)
    second.commit_transaction(20)
    result["second"] = "committed"
    return result


# ------------------------------------------------------------- kafka-python

def kafka_python_read(args):
    from kafka import KafkaConsumer, TopicPartition

    deadline = Deadline(args.deadline)
    partition = TopicPartition(args.topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, enable_auto_commit=False,
                             isolation_level=args.isolation, group_id=None)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    values = []
    while consumer.position(partition) < end:
        deadline.check("reading %s" % args.topic)
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(r.value.decode() for r in records)
    consumer.close()
    return {"values": values}


class Stuck(Exception):
    """A kafka-python transactional call that never returned."""


def bounded(call, seconds):
    """Run `call` in a daemon thread, waiting at most `seconds`: kafka-python's
    send_offsets_to_transaction, commit_transaction and abort_transaction
    take no timeout and wait for ever when their request is lost. That
    happens in kafka-python 3.0.12 when the broker goes away between the
    coordinator lookup and the send: `Sender._maybe_send_pending_request`
    catches the connection error after choosing the coordinator node, so the
    request is neither sent nor enqueued again and its result is never
    completed (found by the kill -9 loop: the stage hung in
    send_offsets_to_transaction with an idle sender thread). Raises Stuck
    past the bound; the producer is then abandoned (the next one's
    InitProducerId fences it)."""
    import queue
    import threading

    done = queue.Queue()

    def run():
        try:
            done.put((True, call()))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            done.put((False, error))

    threading.Thread(target=run, daemon=True).start()
    try:
        ok, value = done.get(timeout=seconds)
    except queue.Empty:
        raise Stuck("no answer in %.0f s" % seconds) from None
    if ok:
        return value
    raise value


def kafka_python_loop(args):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    deadline = Deadline(args.deadline)
    stats = {"commits": 0, "aborts": 0, "reinits": 0, "stuck": 0, "errors": []}
    partition = TopicPartition(args.input, 0)
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=args.group, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed")
    consumer.assign([partition])
    # Without --survive a call is waited for until the deadline.
    call_bound = 15 if args.survive else max(1.0, args.deadline)

    def new_producer():
        while True:
            deadline.check("initialising the transactional producer")
            producer = KafkaProducer(bootstrap_servers=args.bootstrap, transactional_id=args.txn_id,
                                     transaction_timeout_ms=60000, max_block_ms=20000)
            try:
                producer.init_transactions()
                return producer
            except KafkaError as error:
                if not args.survive:
                    raise
                stats["errors"].append("init: " + repr(error))
                producer.close(timeout=0)

    def rewind():
        while True:
            deadline.check("reading the committed offset")
            try:
                committed = consumer.committed(partition)
                position = committed if committed is not None else 0
                consumer.seek(partition, position)
                return position
            except KafkaError as error:
                if not args.survive:
                    raise
                stats["errors"].append("committed: " + repr(error))
                time.sleep(0.2)

    producer = new_producer()
    position = rewind()
    transaction = 0
    while position < args.records:
        deadline.check("processing (at %d of %d)" % (position, args.records))
        batch = consumer.poll(timeout_ms=1000, max_records=args.batch).get(partition, [])
        if not batch:
            continue
        try:
            producer.begin_transaction()
            for record in batch:
                producer.send(args.output, value=transform(record.value), partition=0)
            offsets = {partition: OffsetAndMetadata(batch[-1].offset + 1, "", -1)}
            bounded(lambda: producer.send_offsets_to_transaction(offsets, args.group), call_bound)
            transaction += 1
            if args.abort_every and transaction % args.abort_every == 0:
                bounded(producer.abort_transaction, call_bound)
                stats["aborts"] += 1
                position = rewind()
                progress(args, ended="abort", position=position)
            else:
                bounded(producer.commit_transaction, call_bound)
                stats["commits"] += 1
                position = batch[-1].offset + 1
                progress(args, ended="commit", position=position)
        except (KafkaError, Stuck) as error:
            if not args.survive:
                raise
            stats["errors"].append(repr(error))
            if isinstance(error, Stuck):
                stats["stuck"] += 1
            progress(args, error=repr(error))
            producer.close(timeout=0 if isinstance(error, Stuck) else 5)
            producer = new_producer()
            stats["reinits"] += 1
            position = rewind()
    producer.close(timeout=5)
    consumer.close()
    stats["position"] = position
    return stats


def kafka_python_fence(args):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    def producer():
        p = KafkaProducer(bootstrap_servers=args.bootstrap, transactional_id=args.txn_id, max_block_ms=20000)
        p.init_transactions()
        return p

    first = producer()
    first.begin_transaction()
    first.send(args.output, value=b"zombie", partition=0)
    first.flush(timeout=20)
    second = producer()
    result = {}
    try:
        first.commit_transaction()
        result["first"] = "committed"
    except KafkaError as error:
        result["first"] = type(error).__name__
    second.begin_transaction()
    second.send(args.output, value=b"successor", partition=0)
    second.commit_transaction()
    result["second"] = "committed"
    first.close(timeout=5)
    second.close(timeout=5)
    return result


def main():
    faulthandler.register(signal.SIGUSR1)
    if os.environ.get("TXN_LOOP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    args = parse()
    if args.command == "seed":
        result = confluent_seed(args)
    else:
        prefix = "confluent" if args.client == "confluent" else "kafka_python"
        result = globals()["%s_%s" % (prefix, args.command)](args)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
