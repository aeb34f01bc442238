"""Token verification + one policy decision per second, against an unprotected no-op.

Starts ``tinn serve`` (SQLite, the bundled apps, ``TINN_BENCHMARK_ROUTES=true``) and loads, in
alternating rounds,

* ``GET /health/live``: no token, no work (the baseline);
* ``GET /_benchmark/authorize/ttd/soknad/501337``: verifies a person's platform token and asks the
  app's policy whether that person may read for her own party.

It prints both rates, latencies and their ratio (target: protected >= 0.6 x unprotected). It
also loads two App API routes, which reach their own route table without trying the platform
routes first: ``GET /ttd/soknad/api/v1/applicationmetadata`` (anonymous;
target: >= 0.8 x the no-op) and ``GET /ttd/soknad/api/authorization/parties/current`` (token
verified, no decision). Then the
in-process rates of the two parts: ``TokenService.verify`` without the verification cache and
``Authorizer.decide`` with and without the decision cache.

    .venv/bin/python benchmarks/auth_verify.py [--duration 5] [--rounds 3] [--concurrency 32] [--tool auto]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

# The shared helpers sit next to this script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    LoadResult,
    RequestSpec,
    async_rate,
    median_result,
    print_results,
    rate,
    run_load,
    tinn_server,
)

from tinn.auth import claims as c
from tinn.auth.pdp import Authorizer, ResourceRef
from tinn.auth.principal import Principal
from tinn.observability import configure_logging
from tinn.services import start_services
from tinn.settings import Settings

TARGET_RATIO = 0.6
METADATA_TARGET_RATIO = 0.8
APP = ("ttd", "soknad")  # bundled: PRIV and DAGL may read
PARTY = 501337
PID = "01039012345"


def _http(args: argparse.Namespace) -> list[LoadResult]:
    with tinn_server({"TINN_BENCHMARK_ROUTES": "true"}) as server:
        with httpx.Client(base_url=server.url) as client:
            token = client.get("/api/GetPersonalToken", params={"pid": PID, "authLvl": "3"}).text
            unprotected = RequestSpec("GET", "/health/live")
            bearer = {"Authorization": f"Bearer {token}"}
            protected = RequestSpec("GET", f"/_benchmark/authorize/{APP[0]}/{APP[1]}/{PARTY}", bearer)
            app_anonymous = RequestSpec("GET", f"/{APP[0]}/{APP[1]}/api/v1/applicationmetadata")
            app_protected = RequestSpec(
                "GET", f"/{APP[0]}/{APP[1]}/api/authorization/parties/current", bearer
            )
            specs = {
                "unprotected  GET /health/live": unprotected,
                "protected    verify + 1 decision": protected,
                "App API      metadata (anonymous)": app_anonymous,
                "App API      current party (verify)": app_protected,
            }
            for spec in specs.values():
                response = client.request(spec.method, spec.path, headers=dict(spec.headers))
                if response.status_code != 200:
                    raise SystemExit(f"{spec.path} answered {response.status_code}: {response.text}")

        def load(spec: RequestSpec, name: str, duration: float) -> LoadResult:
            return run_load(
                server.url, spec, name=name, concurrency=args.concurrency, duration=duration, tool=args.tool
            )

        for spec in specs.values():
            load(spec, "warm-up", 1)
        rounds: dict[str, list[LoadResult]] = {name: [] for name in specs}
        for _ in range(args.rounds):
            for name, spec in specs.items():
                rounds[name].append(load(spec, name, args.duration))
    return [median_result(results) for results in rounds.values()]


async def _in_process(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="tinn-bench-") as folder:
        settings = Settings(data_dir=Path(folder), log_level="warning")
        configure_logging(settings)
        services = await start_services(settings)
        try:
            tokens = services.auth.tokens
            user = services.register.user_by_ssn(PID)
            assert user is not None
            claims = c.person_claims(
                user_id=user.user_id,
                username=user.user_name,
                party_id=user.party_id,
                party_uuid=None,
                auth_level=3,
                auth_method="BankID",
                pid=PID,
            )
            token = tokens.issue(claims)
            principal = Principal.from_claims(await tokens.verify(token), token)
            resource = ResourceRef(*APP, PARTY)
            cached = services.authorizer
            uncached = Authorizer(services.apps, services.register, cache_size=0)
            assert cached.authorize(principal, "read", resource)
            assert uncached.authorize(principal, "read", resource)

            verify = await async_rate(lambda: tokens.verify(token), seconds)
            authenticate = await async_rate(lambda: services.auth.authenticator.authenticate(token), seconds)
            decide_cached = rate(lambda: cached.decide(principal, "read", resource), seconds)
            decide_uncached = rate(lambda: uncached.decide(principal, "read", resource), seconds)
        finally:
            await services.close()
    print()
    print("in process (one core, one call at a time)")
    print(f"  TokenService.verify, uncached        {verify:>12,.0f} /s")
    print(f"  Authenticator.authenticate, cached   {authenticate:>12,.0f} /s")
    print(f"  Authorizer.decide, uncached          {decide_uncached:>12,.0f} /s")
    print(f"  Authorizer.decide, cached            {decide_cached:>12,.0f} /s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per round and route")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--in-process-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)

    results = _http(args)
    plain, guarded, metadata = results[0], results[1], results[2]
    print_results(results)
    ratio = guarded.rps / plain.rps if plain.rps else 0.0
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"\nratio protected / unprotected: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict}")
    metadata_ratio = metadata.rps / plain.rps if plain.rps else 0.0
    metadata_verdict = "ok" if metadata_ratio >= METADATA_TARGET_RATIO else "BELOW TARGET"
    print(
        f"ratio applicationmetadata / no-op: {metadata_ratio:.2f} "
        f"(target >= {METADATA_TARGET_RATIO}) {metadata_verdict}"
    )
    asyncio.run(_in_process(args.in_process_seconds))
    met = ratio >= TARGET_RATIO and metadata_ratio >= METADATA_TARGET_RATIO
    return 0 if met and not any(result.errors for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
