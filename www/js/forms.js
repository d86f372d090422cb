// The "New job" panel: a button per type and a form built from its param schema.
// Client-side checks say exactly what the server would say; the server's own
// answer is shown by the form too.
import { $, el } from "./dom.js";

/** Validates one value against its schema entry; returns [normalised, error]. */
export function validate(spec, raw) {
  const name = spec.name;
  if (raw === "" || raw == null) {
    if (spec.default == null) return [null, `Missing required parameter: ${name}`];
    return [spec.default, null];
  }
  if (spec.type === "integer") {
    if (!/^\d+$/.test(raw)) return [null, `Parameter '${name}' must be an integer`];
    const n = Number(raw);
    if (spec.min != null && n < spec.min) return [null, `Parameter '${name}' must be at least ${spec.min}`];
    if (spec.max != null && n > spec.max) return [null, `Parameter '${name}' must be at most ${spec.max}`];
    return [n, null];
  }
  if (spec.max_length != null && [...raw].length > spec.max_length) {
    return [null, `Parameter '${name}' is too long (max ${spec.max_length})`];
  }
  return [raw, null];
}

export class JobForm {
  constructor({ onCreated }) {
    this.onCreated = onCreated;
    this.types = [];
    this.current = null;
    this.form = $("job-form");
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  setTypes(types) {
    const same = JSON.stringify(types) === JSON.stringify(this.types);
    this.types = types;
    if (same) return;
    const group = $("type-buttons");
    group.replaceChildren(...types.map((t) => el("button", {
      type: "button", text: t.name, "aria-pressed": "false", title: t.description,
      "data-type": t.name, onclick: () => this.select(t.name),
    })));
    const select = $("filter-type");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "all" }), ...types.map((t) => el("option", { value: t.name, text: t.name })));
    select.value = chosen;
    this.select(this.current && types.some((t) => t.name === this.current) ? this.current : types[0]?.name);
  }

  select(name) {
    const type = this.types.find((t) => t.name === name);
    if (!type) return;
    this.current = name;
    for (const b of $("type-buttons").children) b.setAttribute("aria-pressed", String(b.dataset.type === name));
    $("type-description").textContent = type.description;
    $("fields").replaceChildren(...type.params.map((p) => this.field(p)));
    $("submit").textContent = `Run ${name}`;
    this.showError(null);
    this.form.hidden = false;
  }

  field(spec) {
    const id = `param-${spec.name}`;
    const input = el("input", {
      id, name: spec.name,
      type: spec.type === "integer" ? "number" : "text",
      value: spec.default ?? "",
      "aria-describedby": `${id}-hint ${id}-error`,
    });
    if (spec.type === "integer") {
      if (spec.min != null) input.min = spec.min;
      if (spec.max != null) input.max = spec.max;
      input.step = 1;
      input.inputMode = "numeric";
    } else if (spec.max_length != null) {
      input.maxLength = spec.max_length;
    }
    input.addEventListener("input", () => this.check(spec, input));
    const bounds = spec.type === "integer"
      ? ` (${spec.min ?? "…"}–${spec.max ?? "…"})`
      : spec.max_length != null ? ` (up to ${spec.max_length} characters)` : "";
    return el("div", { class: "field" },
      el("label", { for: id, text: spec.name }),
      input,
      el("div", { class: "hint", id: `${id}-hint`, text: spec.description + bounds }),
      el("p", { class: "error", id: `${id}-error`, role: "alert" }));
  }

  check(spec, input) {
    const [value, error] = validate(spec, input.value.trim() === "" && spec.type === "integer" ? "" : input.value);
    input.setAttribute("aria-invalid", String(Boolean(error)));
    $(`param-${spec.name}-error`).textContent = error ?? "";
    return [value, error];
  }

  showError(message) {
    const box = $("form-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  async submit() {
    const type = this.types.find((t) => t.name === this.current);
    if (!type) return;
    const params = {};
    let firstBad = null;
    for (const spec of type.params) {
      const input = $(`param-${spec.name}`);
      const [value, error] = this.check(spec, input);
      if (error && !firstBad) firstBad = input;
      else if (!error) params[spec.name] = value;
    }
    if (firstBad) {
      this.showError("Fix the highlighted field.");
      firstBad.focus();
      return;
    }
    this.showError(null);
    const button = $("submit");
    button.disabled = true;
    try {
      const response = await fetch("/api/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ job_type: type.name, params }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        this.showError(body.error ?? `The daemon answered ${response.status}.`);
        return;
      }
      this.onCreated(body);
    } catch {
      this.showError("Cannot reach the daemon.");
    } finally {
      button.disabled = false;
    }
  }
}
