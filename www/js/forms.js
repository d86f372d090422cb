// The "New job" panel: a button per type and a form built from its param schema.
// Each field comes from the schema alone (no code knows a job type): booleans are
// checkboxes, enums selects, numbers and integers number inputs, strings text
// inputs with their pattern and length. Client-side checks say exactly what the
// server would say; the server's own answer is shown by the form too.
import { $, el } from "./dom.js";

/** Whether the schema entry is an operator's declaration (a command type). */
const declared = (spec) => "required" in spec;

/** Whether a value has to be entered: nothing to fall back on when left empty. */
export function isRequired(spec) {
  if (spec.default != null) return false;
  return declared(spec) ? spec.required === true : true;
}

/**
 * A number as the daemon (Swift's `Double.description`) writes it: `10.0`,
 * `0.5`, `1e-05`, `1e+16`.
 */
export function swiftDouble(x) {
  if (!Number.isFinite(x)) return "null";
  if (Object.is(x, -0)) return "-0.0";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) {
    const [mantissa, exponent] = x.toExponential().split("e");
    const sign = exponent[0] === "-" ? "-" : "+";
    const digits = exponent.replace(/^[+-]/, "").padStart(2, "0");
    return `${mantissa}e${sign}${digits}`;
  }
  const text = String(x);
  return Number.isInteger(x) ? `${text}.0` : text;
}

/** An enum member as the daemon lists it in "must be one of: ...". */
function listed(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number" && !Number.isInteger(value)) return swiftDouble(value);
  return JSON.stringify(value);
}

const patterns = new Map();

/** The schema's pattern as a JS RegExp (found anywhere in the value, as the daemon does); null if JS cannot read it. */
function regex(source) {
  if (!patterns.has(source)) {
    let re = null;
    for (const flags of ["u", ""]) {
      try { re = new RegExp(source, flags); break; } catch { /* try the next */ }
    }
    patterns.set(source, re);
  }
  return patterns.get(source);
}

/**
 * Validates one form value against its schema entry; returns [value, error].
 * `raw` is the text of an input, the checked state of a checkbox, or the chosen
 * enum member (undefined when none). A value of `undefined` means "leave the
 * param out" (an optional declared param with no default).
 */
export function validate(spec, raw) {
  const name = spec.name;
  const isDeclared = declared(spec);
  if (raw === "" || raw == null) {
    if (spec.default != null) return [spec.default, null];
    if (!isDeclared && (spec.type === "integer" || spec.type === "string")) {
      return [null, `Missing required parameter: ${name}`];
    }
    if (!isDeclared || spec.required) return [null, `Parameter '${name}' is required`];
    return [undefined, null];
  }
  let value;
  switch (spec.type) {
    case "integer": {
      const text = String(raw);
      // Built-in types take whole numbers of zero or more; declared ones may be negative.
      if (!(isDeclared ? /^-?\d+$/ : /^\d+$/).test(text)) return [null, `Parameter '${name}' must be an integer`];
      const big = BigInt(text);
      if (isDeclared && (big > 2n ** 63n - 1n || big < -(2n ** 63n))) return [null, `Parameter '${name}' must be an integer`];
      if (spec.min != null && big < BigInt(spec.min)) return [null, `Parameter '${name}' must be at least ${spec.min}`];
      if (spec.max != null && big > BigInt(spec.max)) return [null, `Parameter '${name}' must be at most ${spec.max}`];
      value = Number(text);
      break;
    }
    case "number": {
      const text = String(raw).trim();
      const n = typeof raw === "number" ? raw : text === "" ? NaN : Number(text);
      if (!Number.isFinite(n)) return [null, `Parameter '${name}' must be a number`];
      if (spec.min != null && n < spec.min) return [null, `Parameter '${name}' must be at least ${swiftDouble(spec.min)}`];
      if (spec.max != null && n > spec.max) return [null, `Parameter '${name}' must be at most ${swiftDouble(spec.max)}`];
      value = n;
      break;
    }
    case "boolean":
      if (raw === true || raw === "true") value = true;
      else if (raw === false || raw === "false") value = false;
      else return [null, `Parameter '${name}' must be a boolean`];
      break;
    default: {
      if (typeof raw !== "string") return [null, `Parameter '${name}' must be a string`];
      if (spec.max_length != null && [...raw].length > spec.max_length) {
        return [null, `Parameter '${name}' is too long (max ${spec.max_length})`];
      }
      const re = spec.pattern != null ? regex(spec.pattern) : null;
      if (re && !re.test(raw)) return [null, `Parameter '${name}' must match ${spec.pattern}`];
      value = raw;
    }
  }
  if (Array.isArray(spec.enum) && !spec.enum.some((choice) => choice === value)) {
    return [null, `Parameter '${name}' must be one of: ${spec.enum.map(listed).join(", ")}`];
  }
  return [value, null];
}

