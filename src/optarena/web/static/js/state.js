// All page state lives in the URL hash (base64url JSON), so a copied link reproduces the race.
export const DEFAULT_STATE = {
  landscape: { name: "quadratic", params: {} },
  racers: null, // null: the landscape's default racers (main.js fills them in once the landscape is known)
  start: null, // null: the landscape's default start
  steps: 100,
  seed: 0,
  noise: 0,
  clip: null,
  step: 0,
  speed: 30,
  surface: false,
  view: "race", // or "maps" (stability and basin maps), or "nn" (the training-race view)
  map: null, // the Maps view's controls when a map was last computed
  anatomy: null, // {racer}: the anatomy of a step of that racer on show, at the timeline's step
  lesson: null, // the id of the lesson (lessons.json) whose text the Lessons panel shows
  plane: null, // beyond 2-D: {kind: "pca" | "random" | "coordinates", coordinates: [i, j] from 0}; null: pca
  singular: false, // on a matrix landscape: the singular-values panel on show
};

const clone = (x) => JSON.parse(JSON.stringify(x));

export function encodeState(state) {
  const json = JSON.stringify(state);
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeState(hash) {
  const m = /(?:^#|&)s=([A-Za-z0-9_-]+)/.exec(hash || "");
  if (!m) return clone(DEFAULT_STATE);
  try {
    const b64 = m[1].replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return { ...clone(DEFAULT_STATE), ...JSON.parse(new TextDecoder().decode(bytes)) };
  } catch (e) {
    console.warn("ignoring an unreadable link state");
    return clone(DEFAULT_STATE);
  }
}

// The request the server needs: hidden racers still race (equal budgets), they are only not drawn.
// beyond: the landscape has more than two coordinates: the race starts at its default start and
// the answer is drawn on the plane the state names (the server's `view`).
export function raceRequest(state, beyond = false) {
  const req = {
    landscape: state.landscape,
    racers: state.racers.map((r) => {
      const out = { optimizer: r.optimizer, hyperparameters: r.hyperparameters };
      if (r.schedule) out.schedule = r.schedule;
      if (r.label) out.label = r.label;
      return out;
    }),
    steps: state.steps,
    seed: state.seed,
    noise: state.noise,
  };
  if (beyond) {
    const plane = state.plane || { kind: "pca" };
    req.view = plane.kind;
    if (plane.kind === "coordinates") req.view_coordinates = plane.coordinates || [0, 1];
  } else if (state.start) req.starts = [state.start];
  if (state.clip) req.clip = state.clip;
  return req;
}
