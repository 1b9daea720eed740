// Dashboard bootstrap: token handling, the refresh loop, the time-range picker and the error banner.
import { ClicksPanel } from "./clicks-panel.ts";
import { ConfigPanel } from "./config-panel.ts";
import { $, fmtTime, show } from "./dom.ts";
import { customRange, presetRange, RANGE_PRESETS, type Range } from "./model.ts";

/** The chosen time range: a preset ("15m", "1h", …) or a custom window in epoch ms. */
type RangeChoice = { preset: string; from?: undefined; to?: undefined } | { preset: "custom"; from: number; to: number };
type Status = "loading" | "live" | "partial" | "down" | "signed-out";

const TOKEN_KEY = "edgeplane.dashboard.token";
const RANGE_KEY = "edgeplane.dashboard.range";
/** Live data refresh (the spec asks for at least every 5 s). */
const REFRESH_MS = 3000;

const state: { token: string | null; range: RangeChoice; timer: ReturnType<typeof setTimeout> | undefined; loop: number; refreshes: number; downSince: number | null; lastOk: number | null } = {
  token: localStorage.getItem(TOKEN_KEY),
  range: loadRange(),
  timer: undefined,
  /** Bumped by every start/stop, so a refresh from an older loop never schedules another. */
  loop: 0,
  refreshes: 0,
  downSince: null,
  lastOk: null,
};

const clicks = new ClicksPanel();
const config = new ConfigPanel();

function loadRange(): RangeChoice {
  try {
    const r = JSON.parse(localStorage.getItem(RANGE_KEY) ?? "null") as RangeChoice | null;
    if (r && (r.preset in RANGE_PRESETS || (r.preset === "custom" && customRange(Number(r.from), Number(r.to))))) return r;
  } catch {
    /* ignore a corrupt value */
  }
  return { preset: "1h" };
}

function currentWindow(now: number): Range | null {
  const r = state.range;
  return r.preset === "custom" && r.from !== undefined ? customRange(r.from, r.to) : presetRange(r.preset, now);
}

// ------------------------------------------------------------------ token prompt

function promptForToken(message = "", kind = ""): void {
  stop();
  const err = $("#auth-error");
  err.textContent = message;
  err.dataset.kind = kind;
  show(err, Boolean(message));
  show($("#token-prompt"), true);
  document.body.classList.add("locked");
  const input = $<HTMLInputElement>("#token-input");
  input.value = "";
  input.focus();
}

function onTokenSubmit(ev: SubmitEvent): void {
  ev.preventDefault();
  const token = $<HTMLInputElement>("#token-input").value.trim();
  if (!token) {
    promptForToken("Enter a token.", "empty");
    return;
  }
  if (/\s/.test(token)) {
    promptForToken("A token has no spaces.", "invalid");
    return;
  }
  state.token = token;
  localStorage.setItem(TOKEN_KEY, token);
  $<HTMLInputElement>("#token-input").value = "";
  show($("#token-prompt"), false);
  document.body.classList.remove("locked");
  start();
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  promptForToken("");
}

// ------------------------------------------------------------------ refresh loop

function start() {
  stop();
  void refresh(state.loop);
}

function stop() {
  state.loop += 1;
  clearTimeout(state.timer);
}

