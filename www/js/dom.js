// Small DOM helpers. Every piece of server text goes through textContent:
// nothing the daemon sends is ever parsed as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const announcer = () => $("announcer");
let lastAnnouncement = 0;

/** Tells screen readers about a status change, at most a few times a second. */
export function announce(text) {
  const now = performance.now();
  if (now - lastAnnouncement < 300) return;
  lastAnnouncement = now;
  announcer().textContent = text;
}

export function formatTime(epoch) {
  if (epoch == null) return "—";
  return new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

// Bidirectional formatting controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI): in a
// JSON text they are written as \u escapes, so a value cannot reorder the text
// after it (an RLO in one param reversing the next ones) and the control shows.
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** JSON.stringify, with bidi controls in strings escaped (still valid JSON, same value). */
export function jsonText(value) {
  const text = JSON.stringify(value);
  return text === undefined ? text : text.replace(BIDI_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Pretty JSON where short arrays of numbers or strings (a Fibonacci sequence, a
 * sample of primes) stay on one line instead of one element per line.
 */
export function prettyJSON(value) {
  const compact = (v) => Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null);
  const render = (v, indent) => {
    if (compact(v)) return jsonText(v).replaceAll(",", ", ");
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const inner = v.map((x) => indent + "  " + render(x, indent + "  "));
      return "[\n" + inner.join(",\n") + "\n" + indent + "]";
    }
    if (v && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 0) return "{}";
      const inner = keys.map((k) => `${indent}  ${jsonText(k)}: ${render(v[k], indent + "  ")}`);
      return "{\n" + inner.join(",\n") + "\n" + indent + "}";
    }
    return jsonText(v);
  };
  return render(value, "");
}

/** A local date and time, e.g. "Tue 3 Jun, 03:30:00". */
export function formatDateTime(epoch) {
  if (epoch == null) return "—";
  return new Date(epoch * 1000).toLocaleString([], {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** How far a time is from now: "in 25 s", "in 3 min 5 s", "in 2 h 5 min", "4 min ago". */
export function formatRelative(epoch, now = Date.now() / 1000) {
  if (epoch == null) return "";
  const delta = epoch - now;
  const s = Math.abs(delta);
  let text;
  if (s < 1) return delta >= 0 ? "now" : "just now";
  if (s < 60) text = `${Math.floor(s)} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  else text = `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

/** What a waiting job waits for: "Starts in 25 s" / "Attempt 2 of 3 in 4 s"; null when it is not waiting. */
export function waitingText(job, now = Date.now() / 1000) {
  if (job.status !== "pending" || job.run_at == null || job.run_at <= now) return null;
  const when = formatRelative(job.run_at, now);
  return (job.attempt ?? 1) > 1 ? `Attempt ${job.attempt} of ${job.max_attempts} ${when}` : `Starts ${when}`;
}

/** Fetches JSON; throws an Error whose message is the daemon's `error` text. */
export async function api(path, { method = "GET", body } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error("Cannot reach the daemon.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `The daemon answered ${response.status}.`);
  return data;
}
