// The candidate client: sign in → my assessments → start → one item at a time → submit → report.
// Talks only to the documented /v1/me/... routes (api.js); answers go through the outbox (sync.js).
// An adaptive section is one screen showing its current item (adaptive.js).
import { progressOf, screensOf } from "./adaptive.js";
import { me, NetworkError } from "./api.js";
import * as auth from "./auth.js";
import { lang, loadStrings, loc, setLang, t, when } from "./i18n.js";
import { el, isAnswered, renderItem } from "./items.js";
import { attempts as saved } from "./store.js";
import { merge, Outbox } from "./sync.js";

const main = document.getElementById("main");
const syncLine = document.getElementById("sync");
const clock = document.getElementById("clock");
const ATTEMPT = "take.attempt"; // the attempt open in this tab, for a reload
let redraw = () => {};
let session = null; // {record, outbox, index, deadlineAt, ticker, timeUp, signedOut}
let held = null; // the open attempt's record, kept while it is reopened (a language switch): a change made meanwhile stays

function show(...nodes) {
  main.replaceChildren(...nodes.filter(Boolean));
}

function heading(text) {
  return el("h1", { text, tabindex: "-1" });
}

function focusHeading() {
  main.querySelector("h1")?.focus();
}

function button(text, onclick, attrs = {}) {
  return el("button", { type: "button", onclick, text, ...attrs });
}

function header() {
  document.getElementById("title").textContent = t("app.title");
  document.getElementById("lang").textContent = t("lang.switch");
  document.title = t("app.title");
}

// ------------------------------------------------------------------ sign-in

function showSignIn(problem) {
  redraw = () => showSignIn(problem);
  const c = auth.config();
  const nodes = [heading(t("signin.heading"))];
  if (problem) nodes.push(el("p", { class: "error", role: "alert", text: t(problem) }));
  if (!c.authorize) nodes.push(el("p", { text: t("signin.unavailable") }));
  else nodes.push(el("p", { text: t("signin.intro") }), button(t("signin.button"), () => auth.signIn(), { class: "primary", "data-testid": "sign-in" }));
  show(...nodes);
}

// ------------------------------------------------------------------ my assessments

async function showList() {
  redraw = showList;
  stopSession();
  held = null;
  sessionStorage.removeItem(ATTEMPT);
  let res;
  try {
    res = await me.assessments();
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    show(heading(t("list.heading")), el("p", { class: "error", role: "alert", text: t("list.offline") }), button(t("list.retry"), showList));
    return;
  }
  if (res.status === 401) return showSignIn("signin.expired");
  if (res.status !== 200) return showProblem(res);
  const open = [], upcoming = [], done = [];
  for (const a of res.body) {
    const running = a.attempts.find((x) => x.status === "in_progress");
    const card = el("li", { class: "card", "data-code": a.code }, el("h3", { text: loc(a.title) }));
    if (a.description) card.append(el("p", { text: loc(a.description) }));
    const meta = [t(a.adaptive ? "list.items.most" : "list.items", { count: a.item_count })];
    if (a.time_limit_minutes) meta.push(t("list.minutes", { minutes: Math.round(a.time_limit_minutes * a.extra_time_factor) }));
    if (a.upcoming && a.window && a.window.opens_at) meta.push(t("list.opens", { when: when(a.window.opens_at) }));
    if (a.window && a.window.closes_at) meta.push(t("list.closes", { when: when(a.window.closes_at) }));
    card.append(el("p", { class: "meta", text: meta.join(" · ") }));
    if (a.can_start) {
      const number = running ? running.number : a.attempts.length + 1;
      card.append(button(t(running ? "list.continue" : "list.start"), () => start(a.code, number), { class: "primary", "data-testid": `start-${a.code}` }));
      open.push(card);
    } else if (a.upcoming) upcoming.push(card);
    for (const attempt of a.attempts.filter((x) => x.status === "submitted")) {
      const row = el("li", { class: "card" }, el("h3", { text: loc(a.title) }), el("p", { class: "meta", text: when(attempt.submitted_at) }));
      row.append(button(t("list.report"), () => showReport(attempt.id), { class: "secondary", "data-testid": `report-${attempt.id}` }));
      done.push(row);
    }
  }
  const section = (key, cards) => (cards.length ? el("section", {}, el("h2", { text: t(key) }), el("ul", { class: "cards" }, ...cards)) : null);
  const badges = await credentialCards();
  show(
    heading(t("list.heading")),
    open.length + upcoming.length + done.length ? "" : el("p", { text: t("list.none") }),
    section("list.open", open),
    section("list.upcoming", upcoming),
    section("list.done", done),
    section("list.credentials", badges),
    button(t("signout"), () => { auth.signOut(); showSignIn(); }, { class: "link" }),
  );
  focusHeading();
}

