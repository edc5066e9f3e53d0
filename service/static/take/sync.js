// The outbox of one attempt: every change is queued in IndexedDB with the item's next revision and
// sent in order, in batches (POST .../answers); network errors, 5xx and 429 are retried with
// exponential backoff (Retry-After honoured); `applied: false` means the server holds this revision
// or a newer one (another device's): the stored answer is adopted. 409 means the attempt is closed.
// The answer to the save of an adaptive item names the section's next item: it joins the state.
import { advance, screensOf } from "./adaptive.js";
import { me, NetworkError } from "./api.js";
import { queue, attempts as saved } from "./store.js";

const MAX_BATCH = 200; // the API takes 500
const MAX_DELAY = 30000;

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

export function sameAnswer(a, b) {
  return JSON.stringify(canonical(a || {})) === JSON.stringify(canonical(b || {}));
}

export function latestPerItem(entries) {
  const latest = new Map();
  for (const e of entries) {
    if (!latest.has(e.item) || latest.get(e.item).revision < e.revision) latest.set(e.item, e);
  }
  return latest;
}

// The server's answers merged with this device's queue, by revision: the higher one wins.
export async function merge(record, state) {
  const answers = {};
  for (const a of state.answers) answers[a.item] = { answer: a.answer, revision: a.revision };
  const entries = await queue.all(record.id);
  const stale = [];
  const latest = latestPerItem(entries);
  for (const e of entries) {
    const server = answers[e.item];
    if (server && server.revision >= e.revision) stale.push(e.seq);
  }
  for (const [item, e] of latest) {
    if (!answers[item] || answers[item].revision < e.revision) {
      answers[item] = { answer: e.answer, revision: e.revision, pending: true };
    }
  }
  if (stale.length) await queue.remove(stale);
  record.state = state;
  record.answers = answers;
  await saved.put(record);
  return record;
}

export class Outbox {
  constructor(record, on) {
    this.record = record;
    this.on = on; // status(), summary(s), reconciled(ref), advanced(section), stale(), closed(), signedOut(), submitted(s)
    this.running = false;
    this.failures = 0;
    this.waiting = false;
    this.stopped = false;
    this.wake = null;
    this.onOnline = () => this.wake && this.wake();
    addEventListener("online", this.onOnline);
  }

  stop() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    if (this.wake) this.wake();
  }

  pending() {
    return Object.values(this.record.answers).filter((a) => a.pending).length;
  }

  async change(ref, answer) {
    const current = this.record.answers[ref];
    const revision = (current ? current.revision : 0) + 1;
    this.record.answers[ref] = { answer, revision, pending: true };
    await queue.add({ attempt: this.record.id, item: ref, revision, answer });
    await saved.put(this.record);
    this.on.status();
    this.kick();
  }

  async submitWhenSaved() {
    this.record.submitting = true;
    await saved.put(this.record);
    this.kick();
  }

  kick() {
    if (this.wake) this.wake();
    if (!this.running && !this.stopped) this.loop();
  }

  async sleep(ms) {
    this.waiting = true;
    this.on.status();
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
    this.waiting = false;
  }

  async backoff(retryAfter) {
    const seconds = Number(retryAfter);
    const base = Math.min(MAX_DELAY, 1000 * 2 ** this.failures);
    this.failures += 1;
    await this.sleep(retryAfter && seconds >= 0 ? seconds * 1000 : base / 2 + (Math.random() * base) / 2);
  }

  async loop() {
    this.running = true;
    try {
      while (!this.stopped) {
        const entries = (await queue.all(this.record.id)).slice(0, MAX_BATCH);
        if (!entries.length) {
          if (this.record.submitting && !(await this.submit())) continue;
          break;
        }
        const latest = [...latestPerItem(entries).values()];
        this.on.status();
        let res;
        try {
          res = await me.save(
            this.record.id,
            latest.map((e) => ({ item: e.item, revision: e.revision, answer: e.answer })),
          );
        } catch (error) {
          if (!(error instanceof NetworkError)) throw error;
          await this.backoff(null);
          continue;
        }
        if (res.status === 200) {
          this.failures = 0;
          await this.acknowledge(entries, res.body);
        } else if (res.status === 409 && res.body && res.body.type && !/attempt-closed/.test(res.body.type)) {
          // Not the attempt closed: an answer to an adaptive item the server does not show (never made
          // by this client). Its answers to adaptive items are dropped, the rest stays queued, and
          // the server's state is asked for.
          const fixed = new Set(screensOf(this.record.state).filter((s) => s.item).map((s) => s.item.ref));
          const drop = entries.filter((e) => !fixed.has(e.item));
          if (!drop.length) {
            this.stop();
            this.on.failed(res);
            continue;
          }
          for (const e of drop) delete this.record.answers[e.item];
          await queue.remove(drop.map((e) => e.seq));
          await saved.put(this.record);
          this.on.stale();
        } else if (res.status === 409) {
          this.stop();
          this.on.closed();
        } else if (res.status === 401) {
          this.stop();
          this.on.signedOut();
        } else if (res.status >= 500 || res.status === 429 || res.status === 408) {
          await this.backoff(res.headers.get("Retry-After"));
        } else if (res.status === 422) {
          // An answer the item cannot take (never made by this client): drop it, keep the rest.
          const bad = new Set(
            ((res.body && res.body.errors) || [])
              .map((e) => /^\/answers\/(\d+)/.exec(e.pointer || ""))
              .filter(Boolean)
              .map((m) => latest[Number(m[1])].item),
          );
          const drop = entries.filter((e) => bad.size === 0 || bad.has(e.item));
          for (const e of drop) delete this.record.answers[e.item];
          await queue.remove(drop.map((e) => e.seq));
          await saved.put(this.record);
        } else {
          this.stop();
          this.on.failed(res);
        }
      }
    } finally {
      this.running = false;
      this.on.status();
    }
  }

  async acknowledge(entries, body) {
    const moved = new Set();
    let stale = false;
    for (const r of body.results) {
      if (r.adaptive) {
        if (advance(this.record.state, r)) moved.add(r.adaptive.section);
        else stale = true;
      }
      const local = this.record.answers[r.item];
      if (!local || r.revision >= local.revision) {
        // Not applied and another answer stored: another device saved this revision or a newer one
        // first. The server's answer is the truth; the screen shows it.
        const other = !r.applied && (r.revision > local.revision || !sameAnswer(r.answer, local.answer));
        this.record.answers[r.item] = { answer: r.answer, revision: r.revision };
        if (other) this.on.reconciled(r.item);
      }
    }
    await queue.remove(entries.map((e) => e.seq));
    this.record.state.attempt = body.attempt;
    await saved.put(this.record);
    this.on.summary(body.attempt);
    for (const section of moved) this.on.advanced(section);
    if (stale) this.on.stale();
  }

  // true when done (submitted, or stopped); false to go round again.
  async submit() {
    let res;
    try {
      res = await me.submit(this.record.id);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      await this.backoff(null);
      return false;
    }
    if (res.status === 200) {
      this.record.submitting = false;
      this.record.state.attempt = res.body;
      await saved.put(this.record);
      this.stop();
      this.on.submitted(res.body);
      return true;
    }
    if (res.status === 401) {
      this.stop();
      this.on.signedOut();
      return true;
    }
    if (res.status >= 500 || res.status === 429) {
      await this.backoff(res.headers.get("Retry-After"));
      return false;
    }
    this.stop();
    this.on.failed(res);
    return true;
  }
}
