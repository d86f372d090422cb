// Sign-in for a daemon that requires tokens: the token is sent once to
// POST /api/session and traded for an HttpOnly session cookie; the page never
// keeps it. Read-only sessions see no create, cancel or clear controls.
import { $, announce } from "./dom.js";

const stylesheet = document.createElement("link");
stylesheet.rel = "stylesheet";
stylesheet.href = "/css/session.css";
document.head.append(stylesheet);

export class Session {
  constructor() {
    this.info = null;
    this.pending = null;
  }

  /** Resolves once there is someone to talk to the daemon as (at once when it is open). */
  ensure() {
    this.pending ??= this.#ensure().finally(() => { this.pending = null; });
    return this.pending;
  }

  async #ensure() {
    for (;;) {
      const response = await fetch("/api/session", { cache: "no-store" }).catch(() => null);
      // Unreachable: let the WebSocket fail and back off as usual.
      if (!response) return;
      if (response.ok) return this.#apply(await response.json());
      if (response.status !== 401) return;
      await this.#prompt();
    }
  }

  #apply(info) {
    this.info = info;
    const scopes = new Set(info.scopes ?? []);
    const admin = scopes.has("admin");
    document.body.dataset.canSubmit = String(admin || scopes.has("submit"));
    document.body.dataset.canAdmin = String(admin);
    this.#renderWho();
  }

  #renderWho() {
    let box = $("session-who");
    if (!box) {
      box = document.createElement("p");
      box.id = "session-who";
      box.className = "session-who";
      document.querySelector("header.top")?.append(box);
    }
    box.replaceChildren();
    if (this.info?.auth !== "tokens" || !this.info.name) { box.hidden = true; return; }
    box.hidden = false;
    const name = document.createElement("span");
    name.textContent = `${this.info.name} (${this.info.scopes.join(", ")})`;
    box.append(name);
    if (this.info.via === "session") {
      const out = document.createElement("button");
      out.type = "button";
      out.id = "sign-out";
      out.textContent = "Sign out";
      out.addEventListener("click", async () => {
        await fetch("/api/session", { method: "DELETE" }).catch(() => null);
        location.reload();
      });
      box.append(out);
    }
  }

  /** Shows the sign-in dialog until a token is accepted. */
  #prompt() {
    const dialog = this.#dialog();
    return new Promise((resolve) => {
      const form = dialog.querySelector("form");
      const error = $("signin-error");
      form.onsubmit = async (event) => {
        event.preventDefault();
        const input = $("signin-token");
        error.hidden = true;
        const response = await fetch("/api/session", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token: input.value.trim() }),
        }).catch(() => null);
        if (response?.ok) {
          input.value = "";
          dialog.close();
          announce("Signed in");
          resolve();
          return;
        }
        const body = response ? await response.json().catch(() => ({})) : {};
        error.textContent = body.error ?? "Cannot reach the daemon.";
        error.hidden = false;
      };
      if (!dialog.open) dialog.showModal();
      $("signin-token").focus();
    });
  }

  #dialog() {
    let dialog = $("signin");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "signin";
    dialog.setAttribute("aria-labelledby", "signin-title");
    // Escape must not leave the page half-working: the dialog stays until signed in.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    const title = document.createElement("h2");
    title.id = "signin-title";
    title.textContent = "Sign in";
    const hint = document.createElement("p");
    hint.className = "muted";
    hint.textContent = "This daemon needs an API token (jobrunnerd token new NAME --scopes read). It is exchanged for a session cookie and not stored by the page.";
    const form = document.createElement("form");
    const label = document.createElement("label");
    label.htmlFor = "signin-token";
    label.textContent = "Token";
    const input = document.createElement("input");
    input.id = "signin-token";
    input.type = "password";
    input.autocomplete = "off";
    input.required = true;
    const error = document.createElement("p");
    error.id = "signin-error";
    error.className = "form-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.id = "signin-submit";
    submit.className = "primary";
    submit.textContent = "Sign in";
    form.append(label, input, error, submit);
    dialog.append(title, hint, form);
    document.body.append(dialog);
    return dialog;
  }
}