// My Open Badges credentials (GET /v1/me/credentials): the achievement in the chosen language, the level,
// the dates, revoked ones marked, and the VC-JWT to save as a file (the bytes GET .../file answers with).
// Without a network, or on any refusal, the list simply has no credentials section.
async function credentialCards() {
  let res;
  try {
    res = await me.credentials();
  } catch (error) {
    if (error instanceof NetworkError) return [];
    throw error;
  }
  if (res.status !== 200 || !Array.isArray(res.body)) return [];
  return res.body.map((c) => {
    const text = c.display[lang] || c.display["zh-CN"] || Object.values(c.display)[0] || {};
    const meta = [t("cred.level", { level: text.level || c.level }), t("cred.issued", { when: when(c.issued_at) })];
    if (c.valid_until) meta.push(t("cred.until", { when: when(c.valid_until) }));
    const file = URL.createObjectURL(new Blob([c.credential], { type: "application/vc+jwt" }));
    const card = el("li", { class: "card", "data-credential": c.id }, el("h3", { text: text.achievement || c.dimension || c.level }));
    if (text.framework) card.append(el("p", { text: text.framework }));
    card.append(el("p", { class: "meta", text: meta.join(" · ") }));
    if (c.status === "revoked") card.append(el("p", { class: "error", text: t("cred.revoked", { when: when(c.revoked_at) }) }));
    if (c.status === "expired") card.append(el("p", { class: "error", text: t("cred.expired", { when: when(c.valid_until) }) }));
    card.append(el("a", { href: file, download: `credential-${c.id}.jwt`, class: "secondary download", "data-testid": `download-${c.id}`, text: t("cred.download") }));
    return card;
  });
}

// A retried start is harmless: the attempt's number makes it exact (200 with the same attempt).
async function start(code, number) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await me.start(code, number);
      if (res.status === 200 || res.status === 201) return openAttempt(res.body.attempt.id, res.body);
      if (res.status === 401) return showSignIn("signin.expired");
      if (res.status >= 500 && attempt < 4) throw new NetworkError(String(res.status));
      return showProblem(res);
    } catch (error) {
      if (!(error instanceof NetworkError) || attempt >= 4) {
        return show(heading(t("list.heading")), el("p", { class: "error", role: "alert", text: t("list.offline") }), button(t("list.retry"), showList));
      }
      await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
    }
  }
}

function showProblem(res) {
  const detail = (res.body && (res.body.detail || res.body.title)) || String(res.status);
  show(heading(t("app.title")), el("p", { class: "error", role: "alert", text: t("error.generic", { detail }) }), button(t("done.list"), showList, { class: "secondary" }));
}

// ------------------------------------------------------------------ the attempt

function stopSession() {
  if (!session) return;
  session.outbox.stop();
  clearInterval(session.ticker);
  clearInterval(session.poller);
  session = null;
  clock.hidden = true;
  syncLine.hidden = true;
}

async function openAttempt(id, fresh, early) {
  stopSession();
  let record = (held && held.id === id ? held : await saved.get(id)) || { id, answers: {} };
  held = record;
  let state = fresh;
  if (!state) {
    try {
      const res = await (early || me.attempt(id));
      if (res.status === 401) return showSignIn("signin.expired");
      if (res.status === 404) return showList();
      if (res.status === 200) state = res.body;
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
    }
  }
  if (state) {
    record = await merge(record, state);
    record.deadlineAt = deadlineFrom(state.attempt);
    await saved.put(record);
  } else if (!record.state) {
    return show(heading(t("app.title")), el("p", { class: "error", role: "alert", text: t("list.offline") }), button(t("list.retry"), () => openAttempt(id)));
  }
  sessionStorage.setItem(ATTEMPT, id);
  if (record.state.attempt.status === "submitted") return showDone(record, record.state);
  const screens = screensOf(record.state);
  const index = record.index === undefined ? landing(record, screens) : record.index;
  session = { record, index: Math.max(0, Math.min(index, screens.length - 1)), deadlineAt: record.deadlineAt };
  session.outbox = new Outbox(record, {
    status: syncStatus,
    summary: (s) => setDeadline(s),
    reconciled: (ref) => onScreen(ref) && showItem(),
    // the answer to an adaptive item's save named the next item (or ended the section)
    advanced: (section) => {
      if (!session || session.timeUp || record.submitting || redraw !== showItem) return;
      const screen = screensOf(record.state)[session.index];
      if (screen && screen.section === section) {
        showItem();
        focusHeading();
      }
    },
    stale: () => session && !session.timeUp && openAttempt(record.id),
    closed: () => attemptClosed(),
    signedOut: () => {
      session.signedOut = true;
      syncStatus();
    },
    submitted: (s) => submitted(record, s),
    failed: showProblem,
  });
  session.ticker = setInterval(tick, 1000);
  tick();
  if (record.submitting) showSubmitting();
  else showItem();
  syncStatus();
  session.outbox.kick();
}