/** What the hint under a field says about its bounds. */
function bounds(spec) {
  const parts = [];
  if (spec.min != null && spec.max != null) parts.push(`${spec.min} to ${spec.max}`);
  else if (spec.min != null) parts.push(`at least ${spec.min}`);
  else if (spec.max != null) parts.push(`at most ${spec.max}`);
  if (spec.max_length != null) parts.push(`up to ${spec.max_length} characters`);
  if (spec.pattern != null) parts.push(`must match ${spec.pattern}`);
  return parts.length ? ` (${parts.join("; ")})` : "";
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
    const fields = type.params.map((p) => this.field(p));
    $("fields").replaceChildren(...fields);
    $("required-note").hidden = !type.params.some(isRequired);
    $("submit").textContent = `Run ${name}`;
    this.showError(null);
    this.form.hidden = false;
  }

  /** The input for one param, chosen by its schema alone. */
  control(spec, id) {
    const described = { "aria-describedby": `${id}-hint ${id}-error` };
    if (spec.type === "boolean") {
      return el("input", { id, name: spec.name, type: "checkbox", checked: spec.default === true, ...described });
    }
    if (Array.isArray(spec.enum)) {
      const options = spec.enum.map((v, i) => el("option", { value: String(i), text: listed(v) }));
      // A required choice with nothing chosen yet, or an optional one left out.
      const none = spec.default == null
        ? [el("option", { value: "", text: isRequired(spec) ? "Choose…" : "(none)" })] : [];
      const select = el("select", { id, name: spec.name, ...described }, ...none, ...options);
      const index = spec.enum.findIndex((v) => v === spec.default);
      select.value = index >= 0 ? String(index) : "";
      return select;
    }
    const numeric = spec.type === "integer" || spec.type === "number";
    const input = el("input", {
      id, name: spec.name, type: numeric ? "number" : "text",
      value: spec.default == null ? "" : String(spec.default), ...described,
    });
    if (numeric) {
      if (spec.min != null) input.min = spec.min;
      if (spec.max != null) input.max = spec.max;
      input.step = spec.type === "integer" ? "1" : "any";
      input.inputMode = spec.type === "integer" ? "numeric" : "decimal";
    } else {
      if (spec.max_length != null) input.maxLength = spec.max_length;
      input.autocomplete = "off";
      input.spellcheck = false;
    }
    return input;
  }

  field(spec) {
    const id = `param-${spec.name}`;
    const control = this.control(spec, id);
    const required = isRequired(spec);
    if (required) control.setAttribute("aria-required", "true");
    control.dataset.kind = control.type === "checkbox" ? "checkbox" : control.tagName === "SELECT" ? "select" : "text";
    control.addEventListener(control.tagName === "SELECT" || control.type === "checkbox" ? "change" : "input",
      () => this.check(spec, control));
    const label = el("label", { for: id }, spec.name,
      required ? el("span", { class: "required", "aria-hidden": "true", text: " *" }) : null,
      required ? el("span", { class: "visually-hidden", text: " (required)" }) : null);
    const kind = control.type === "checkbox" ? "field check" : "field";
    return el("div", { class: kind, "data-param": spec.name },
      control.type === "checkbox" ? el("div", { class: "check-row" }, control, label) : label,
      control.type === "checkbox" ? null : control,
      el("div", { class: "hint", id: `${id}-hint`, text: (spec.description ?? "") + bounds(spec) }),
      el("p", { class: "error", id: `${id}-error`, role: "alert" }));
  }

  /** The raw value of a control, as `validate` takes it. */
  raw(spec, control) {
    if (control.dataset.kind === "checkbox") return control.checked;
    if (control.dataset.kind === "select") return control.value === "" ? undefined : spec.enum[Number(control.value)];
    // A number input the browser cannot read (say "1e") has the empty value.
    if (control.type === "number" && control.validity.badInput) return "\u0000bad";
    if (spec.type === "integer" || spec.type === "number") return control.value.trim();
    return control.value;
  }

  check(spec, control) {
    const [value, error] = validate(spec, this.raw(spec, control));
    control.setAttribute("aria-invalid", String(Boolean(error)));
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
      const control = $(`param-${spec.name}`);
      const [value, error] = this.check(spec, control);
      if (error && !firstBad) firstBad = control;
      else if (!error && value !== undefined) params[spec.name] = value;
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
