"""The ring-time benchmark: how fast the intake answers a PBX asking whom to ring, against
the floor of a synchronous design.

    switchboard ring-bench [--rates 10,50,100,200,400] [--duration 15] [--clients 100000]
                           [--json] [--stages] [--profile-rate 100] [--no-reference]

One run, on one Kafka broker and one PostgreSQL database: the ones SWITCHBOARD_KAFKA_BOOTSTRAP
and SWITCHBOARD_DATABASE_URL name, else its own, started under `.switchboard/ring-bench` and
stopped at the end (also on Ctrl-C and SIGTERM), with bench.pipeline's pieces (the
infrastructure, the always-open routing rules, the CPU meter, py-spy). Everything listens on
127.0.0.1.

1. **the client base**: 100,000 clients (--clients), three in ten owned by one of 100
   negotiators who have extensions, each client with 5 earlier contacts and each owned one
   with 2 open leads, seeded with set-based inserts in a block of numbers of its own;
2. **the pipeline**: intake, lookup, router and assignment as processes; the intake with a
   connector for the run, the route deadline (--deadline-ms, 800) and a fallback extension
   (790) that no decision dials, so a fallback answer is told from a decided one;
3. **the reference** (--no-reference leaves it out): one FastAPI process on uvicorn answering
   the same request from one prepared asyncpg query (bench/ring/reference.py);
4. **the load**: `GET /v1/route/asterisk?caller=...&dialed=...&call_id=...` with HTTP basic
   auth, open loop (request k is started at k / rate seconds, whatever the earlier ones do;
   aiohttp, kept-alive connections), at each rate (--rates) for --duration seconds, first to
   the reference, then to the pipeline; callers drawn from the whole base (so about 27%
   owned, 63% known without an owner), one in ten unknown; every call id fresh. Before each
   part the services' consumer groups are drained; before the first, --warmup seconds at
   100/s to each.

Per rate and system it prints the offered and achieved rate, the answer time p50 / p99 /
p99.9 / max (from when the request was due, so a late load generator counts against the
system, and how late it was is printed beside), decided / fallback / wrong answers (checked
against what the decision dials for each caller, and against the intake's own
`switchboard_route_answers_total`), errors (non-200, timeouts), CPU per request per process
(psutil) with the machine's utilisation and what other processes used, and the load
average; then the verdict on the targets (bench.ring.report): p99 <= 50 ms at 100 calls/s
with no fallback; at 400 calls/s no error and every answer within the deadline (+ --grace-ms).
--json prints the figures (also written to `.switchboard/ring-bench/last-run.json`, after
every part); --stages splits each decided answer into the intake until calls.received, the
lookup, the router and the intake's answer after calls.routed (bench.ring.stages: a watcher
reads the three topics); --profile-rate R adds a part at R calls/s with py-spy on the
services; --no-assignment leaves out the one service not on the answer's path.

The modules: `options` (the command's options), `runner` (the run), `client_base` (the seed,
and what each caller's call should dial), `load` (the requests and their schedule),
`reference` (the reference endpoint), `metrics` (the intake's counters), `stages` (where a
decided answer's time goes), `report` (the figures of a part, the verdict and the printed
report).
"""