// Where an attempt opened without this device's place in it starts: in an adaptive section already
// begun (its current item: where the candidate was on the other device), else at the first screen.
function landing(record, screens) {
  const begun = screens.findIndex((s) => {
    if (!s.section) return false;
    const progress = progressOf(record.state, s.section);
    return progress.current && (progress.items_given > 0 || record.answers[progress.current]);
  });
  return Math.max(0, begun);
}

// Whether the item `ref` is on the screen now (a fixed item, or an adaptive section's current one).
function onScreen(ref) {
  const screen = screensOf(session.record.state)[session.index];
  if (!screen) return false;
  if (screen.item) return screen.item.ref === ref;
  return progressOf(session.record.state, screen.section).current === ref;
}

// Time left by the server's clock: `seconds_left` of the latest response, counted down locally.
function deadlineFrom(summary) {
  return summary.seconds_left === null || summary.seconds_left === undefined ? null : Date.now() + summary.seconds_left * 1000;
}

function setDeadline(summary) {
  if (!session) return;
  session.deadlineAt = session.record.deadlineAt = deadlineFrom(summary);
  tick();
}

function tick() {
  if (!session || session.deadlineAt === null || session.deadlineAt === undefined) {
    clock.hidden = true;
    return;
  }
  // rounded up: the clock never says the time is up while the server would still take an answer
  const left = Math.max(0, Math.ceil((session.deadlineAt - Date.now()) / 1000));
  clock.hidden = false;
  const mm = String(Math.floor(left / 60)).padStart(2, "0");
  const ss = String(left % 60).padStart(2, "0");
  clock.textContent = left > 0 ? t("clock.left", { time: `${mm}:${ss}` }) : t("clock.up");
  clock.classList.toggle("low", left < 300);
  if (left === 0 && !session.timeUp) timeUp();
}

// The deadline passed by the client's count: the server submits; show what it has when it can be asked.
function timeUp() {
  session.timeUp = true;
  show(heading(t("timeup.heading")), el("p", { text: t("timeup.body") }));
  focusHeading();
  redraw = () => {};
  session.poller = setInterval(askServer, 5000);
  askServer();
}

async function askServer() {
  if (!session) return;
  try {
    const res = await me.attempt(session.record.id);
    if (res.status === 200 && res.body.attempt.status === "submitted") {
      const record = session.record;
      stopSession();
      showDone(record, res.body);
    } else if (res.status === 200) setDeadline(res.body.attempt);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
  }
}

async function attemptClosed() {
  if (!session) return;
  session.timeUp = true;
  show(heading(t("timeup.heading")), el("p", { text: t("error.closed") }));
  session.poller = session.poller || setInterval(askServer, 5000);
  askServer();
}

function syncStatus() {
  if (!session) {
    syncLine.hidden = true;
    return;
  }
  const n = session.outbox.pending();
  syncLine.hidden = false;
  let state = "saved";
  let text = t("sync.saved");
  if (session.signedOut && n) {
    state = "signin";
    text = t("sync.signin", { count: n });
  } else if (n && (session.outbox.waiting || !navigator.onLine)) {
    state = "waiting";
    text = n === 1 ? t("sync.waiting.one") : t("sync.waiting", { count: n });
  } else if (n) {
    state = "saving";
    text = t("sync.saving");
  }
  syncLine.dataset.state = state;
  syncLine.dataset.pending = String(n);
  syncLine.textContent = text;
  const wait = document.getElementById("adaptive-wait");
  if (wait) {
    const offline = state === "waiting" || state === "signin";
    wait.dataset.state = offline ? "offline" : "fetching";
    wait.textContent = t(state === "signin" ? "adaptive.signin" : offline ? "adaptive.offline" : "adaptive.fetching");
  }
  if (state === "signin" && !syncLine.querySelector("button")) syncLine.append(" ", button(t("signin.button"), () => auth.signIn(), { class: "link" }));
}

