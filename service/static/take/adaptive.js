// Adaptive sections (README, "Adaptive sections in the client"). The attempt's `items` hold each
// fixed section whole and, for an adaptive section, the items given so far and then its current one
// (`adaptive[i].given`, `.current`). The client makes every fixed item a screen and each adaptive
// section one screen that shows its current item: there is no way back to an item given. The next
// item comes from the server in the answer to the save of the current one (`next_item`), so it needs
// the network; a save retried after a lost answer gets the same next item (the server replays the
// path from the attempt's seed and saved answers).

// The refs of an adaptive section's items shown so far, in order.
export function refsOf(progress) {
  return [...(progress.given || []), ...(progress.current ? [progress.current] : [])];
}

// The attempt's screens: {item} for a fixed item, {section} for an adaptive section (one screen).
export function screensOf(state) {
  const sectionOf = new Map();
  for (const progress of state.adaptive || []) for (const ref of refsOf(progress)) sectionOf.set(ref, progress.section);
  const screens = [];
  for (const item of state.items) {
    const section = sectionOf.get(item.ref);
    if (!section) screens.push({ item });
    else if (!screens.some((s) => s.section === section)) screens.push({ section });
  }
  return screens;
}

export function progressOf(state, section) {
  return (state.adaptive || []).find((p) => p.section === section) || null;
}

// A save's answer for an adaptive item (`result.adaptive`, `result.next_item`) moves the section on
// in `state`: its block of items becomes the items given and the new current one. Returns false when
// the answer names items this device has never seen (another device went further): the client then
// asks for the whole state.
export function advance(state, result) {
  const progress = result.adaptive;
  const list = state.adaptive || (state.adaptive = []);
  const at = list.findIndex((p) => p.section === progress.section);
  const before = at >= 0 ? list[at] : null;
  if (before && before.items_given > progress.items_given) return true; // an older answer, overtaken
  const views = new Map(state.items.map((item) => [item.ref, item]));
  if (result.next_item) views.set(result.next_item.ref, result.next_item);
  const wanted = refsOf(progress);
  if (!wanted.every((ref) => views.has(ref))) return false;
  const old = new Set(before ? refsOf(before) : []);
  const start = state.items.findIndex((item) => old.has(item.ref));
  const rest = state.items.filter((item) => !old.has(item.ref));
  rest.splice(start < 0 ? rest.length : start, 0, ...wanted.map((ref) => views.get(ref)));
  state.items = rest;
  if (at >= 0) list[at] = progress;
  else list.push(progress);
  return true;
}
