// Thin fetch wrappers. Errors come back as {status, detail} so the UI can point at the field.
async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw { status: res.status, detail: data.detail };
  return data;
}

export const api = {
  optimizers: () => call("GET", "/api/optimizers"),
  landscapes: () => call("GET", "/api/landscapes"),
  // the real networks' loss surfaces (none without torch), with the parameters the server has built
  networks: () => call("GET", "/api/networks"),
  schedules: () => call("GET", "/api/schedules"),
  grid: (landscape, n = 140) => call("POST", "/api/grid", { landscape, n }),
  formula: (formula) => call("POST", "/api/formula", { formula }),
  limits: () => call("GET", "/api/limits"),
  race: (request) => call("POST", "/api/race", request),
  // the race as the server writes it as CSV (RaceResult.to_csv: the CLI's CSV, not a copy of it)
  raceCsv: async (request) => {
    const res = await fetch("/api/race?format=csv", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request) });
    if (!res.ok) throw { status: res.status, detail: (await res.json().catch(() => ({}))).detail };
    return res.text();
  },
  sweep: (request) => call("POST", "/api/sweep", request),
  // one step of one racer explained (its terms as vectors, its formulas with numbers)
  anatomy: (race, racer, step, start = 0) => call("POST", "/api/anatomy", { race, racer, start, step }),
  // schedule: the racer's, as a race sends it ({name, ...fields}); left out when constant
  code: (optimizer, hyperparameters, framework, schedule = null) =>
    call("POST", "/api/code", { optimizer, hyperparameters, framework, ...(schedule ? { schedule } : {}) }),
};

export function errorText(err) {
  const d = err && err.detail;
  if (Array.isArray(d)) return d.map((e) => e.msg).join("\n");
  return typeof d === "string" ? d : String(err && err.message || err);
}