function announce(text) {
  const live = document.getElementById("announce");
  if (live) live.textContent = text;
}

// One fixed item, or an adaptive section's screen (showAdaptive).
function showItem() {
  redraw = showItem;
  if (!session) return; // between attempts (a language switch reopening it): it shows itself when open
  const { record } = session;
  const screens = screensOf(record.state);
  session.index = Math.max(0, Math.min(session.index, screens.length - 1));
  const screen = screens[session.index];
  if (screen.section) return showAdaptive(screens, screen.section);
  const item = screen.item;
  const stored = record.answers[item.ref];
  const node = renderItem(item, stored && stored.answer, (answer) => session.outbox.change(item.ref, answer), announce);
  const go = goTo(node);
  // Without adaptive sections: "question n of all"; with them, the count of this run of fixed
  // questions (an adaptive section's length is not known in advance).
  let label = t("item.progress", { n: session.index + 1, total: screens.length });
  let n = session.index + 1;
  let total = screens.length;
  if (record.state.adaptive && record.state.adaptive.length) {
    let first = session.index;
    while (first > 0 && screens[first - 1].item) first--;
    let last = session.index;
    while (last < screens.length - 1 && screens[last + 1].item) last++;
    n = session.index - first + 1;
    total = last - first + 1;
    label = t("item.progress.part", { n, total });
  }
  show(
    el("h1", { class: "progress-label", tabindex: "-1", text: label }),
    el("progress", { max: String(total), value: String(n), "aria-hidden": "true" }),
    node,
    el("p", { id: "announce", class: "visually-hidden", "aria-live": "polite" }),
    steps(screens, node, go),
  );
}

function goTo(node) {
  return (to) => () => {
    if (node && node.flush) node.flush();
    session.index = session.record.index = to;
    saved.put(session.record);
    showItem();
    focusHeading();
  };
}

// Previous / next (or submit on the last screen).
function steps(screens, node, go, { back = true } = {}) {
  const last = session.index === screens.length - 1;
  return el(
    "nav",
    { class: "steps" },
    back ? button(t("item.prev"), go(session.index - 1), { class: "secondary", disabled: session.index === 0, "data-testid": "prev" }) : null,
    last
      ? button(t("item.finish"), () => { if (node && node.flush) node.flush(); confirmSubmit(); }, { class: "primary", "data-testid": "finish" })
      : button(t("item.next"), go(session.index + 1), { class: "primary", "data-testid": "next" }),
  );
}