async function refresh(loop: number): Promise<void> {
  if (loop !== state.loop || !state.token) return;
  const token = state.token;
  const now = Date.now();
  const range = currentWindow(now) ?? presetRange("1h", now);
  setStatus("loading");
  const [c, k] = await Promise.all([clicks.refresh(token, range, now), config.refresh(token)]);
  if (loop !== state.loop) return; // signed out, or the range changed meanwhile
  const failures = [...c.failures, ...k.failures];
  state.refreshes += 1;
  document.body.dataset.refreshes = String(state.refreshes);

  const auth = failures.find((f) => f.kind === "auth");
  if (auth) {
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
    setStatus("signed-out");
    promptForToken(`The server rejected this token (${auth.message}). It may be mistyped, revoked or expired — enter another one.`, "unauthorized");
    return;
  }
  const forbidden = failures.filter((f) => f.kind === "forbidden");
  if (forbidden.length > 0 && forbidden.length === c.attempted + k.attempted) {
    // Nothing at all is readable with this role.
    const role = (forbidden[0]!.details as { role?: string } | null)?.role;
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
    setStatus("signed-out");
    promptForToken(`This token${role ? ` (role ${role})` : ""} may not read metrics or rollouts. The dashboard needs a viewer token (or publisher, approver, admin).`, "forbidden");
    return;
  }
  const down = failures.find((f) => f.kind === "network" || f.kind === "server");
  if (down) {
    state.downSince ??= now;
    showBanner(down.kind === "network" ? `Server unreachable since ${fmtTime(state.downSince, true)} — retrying every ${REFRESH_MS / 1000} s. Figures shown are from ${state.lastOk ? fmtTime(state.lastOk, true) : "never"}.` : `Server error (${down.status} ${down.code}: ${down.message}) — retrying every ${REFRESH_MS / 1000} s.`);
    setStatus("down");
  } else {
    state.downSince = null;
    state.lastOk = now;
    hideBanner();
    setStatus(failures.length ? "partial" : "live");
  }
  state.timer = setTimeout(() => refresh(loop), REFRESH_MS);
}

function showBanner(text: string): void {
  const b = $("#banner");
  b.textContent = text;
  show(b, true);
}

function hideBanner() {
  show($("#banner"), false);
}

function setStatus(kind: Status): void {
  const el = $("#status");
  if (kind === "loading") {
    el.classList.add("loading");
    return;
  }
  el.classList.remove("loading");
  el.dataset.state = kind;
  document.body.dataset.state = kind;
  const labels: Record<Exclude<Status, "loading">, string> = { live: "live", partial: "live (some panels failing)", down: "offline", "signed-out": "signed out" };
  const label = labels[kind];
  el.textContent = state.lastOk ? `${label} · updated ${fmtTime(state.lastOk, true)}` : label;
}

// ------------------------------------------------------------------ range picker

function setRange(range: RangeChoice): void {
  state.range = range;
  localStorage.setItem(RANGE_KEY, JSON.stringify(range));
  for (const b of document.querySelectorAll<HTMLElement>("#range-picker button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === range.preset));
  show($("#custom-range"), range.preset === "custom");
  if (state.token) start();
}

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function initRangePicker(): void {
  for (const b of document.querySelectorAll<HTMLElement>("#range-picker button[data-range]")) {
    b.addEventListener("click", () => {
      if (b.dataset.range === "custom") {
        const w = currentWindow(Date.now()) ?? presetRange("1h", Date.now());
        $<HTMLInputElement>("#custom-from").value = toLocalInput(w.from);
        $<HTMLInputElement>("#custom-to").value = toLocalInput(w.to);
        for (const x of document.querySelectorAll("#range-picker button[data-range]")) x.setAttribute("aria-pressed", String(x === b));
        show($("#custom-range"), true);
        return;
      }
      setRange({ preset: b.dataset.range ?? "1h" });
    });
  }
  $("#custom-range").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const from = new Date($<HTMLInputElement>("#custom-from").value).getTime();
    const to = new Date($<HTMLInputElement>("#custom-to").value).getTime();
    const ok = customRange(from, to);
    $("#custom-error").textContent = ok ? "" : "“From” must be before “to”.";
    if (ok) setRange({ preset: "custom", from, to });
  });
  setRange(state.range);
}

// ------------------------------------------------------------------ boot

$("#token-form").addEventListener("submit", onTokenSubmit);
$("#change-token").addEventListener("click", signOut);
initRangePicker();
setInterval(() => config.tick(Date.now()), 1000);
if (state.token) start();
else promptForToken("");
