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
      // The daemon writes an integral bound as an integer (`10`, not `10.0`).
      const shown = (x) => (Number.isInteger(x) && Math.abs(x) < 9e15 ? String(x) : swiftDouble(x));
      if (spec.min != null && n < spec.min) return [null, `Parameter '${name}' must be at least ${shown(spec.min)}`];
      if (spec.max != null && n > spec.max) return [null, `Parameter '${name}' must be at most ${shown(spec.max)}`];
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

/** The inputs for one job type's params, with ids `${prefix}-NAME`. */
export class ParamFields {
  constructor(prefix, container) {
    this.prefix = prefix;
    this.container = container;
    this.type = null;
  }

  show(type, values = null) {
    this.type = type;
    this.container.replaceChildren(...(type?.params ?? []).map((p) => this.field(p)));
    if (values && type) {
      for (const spec of type.params) {
        const control = $(`${this.prefix}-${spec.name}`);
        if (!control || !(spec.name in values)) continue;
        const v = values[spec.name];
        if (control.dataset.kind === "checkbox") control.checked = v === true;
        else if (control.dataset.kind === "select") {
          const i = spec.enum.findIndex((x) => x === v);
          control.value = i >= 0 ? String(i) : "";
        } else control.value = v == null ? "" : String(v);
      }
    }
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
    const id = `${this.prefix}-${spec.name}`;
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
    $(`${this.prefix}-${spec.name}-error`).textContent = error ?? "";
    return [value, error];
  }

  /** [params, the first control in error or null]. */
  collect() {
    const params = {};
    let firstBad = null;
    for (const spec of this.type?.params ?? []) {
      const control = $(`${this.prefix}-${spec.name}`);
      const [value, error] = this.check(spec, control);
      if (error && !firstBad) firstBad = control;
      else if (!error && value !== undefined) params[spec.name] = value;
    }
    return [params, firstBad];
  }
}

// --- Submission options: the daemon's rules and messages (SubmitOptions.swift) ---

const MAX_SECONDS = 31_536_000;
const integerIn = (lo, hi) => (text) => {
  if (!/^-?\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= lo && n <= hi ? n : null;
};
const secondsIn = (aboveZero) => (text) => {
  const n = Number(text);
  if (!Number.isFinite(n) || (aboveZero ? n <= 0 : n < 0) || n > MAX_SECONDS) return null;
  return n;
};
export const OPTIONS = {
  queue: { parse: (t) => (/^[a-z0-9_-]{1,64}$/.test(t) ? t : null), why: "must match ^[a-z0-9_-]{1,64}$",
    hint: "Lower-case letters, digits, _ and -; empty: default" },
  priority: { parse: integerIn(-100, 100), why: "must be an integer from -100 to 100", hint: "-100 to 100, higher runs first; empty: 0" },
  delay: { parse: secondsIn(false), why: `must be a number of seconds from 0 to ${MAX_SECONDS}`, hint: "Seconds to wait before it may start" },
  max_attempts: { parse: integerIn(1, 100), why: "must be an integer from 1 to 100", hint: "1 to 100 runs before a failure is final" },
  timeout: { parse: secondsIn(true), why: `must be a number of seconds from more than 0 to ${MAX_SECONDS}`, hint: "Seconds one attempt may run" },
};

/** Validates one option's text; returns [value, error] (value undefined: left out). */
export function validateOption(name, text, badInput = false) {
  const rule = OPTIONS[name];
  const t = String(text ?? "").trim();
  if (t === "" && !badInput) return [undefined, null];
  const value = badInput ? null : rule.parse(t);
  return value == null ? [null, `Invalid '${name}' field: ${rule.why}`] : [value, null];
}

/** The option inputs `${prefix}-NAME` with their hints and error lines. */
export function optionFields(prefix, names) {
  return names.map((name) => {
    const id = `${prefix}-${name}`;
    const numeric = name !== "queue";
    const input = el("input", {
      id, name, type: numeric ? "number" : "text", autocomplete: "off", "aria-describedby": `${id}-hint ${id}-error`,
    });
    if (numeric) input.step = name === "priority" || name === "max_attempts" ? "1" : "any";
    else input.spellcheck = false;
    input.addEventListener("input", () => checkOption(prefix, name));
    return el("div", { class: "field", "data-option": name },
      el("label", { for: id, text: name.replace("_", " ") }), input,
      el("div", { class: "hint", id: `${id}-hint`, text: OPTIONS[name].hint }),
      el("p", { class: "error", id: `${id}-error`, role: "alert" }));
  });
}

export function checkOption(prefix, name) {
  const input = $(`${prefix}-${name}`);
  const [value, error] = validateOption(name, input.value, input.validity?.badInput);
  input.setAttribute("aria-invalid", String(Boolean(error)));
  $(`${prefix}-${name}-error`).textContent = error ?? "";
  return [value, error];
}

/** [options, first bad input or null] for the option inputs named. */
export function collectOptions(prefix, names) {
  const options = {};
  let firstBad = null;
  for (const name of names) {
    const [value, error] = checkOption(prefix, name);
    if (error && !firstBad) firstBad = $(`${prefix}-${name}`);
    else if (!error && value !== undefined) options[name] = value;
  }
  return [options, firstBad];
}

const JOB_OPTIONS = ["queue", "priority", "delay", "max_attempts", "timeout"];

export class JobForm {
  constructor({ onCreated }) {
    this.onCreated = onCreated;
    this.types = [];
    this.current = null;
    this.fields = new ParamFields("param", $("fields"));
    this.form = $("job-form");
    $("option-fields").replaceChildren(...optionFields("opt", JOB_OPTIONS));
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
    this.fields.show(type);
    $("required-note").hidden = !type.params.some(isRequired);
    $("submit").textContent = `Run ${name}`;
    this.showError(null);
    this.form.hidden = false;
  }

  showError(message) {
    const box = $("form-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  async submit() {
    const type = this.types.find((t) => t.name === this.current);
    if (!type) return;
    const [params, badParam] = this.fields.collect();
    const [options, badOption] = collectOptions("opt", JOB_OPTIONS);
    const firstBad = badParam ?? badOption;
    if (firstBad) {
      if (!badParam) $("job-options").open = true;
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
        body: JSON.stringify({ job_type: type.name, params, ...options }),
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