// An adaptive section: before it starts, what is different about it; then its current item, whose
// answer is confirmed once (the save's answer brings the next item); then that it is complete.
function showAdaptive(screens, section) {
  const { record } = session;
  const progress = progressOf(record.state, section);
  const go = goTo(null);
  const length = t("adaptive.length", { max: progress.max_items });
  const begun = record.begun || (record.begun = {});
  const current = progress.current && record.state.items.find((item) => item.ref === progress.current);
  if (!current) {
    show(
      heading(t("adaptive.done.heading")),
      el("p", { "data-testid": "adaptive-done", "data-given": String(progress.items_given), text: t("adaptive.done.body", { count: progress.items_given }) }),
      steps(screens, null, go),
    );
    return;
  }
  const stored = record.answers[current.ref];
  if (!progress.items_given && !stored && !begun[section]) {
    show(
      heading(t("adaptive.intro.heading")),
      el("p", { text: t("adaptive.intro.body") }),
      el("p", { class: "notice", "data-testid": "adaptive-noback", text: t("adaptive.noback") }),
      el("p", { text: length }),
      el(
        "nav",
        { class: "steps" },
        button(t("item.prev"), go(session.index - 1), { class: "secondary", disabled: session.index === 0, "data-testid": "prev" }),
        button(t("adaptive.begin"), () => {
          begun[section] = true;
          saved.put(record);
          showItem();
          focusHeading();
        }, { class: "primary", "data-testid": "adaptive-begin" }),
      ),
    );
    return;
  }
  const label = el("h1", { class: "progress-label", tabindex: "-1", "data-testid": "adaptive-progress", "data-k": String(progress.items_given + 1), text: t("adaptive.progress", { k: progress.items_given + 1 }) });
  const notes = [el("p", { class: "hint", text: length }), el("p", { class: "hint", text: t("adaptive.noback.short") })];
  if (stored) {
    // Confirmed: kept on this device (and sent when the network allows); the next item needs the server.
    const node = renderItem(current, stored.answer, () => {}, announce);
    node.disabled = true;
    const wait = el("p", { id: "adaptive-wait", class: "notice", role: "status", "data-testid": "adaptive-wait" });
    show(label, ...notes, node, wait, el("p", { id: "announce", class: "visually-hidden", "aria-live": "polite" }));
    syncStatus();
    return;
  }
  let draft = null;
  const confirm = button(t("adaptive.confirm"), async () => {
    if (!session) return; // being reopened (a language switch): the screen is redrawn in a moment
    if (node.flush) node.flush();
    if (!isAnswered(draft)) return;
    confirm.disabled = true;
    await session.outbox.change(current.ref, draft);
    if (redraw === showItem) showItem();
  }, { class: "primary", disabled: true, "data-testid": "adaptive-confirm" });
  const node = renderItem(current, null, (answer) => {
    draft = answer;
    confirm.disabled = !isAnswered(answer);
  }, announce);
  const last = session.index === screens.length - 1;
  const leave = button(t(last ? "adaptive.leave.submit" : "adaptive.leave"), last ? confirmSubmit : go(session.index + 1), { class: "link", "data-testid": "adaptive-leave" });
  show(label, ...notes, node, el("p", { id: "announce", class: "visually-hidden", "aria-live": "polite" }), el("nav", { class: "steps" }, confirm), leave);
}

function confirmSubmit() {
  redraw = confirmSubmit;
  if (!session) return;
  const { record } = session;
  // Unanswered: fixed questions, and adaptive sections whose current question is not answered.
  const missing = screensOf(record.state)
    .map((screen, i) => ({ screen, i }))
    .filter(({ screen }) => {
      const ref = screen.item ? screen.item.ref : progressOf(record.state, screen.section).current;
      return ref && !isAnswered(record.answers[ref] && record.answers[ref].answer);
    });
  const list = el(
    "ul",
    { class: "missing", "data-testid": "unanswered" },
    ...missing.map(({ screen, i }) =>
      el("li", {}, button(screen.item ? t("submit.question", { n: i + 1 }) : t("submit.adaptive"), () => { session.index = i; showItem(); focusHeading(); }, { class: "link" })),
    ),
  );
  show(
    heading(t("submit.heading")),
    el("p", { text: missing.length ? t("submit.unanswered") : t("submit.all") }),
    missing.length ? list : "",
    el(
      "nav",
      { class: "steps" },
      button(t("submit.back"), showItem, { class: "secondary" }),
      button(t("submit.confirm"), async () => { await session.outbox.submitWhenSaved(); showSubmitting(); }, { class: "primary", "data-testid": "confirm-submit" }),
    ),
  );
  focusHeading();
}

function showSubmitting() {
  redraw = showSubmitting;
  show(heading(t("submit.heading")), el("p", { text: t("submit.waiting") }));
}

// After the submit: the server's state of the attempt is what the page reports (else what it acknowledged).
async function submitted(record, summary) {
  let state = null;
  try {
    const res = await me.attempt(record.id);
    if (res.status === 200) state = res.body;
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
  }
  const acknowledged = Object.entries(record.answers)
    .filter(([, a]) => !a.pending)
    .map(([item, a]) => ({ item, answer: a.answer, revision: a.revision }));
  showDone(record, state || { ...record.state, attempt: summary, answers: acknowledged });
}

