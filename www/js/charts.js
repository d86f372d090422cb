// Throughput and worker utilisation, drawn as SVG paths by our own code.
import { $ } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function path(svg, cls) {
  let p = svg.querySelector(`path.${cls}`);
  if (!p) {
    p = document.createElementNS(SVG, "path");
    p.setAttribute("class", cls);
    svg.append(p);
  }
  return p;
}

/** Draws `values` (oldest first) as a filled line scaled to `max`. */
function plot(svg, values, max) {
  const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
  const step = w / Math.max(1, values.length - 1);
  const y = (v) => (h - 2 - (Math.min(v, max) / max) * (h - 6)).toFixed(1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`);
  path(svg, "area").setAttribute("d", `M0,${h} L${points.join(" L")} L${w},${h} Z`);
  path(svg, "line").setAttribute("d", `M${points.join(" L")}`);
}

/** Draws `values` as bars scaled to `max`, one per slot. */
function bars(svg, values, max) {
  const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
  const slot = w / values.length;
  let d = "";
  values.forEach((v, i) => {
    if (v <= 0) return;
    const height = Math.max(2, (Math.min(v, max) / max) * (h - 4));
    d += `M${(i * slot + 0.5).toFixed(1)},${h} v${(-height).toFixed(1)} h${(slot - 1).toFixed(1)} v${height.toFixed(1)} Z`;
  });
  path(svg, "area").setAttribute("d", d || "M0,0");
}

export class Charts {
  constructor(store) {
    this.store = store;
    this.utilisation = new Array(300).fill(0); // one sample a second
    setInterval(() => this.tick(), 1000);
    this.tick();
  }

  tick() {
    const w = this.store.worker;
    this.utilisation.push(w.capacity ? w.active / w.capacity : 0);
    this.utilisation.shift();
    this.draw();
  }

  draw() {
    const rates = this.store.throughput();
    const peak = Math.max(0.2, ...rates);
    bars($("throughput"), rates, peak);
    const latest = rates[rates.length - 1] + rates[rates.length - 2];
    $("throughput-now").textContent = `(now ${(latest / 2).toFixed(1)}/s, peak ${peak.toFixed(1)}/s)`;
    plot($("utilisation"), this.utilisation, 1);
    this.drawWorker();
  }

  drawWorker() {
    const w = this.store.worker;
    const share = w.capacity ? w.active / w.capacity : 0;
    $("worker-meter").style.width = `${Math.round(share * 100)}%`;
    $("worker-text").textContent = `${w.active} of ${w.capacity} slots busy · ${w.processed} processed`;
  }
}
