// /api/docs: renders the daemon's /api/openapi.json (its own job types included)
// as a readable page. Plain DOM, text only: nothing from the document is parsed as HTML.

import { $, el } from "./dom.js";

const METHODS = ["get", "post", "put", "delete"];
/** Component schemas shown inline where they are used (per-type params and bodies); others link to the list. */
const inline = (name) => name.includes(".") || name === "NewSchedule" || name === "ScheduleDefinition";
const refName = (ref) => ref.slice(ref.lastIndexOf("/") + 1);

let doc = null;

function typeText(s) {
  if (s.const !== undefined) return `= ${JSON.stringify(s.const)}`;
  if (Array.isArray(s.type)) return s.type.join(" or ");
  if (s.$ref) return refName(s.$ref);
  // A bare set of constraints (an alternative that only bounds some fields) has no type of its own.
  return s.type || (s.oneOf ? "one of" : s.anyOf ? "any of" : s.properties ? "" : "any");
}

/** A pattern as a phrase; a long one (the tz database's names, the cron grammar) by its length only. */
const patternText = (pattern) => (pattern.length <= 120 ? `matches ${pattern}` : `matches a ${pattern.length}-character pattern (in /api/openapi.json)`);

/** Bounds, lengths, patterns, choices and defaults, as short phrases. */
function constraints(s) {
  const out = [];
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${s.minimum} to ${s.maximum}`);
  else {
    if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
    if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
    if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
    if (s.exclusiveMaximum !== undefined) out.push(`< ${s.exclusiveMaximum}`);
  }
  if (s.minLength === 1) out.push("not empty");
  else if (s.minLength > 1) out.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.pattern !== undefined) out.push(patternText(s.pattern));
  if (s.enum) out.push(`one of: ${s.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  if (s.additionalProperties === false) out.push("no other fields");
  return out;
}

/** Text with `code spans` (as the document's descriptions write them). */
function prose(tag, text, props = {}) {
  const node = el(tag, props);
  text.split("`").forEach((part, i) => node.append(i % 2 ? el("code", { text: part }) : part));
  return node;
}

function refLink(name) {
  return el("a", { href: `#schema-${name}`, class: "ref" }, el("code", { text: name }));
}

/** A schema as nested lists: type, constraints, description, then its fields or items. */
function schemaNode(schema, depth = 0) {
  if (!schema || typeof schema !== "object") return el("span", { class: "muted", text: "any" });
  if (schema.$ref) {
    const name = refName(schema.$ref);
    const target = doc.components?.schemas?.[name];
    if (inline(name) && target && depth < 6) return schemaNode(target, depth + 1);
    return refLink(name);
  }
  const box = el("div", { class: "schema" });
  const head = el("p", { class: "schema-head" }, el("span", { class: "type", text: typeText(schema) }));
  for (const c of constraints(schema)) head.append(" · ", el("span", { class: "constraint", text: c }));
  box.append(head);
  if (schema.description) box.append(prose("p", schema.description, { class: "muted small" }));
  if (schema.not?.required) {
    box.append(el("p", { class: "muted small", text: schema.not.description || `Not all of: ${schema.not.required.join(", ")}.` }));
  }
  const alternatives = schema.oneOf || schema.anyOf;
  if (alternatives) {
    const targets = alternatives.map((alt) => (alt.$ref ? doc.components?.schemas?.[refName(alt.$ref)] : alt) || {});
    // Fields every alternative has alike (a submission's options) are shown once, after them.
    const shared = {};
    const first = targets[0]?.properties || {};
    for (const [name, prop] of Object.entries(first)) {
      const same = targets.every((t) => t.properties && JSON.stringify(t.properties[name]) === JSON.stringify(prop));
      if (same && targets.length > 1) shared[name] = prop;
    }
    const list = el("ul", { class: "alternatives" });
    alternatives.forEach((alt, i) => {
      const target = targets[i];
      const label = target.title || (alt.$ref ? refName(alt.$ref) : typeText(alt)) || `or ${i + 1}`;
      let shown = target;
      if (Object.keys(shared).length) {
        const properties = Object.fromEntries(Object.entries(target.properties || {}).filter(([name]) => !(name in shared)));
        shown = { ...target, properties };
      }
      list.append(el("li", {}, el("p", { class: "alt-title" }, el("strong", { text: label })), schemaNode(shown, depth + 1)));
    });
    box.append(list);
    if (Object.keys(shared).length) {
      box.append(el("p", { class: "alt-title" }, el("strong", { text: "Fields of every alternative:" })),
        schemaNode({ type: "object", properties: shared }, depth + 1));
    }
  }
  if (schema.properties) {
    const required = new Set(schema.required || []);
    const list = el("ul", { class: "props" });
    for (const [name, prop] of Object.entries(schema.properties)) {
      const item = el("li", {}, el("code", { class: "prop", text: name }));
      if (required.has(name)) item.append(" ", el("span", { class: "req", text: "required" }));
      item.append(" ", schemaNode(prop, depth + 1));
      list.append(item);
    }
    box.append(list);
  }
  if (schema.items) box.append(el("p", { class: "small", text: "Items:" }), schemaNode(schema.items, depth + 1));
  return box;
}

function parametersTable(params) {
  const body = el("tbody");
  for (const p of params) {
    const type = [typeText(p.schema || {})];
    if (p.schema?.items) type.push(`of ${typeText(p.schema.items)}`);
    if (p.explode === false) type.push("(comma-separated)");
    const target = p.schema?.$ref ? doc.components?.schemas?.[refName(p.schema.$ref)] : null;
    const notes = constraints(p.schema?.items || target || p.schema || {});
    body.append(el("tr", {},
      el("th", { scope: "row" }, el("code", { text: p.name })),
      el("td", { text: p.in }),
      el("td", { text: type.join(" ") }),
      el("td", { text: p.required ? "yes" : "no" }),
      el("td", {}, p.description || "", notes.length ? el("span", { class: "muted small block", text: notes.join(" · ") }) : null)));
  }
  return el("div", { class: "table-wrap" }, el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, ...["Name", "In", "Type", "Required", "Meaning"].map((t) => el("th", { scope: "col", text: t })))),
    body));
}