// The server's word on a closed attempt: who submitted it and when, which answers it has, and which
// answers this device made that never reached it (they do not count, and the page says so).
function showDone(record, state) {
  redraw = () => showDone(record, state);
  const summary = state.attempt;
  const server = Object.fromEntries(state.answers.map((a) => [a.item, a]));
  const items = state.items;
  const lost = items
    .map((item, i) => ({ item, i }))
    .filter(({ item }) => {
      const local = record.answers[item.ref];
      return local && local.pending && (!server[item.ref] || server[item.ref].revision < local.revision);
    });
  const counted = state.answers.filter((a) => isAnswered(a.answer)).length;
  stopSession();
  sessionStorage.setItem(ATTEMPT, record.id);
  const by = summary.submitted_by === "deadline" ? "done.by.deadline" : "done.by.candidate";
  show(
    heading(t("done.heading")),
    el("p", { "data-testid": "submitted-by", "data-by": summary.submitted_by || "", text: t(by, { when: when(summary.submitted_at) }) }),
    el("p", { "data-testid": "counted", "data-count": String(counted), text: t("done.counted", { count: counted }) }),
    lost.length ? el("p", { class: "error", text: t("done.lost") }) : "",
    lost.length ? el("ul", { "data-testid": "lost" }, ...lost.map(({ i }) => el("li", { text: t("submit.question", { n: i + 1 }) }))) : "",
    el("nav", { class: "steps" }, button(t("done.list"), showList, { class: "secondary" }), button(t("done.report"), () => showReport(record.id), { class: "primary", "data-testid": "view-report" })),
  );
  focusHeading();
}

async function showReport(id) {
  redraw = () => showReport(id);
  stopSession();
  sessionStorage.removeItem(ATTEMPT);
  let res;
  try {
    res = await me.report(id);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    return show(heading(t("report.heading")), el("p", { class: "error", role: "alert", text: t("list.offline") }), button(t("list.retry"), () => showReport(id)));
  }
  if (res.status === 401) return showSignIn("signin.expired");
  if (res.status !== 200) return showProblem(res);
  const r = res.body;
  const nodes = [heading(t("report.heading"))];
  if (!r.available) {
    nodes.push(el("p", { text: r.notice || t("report.unavailable") }));
    if (r.available_from) nodes.push(el("p", { text: t("report.from", { when: when(r.available_from) }) }));
  } else {
    if (r.status === "provisional" && !r.notice) nodes.push(el("p", { class: "notice", text: t("report.provisional") }));
    if (r.notice) nodes.push(el("p", { class: "notice", text: r.notice }));
    if (r.overall_level_label) nodes.push(el("p", { class: "overall" }, el("strong", { text: t("report.overall") + "：" }), el("span", { text: r.overall_level_label })));
    const dims = el("ul", { class: "cards", "data-testid": "dimensions" });
    for (const d of r.dimensions) {
      const card = el("li", { class: "card" }, el("h3", { text: d.name }), el("p", { class: "meta", text: `${d.level_label} · ${t("report.score", { score: Math.round(d.scaled) })}` }));
      if (d.feedback) {
        if (d.feedback.performance) card.append(el("p", { text: d.feedback.performance }));
        card.append(el("p", { text: t("report.next", { level: d.feedback.next_level_label }) }));
        if (d.feedback.next_steps) card.append(el("p", { text: d.feedback.next_steps }));
      }
      dims.append(card);
    }
    nodes.push(dims);
  }
  nodes.push(button(t("done.list"), showList, { class: "secondary" }));
  show(...nodes);
  focusHeading();
}

// ------------------------------------------------------------------ start-up

addEventListener("beforeunload", (event) => {
  if (session && !session.signedOut && session.outbox.pending() > 0) {
    event.preventDefault();
    event.returnValue = t("sync.unsent.warning");
  }
});
addEventListener("online", syncStatus);
addEventListener("offline", syncStatus);

async function boot() {
  // On a reload of an open attempt, its state is asked for while the strings load (one round trip less).
  const open = sessionStorage.getItem(ATTEMPT);
  const early = open && auth.token() && !new URLSearchParams(location.search).has("code") ? me.attempt(open) : null;
  if (early) early.catch(() => {}); // a network error is handled where it is awaited
  await loadStrings();
  setLang(lang);
  header();
  document.getElementById("lang").addEventListener("click", () => {
    setLang(lang === "en" ? "zh-CN" : "en");
    header();
    syncStatus();
    tick();
    redraw();
    // the open attempt's texts came in one language: ask for them in the other (answers merge by revision)
    if (session && navigator.onLine) openAttempt(session.record.id);
  });
  try {
    await auth.finishSignIn();
  } catch {
    return showSignIn("signin.failed");
  }
  if (!auth.token()) return showSignIn(open ? "signin.expired" : null);
  if (open) return openAttempt(open, undefined, early);
  return showList();
}

// The service worker is registered once the first screen is up: its copy of the app does not compete
// with that screen for a slow network.
boot().finally(() => {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/take/sw.js", { scope: "/take/" }).catch(() => {});
});
