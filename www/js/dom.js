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

/**
 * Pretty JSON where short arrays of numbers or strings (a Fibonacci sequence, a
 * sample of primes) stay on one line instead of one element per line.
 */
export function prettyJSON(value) {
  const compact = (v) => Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null);
  const render = (v, indent) => {
    if (compact(v)) return JSON.stringify(v).replaceAll(",", ", ");
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const inner = v.map((x) => indent + "  " + render(x, indent + "  "));
      return "[\n" + inner.join(",\n") + "\n" + indent + "]";
    }
    if (v && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 0) return "{}";
      const inner = keys.map((k) => `${indent}  ${JSON.stringify(k)}: ${render(v[k], indent + "  ")}`);
      return "{\n" + inner.join(",\n") + "\n" + indent + "}";
    }
    return JSON.stringify(v);
  };
  return render(value, "");
}