function content(c) {
  const list = el("ul", { class: "content" });
  for (const [type, media] of Object.entries(c || {})) {
    list.append(el("li", {}, el("code", { text: type }), " ", schemaNode(media.schema)));
  }
  return list;
}

function operation(path, method, op) {
  const id = `op-${op.operationId || method + path}`;
  const scope = op["x-scope"] || "open";
  const details = el("details", { class: "op", id });
  details.append(el("summary", {},
    el("span", { class: `method ${method}`, text: method.toUpperCase() }), " ",
    el("code", { class: "path", text: path }), " ",
    el("span", { class: "op-summary", text: op.summary || "" }), " ",
    el("span", { class: "scope", title: "Token scope needed", text: scope === "open" ? "open" : `scope: ${scope}` })));
  const body = el("div", { class: "op-body" });
  if (op.description) body.append(prose("p", op.description));
  if (op.parameters?.length) body.append(el("h3", { text: "Parameters" }), parametersTable(op.parameters));
  if (op.requestBody) {
    body.append(el("h3", { text: op.requestBody.required ? "Request body (required)" : "Request body" }), content(op.requestBody.content));
  }
  body.append(el("h3", { text: "Responses" }));
  const responses = el("dl", { class: "responses" });
  for (const [status, r] of Object.entries(op.responses || {})) {
    const dd = el("dd", {}, prose("p", r.description || ""));
    if (r.headers) {
      const hl = el("ul", { class: "headers" });
      for (const [name, h] of Object.entries(r.headers)) {
        hl.append(el("li", {}, "Header ", el("code", { text: name }), h.required ? " (always)" : "", ": ", prose("span", h.description || "")));
      }
      dd.append(hl);
    }
    if (r.content) dd.append(content(r.content));
    responses.append(el("dt", { class: `status s${status[0]}`, text: status }), dd);
  }
  body.append(responses);
  details.append(body);
  return details;
}

function render() {
  $("version").textContent = `version ${doc.info?.version ?? "?"} · OpenAPI ${doc.openapi}`;
  const intro = $("intro");
  intro.append(el("p", { text: doc.info?.description || "" }),
    el("p", { class: "small" }, "The machine-readable contract: ", el("a", { href: "/api/openapi.json", text: "/api/openapi.json" }),
      " (feed it to an OpenAPI client generator)."));
  intro.hidden = false;

  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const name = op.tags?.[0] || "other";
      if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
      byTag.get(name).ops.push([path, method, op]);
    }
  }
  const toc = el("ul");
  const container = $("operations");
  for (const { tag, ops } of byTag.values()) {
    if (!ops.length) continue;
    const headingID = `tag-${tag.name}`;
    const section = el("section", { class: "panel tag-group", "aria-labelledby": headingID },
      el("h2", { id: headingID, text: tag.name }));
    if (tag.description) section.append(el("p", { class: "muted", text: tag.description }));
    for (const [path, method, op] of ops) section.append(operation(path, method, op));
    container.append(section);
    toc.append(el("li", {}, el("a", { href: `#${headingID}`, text: tag.name }), el("span", { class: "muted small", text: ` ${ops.length}` })));
  }
  $("toc").append(el("h2", { class: "visually-hidden", text: "Contents" }), toc);
  $("toc").hidden = false;

  const models = $("model-list");
  for (const [name, schema] of Object.entries(doc.components?.schemas || {})) {
    if (inline(name)) continue;
    models.append(el("div", { id: `schema-${name}`, class: "model" }, el("h3", {}, el("code", { text: name })), schemaNode(schema, 1)));
  }
  $("models").hidden = false;
  openFromHash();
}

/** `#op-createJob` opens that operation; `#schema-Job` just scrolls. */
function openFromHash() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target?.tagName === "DETAILS") {
    target.open = true;
    target.scrollIntoView();
  }
}

async function load() {
  const status = $("status");
  try {
    const response = await fetch("/api/openapi.json", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
    render();
    status.textContent = `${Object.keys(doc.paths || {}).length} paths, ${Object.keys(doc.components?.schemas || {}).length} schemas.`;
  } catch (error) {
    status.textContent = `Could not load /api/openapi.json: ${error.message}`;
    status.classList.add("error");
  }
}

window.addEventListener("hashchange", openFromHash);
load();
