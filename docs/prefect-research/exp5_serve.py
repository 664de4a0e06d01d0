import asyncio, os, signal, subprocess, sys, time
sys.path.insert(0, "/tmp/prefect-lab")
from pathlib import Path
api = os.environ["PREFECT_API_URL"]
env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
log = open("/tmp/prefect-lab/serve.log", "wb")
t0 = time.monotonic()
p = subprocess.Popen([sys.executable, "serve_all.py"], cwd="/tmp/prefect-lab/proj", env=env,
                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
from prefect.deployments import run_deployment
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as c:
        while True:   # wait until the deployments are registered
            try:
                await c.read_deployment_by_name("case-event/samraad-action-served"); break
            except Exception:
                await asyncio.sleep(0.5)
        print(f"serve registered in {time.monotonic()-t0:.1f}s")
        d = await c.read_deployment_by_name("sweep/sweep-served")
        print("sweep-served schedules:", [s.schedule for s in d.schedules], "pool:", d.work_pool_name)
    lat = []
    for i in range(5):
        t = time.monotonic()
        fr = await run_deployment("case-event/samraad-action-served",
                                  parameters={"action": {"case_id": 7+i, "event": "hold"}}, timeout=60, poll_interval=0.25)
        lat.append(time.monotonic()-t)
        print(fr.name, fr.state.type.value, f"{lat[-1]:.2f}s")
    t = time.monotonic()
    frs = await asyncio.gather(*[run_deployment("case-event/samraad-action-served",
              parameters={"action": {"case_id": 100+i, "event": "hold"}}, timeout=120, poll_interval=0.5) for i in range(12)])
    el = time.monotonic()-t
    print(f"12 concurrent via serve(limit=4): {el:.1f}s -> {12/el*60:.0f}/min; states={set(f.state.type.value for f in frs)}")
asyncio.run(main())
t = time.monotonic(); p.send_signal(signal.SIGTERM)
try: p.wait(20)
except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(); print("had to SIGKILL")
print(f"serve stopped in {time.monotonic()-t:.1f}s rc={p.returncode}")
