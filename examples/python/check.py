#!/usr/bin/env python3
"""Check travel documents against a running sltdd from Python.

Uses only stubs generated from proto/sltd/v1/lookup.proto (run ./generate.sh
first). Examples, against `sltdd --demo`:

    python3 check.py L898902C3 UTO                 # one document: HIT
    python3 check.py X0000000                      # a miss
    python3 check.py --mrz "$(printf 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\\nL898902C36UTO7408122F1204159ZE184226B<<<<<10')"
    python3 check.py --batch L898902C3 D23145890 X0000000
    python3 check.py --status

Exit status: 0 hit, 1 no hit, 2 error (as `sltd check`).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

try:
    import grpc
    from sltd.v1 import lookup_pb2, lookup_pb2_grpc
except ImportError as e:  # pragma: no cover - guidance for a first run
    sys.exit(f"{e}: run `pip install -r requirements.txt` and `./generate.sh` first")

VERDICT = lookup_pb2.Verdict.Name
STATUS = lookup_pb2.Status.Name
FRESHNESS = lookup_pb2.Freshness.Name


def show(resp):
    if resp.HasField("mrz"):
        m = resp.mrz
        print(f"MRZ {lookup_pb2.MrzFormat.Name(m.format)}: state {m.issuing_country}, "
              f"number {m.document_number}, check digits "
              f"{'ok' if m.check_digits_valid else 'FAILED'}")
    print(f"{resp.request_id or '-'}: {VERDICT(resp.verdict)}", end="")
    print(f"  {resp.error}" if resp.error else "")
    for r in resp.matches:
        print(f"  {r.issuing_country} {r.document_number} type {r.document_type} "
              f"{STATUS(r.status)} reported {r.reported_on} ref {r.reference or '-'}")


def show_dataset(ds):
    print(f"data set {ds.content_id[:16]} sequence {ds.sequence}, {ds.record_count} records, "
          f"{FRESHNESS(ds.freshness)}, age {ds.age_seconds} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051", help="host:port of sltdd")
    p.add_argument("--mrz", help="MRZ text instead of a number")
    p.add_argument("--batch", action="store_true", help="check every NUMBER in one CheckBatch")
    p.add_argument("--status", action="store_true", help="show GetStatus and exit")
    p.add_argument("number", nargs="*", help="document number, then optionally the issuing country")
    args = p.parse_args()

    with grpc.insecure_channel(args.server) as channel:
        stub = lookup_pb2_grpc.LookupStub(channel)
        try:
            if args.status:
                s = stub.GetStatus(lookup_pb2.GetStatusRequest(), timeout=5)
                print(f"sltdd {s.version}, up {s.uptime_seconds} s, source {s.source}, max batch {s.max_batch}")
                show_dataset(s.dataset)
                return 0
            if args.mrz:
                resp = stub.Check(lookup_pb2.CheckRequest(request_id="py-mrz", mrz=args.mrz), timeout=5)
                show(resp)
                show_dataset(resp.dataset)
                return 0 if resp.verdict == lookup_pb2.HIT else 1
            if args.batch:
                queries = [lookup_pb2.CheckRequest(request_id=f"py-{i}", document=lookup_pb2.Document(number=n))
                           for i, n in enumerate(args.number)]
                resp = stub.CheckBatch(lookup_pb2.CheckBatchRequest(queries=queries), timeout=5)
                for r in resp.results:
                    show(r)
                show_dataset(resp.dataset)
                return 0 if any(r.verdict == lookup_pb2.HIT for r in resp.results) else 1
            if not args.number:
                p.error("give a document number, --mrz, --batch or --status")
            doc = lookup_pb2.Document(number=args.number[0],
                                      issuing_country=args.number[1] if len(args.number) > 1 else "")
            resp = stub.Check(lookup_pb2.CheckRequest(request_id="py-1", document=doc), timeout=5)
            show(resp)
            show_dataset(resp.dataset)
            return 0 if resp.verdict == lookup_pb2.HIT else 1
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
