// One item, rendered from its candidate view. Every authored text goes in through textContent (the
// `el` helper), never as HTML: an item cannot inject markup or script.
import { image } from "./api.js";
import { loc, t } from "./i18n.js";

// An item's or option's image, when it has one (an id of the service's images): loaded with the
// bearer token into an object URL, so only the service's own images can appear. Its alt is the
// author's text alternative (`image_alt`), or `fallback` for an item written before alts were required.
function picture(id, alt, fallback) {
  if (!id) return null;
  const label = alt ? loc(alt) : fallback;
  const img = el("img", { class: "picture", alt: label });
  image(id).then((url) => {
    if (url) img.src = url;
    else img.replaceWith(el("span", { class: "hint", text: label }));
  });
  return img;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function choiceList(item, type, name, checked, onPick) {
  return item.options.map((option) =>
    el(
      "label",
      { class: "option" },
      el("input", {
        type,
        name,
        value: option.key,
        checked: checked(option.key),
        onchange: (event) => onPick(option.key, event.target.checked),
      }),
      el("span", { text: loc(option.text) }),
      picture(option.image, option.image_alt, loc(option.text)),
    ),
  );
}

function scale(name, points, labels, value, onPick, label) {
  const group = el("div", { class: "scale", role: "radiogroup", "aria-label": label });
  for (let n = 1; n <= points; n++) {
    const caption = labels && labels[n - 1] ? `${n} ${loc(labels[n - 1])}` : String(n);
    group.append(
      el(
        "label",
        { class: "point" },
        el("input", { type: "radio", name, value: String(n), checked: value === n, onchange: () => onPick(n) }),
        el("span", { text: caption }),
      ),
    );
  }
  return group;
}

function ordering(item, answer, save, announce) {
  let keep = null;
  const onChange = (value) => {
    if (keep) keep.remove();
    keep = null;
    save(value);
  };
  const byKey = Object.fromEntries(item.options.map((o) => [o.key, o]));
  let order = answer && answer.order ? [...answer.order] : item.options.map((o) => o.key);
  const list = el("ol", { class: "ordering" });
  const move = (from, to) => {
    if (to < 0 || to >= order.length || from === to) return;
    const [key] = order.splice(from, 1);
    order.splice(to, 0, key);
    draw();
    announce(t("item.order.moved", { option: loc(byKey[key].text), position: to + 1 }));
    onChange({ order: [...order] });
    list.querySelectorAll("li")[to].querySelector(to > from ? ".down" : ".up")?.focus();
  };
  const draw = () => {
    list.replaceChildren(
      ...order.map((key, i) => {
        const text = loc(byKey[key].text);
        const row = el(
          "li",
          { class: "step", "data-key": key },
          el("span", { class: "handle", "aria-hidden": "true", text: "⠿" }),
          el("span", { class: "grow", text }, picture(byKey[key].image, byKey[key].image_alt, text)),
          el("button", { type: "button", class: "up", "aria-label": t("item.order.up", { option: text }), disabled: i === 0, onclick: () => move(i, i - 1), text: "↑" }),
          el("button", { type: "button", class: "down", "aria-label": t("item.order.down", { option: text }), disabled: i === order.length - 1, onclick: () => move(i, i + 1), text: "↓" }),
        );
        row.querySelector(".handle").addEventListener("pointerdown", (event) => drag(event, row, i));
        return row;
      }),
    );
  };
  // Drag by the handle with pointer events (touch, pen and mouse alike).
  const drag = (event, row, from) => {
    event.preventDefault();
    row.classList.add("dragging");
    const rows = [...list.children];
    const finish = (up) => {
      removeEventListener("pointermove", moveTo);
      removeEventListener("pointerup", finish);
      removeEventListener("pointercancel", finish);
      row.classList.remove("dragging");
      const y = up.clientY;
      let to = rows.findIndex((r) => y < r.getBoundingClientRect().top + r.offsetHeight / 2);
      if (to === -1) to = rows.length - 1;
      else if (to > from) to -= 1;
      move(from, to);
    };
    const moveTo = (e) => row.style.setProperty("--lift", "1");
    addEventListener("pointermove", moveTo);
    addEventListener("pointerup", finish);
    addEventListener("pointercancel", finish);
  };
  draw();
  const wrap = el("div", {}, el("p", { class: "hint", text: t("item.order.help") }), list);
  if (!answer || !answer.order) {
    keep = el("button", { type: "button", class: "secondary keep", onclick: () => onChange({ order: [...order] }), text: t("item.order.keep") });
    wrap.append(keep);
  }
  return wrap;
}

export function renderItem(item, answer, onChange, announce) {
  const body = el("fieldset", { class: "item", "data-ref": item.ref, "data-type": item.type });
  const legend = el("legend", { class: "stem", id: `stem-${item.ref}`, text: loc(item.stem) });
  if (item.scenario) body.append(el("p", { class: "scenario", text: loc(item.scenario) }));
  body.append(legend);
  const stemPicture = picture(item.image, item.image_alt, t("item.image"));
  if (stemPicture) body.append(stemPicture);
  const name = `a-${item.ref}`;
  const current = answer || {};
  switch (item.answer_with) {
    case "choice":
      body.append(...choiceList(item, "radio", name, (k) => current.choice === k, (k) => onChange({ choice: k })));
      break;
    case "choices": {
      const chosen = new Set(current.choices || []);
      body.append(
        ...choiceList(item, "checkbox", name, (k) => chosen.has(k), (k, on) => {
          if (on) chosen.add(k);
          else chosen.delete(k);
          onChange({ choices: item.options.map((o) => o.key).filter((key) => chosen.has(key)) });
        }),
      );
      break;
    }
    case "most_least": {
      const state = { most: current.most, least: current.least };
      const table = el("div", { class: "most-least" });
      for (const option of item.options) {
        const text = loc(option.text);
        const pick = (side, other) => () => {
          state[side] = option.key;
          if (state[other] === option.key) {
            state[other] = undefined;
            const box = table.querySelector(`input[name="${name}-${other}"][value="${option.key}"]`);
            if (box) box.checked = false;
          }
          const value = {};
          if (state.most) value.most = state.most;
          if (state.least) value.least = state.least;
          onChange(value);
        };
        table.append(
          el(
            "div",
            { class: "ml-row" },
            el("span", { class: "grow", text }, picture(option.image, option.image_alt, text)),
            el("label", { class: "pill" }, el("input", { type: "radio", name: `${name}-most`, value: option.key, checked: state.most === option.key, onchange: pick("most", "least") }), el("span", { text: t("item.most") })),
            el("label", { class: "pill" }, el("input", { type: "radio", name: `${name}-least`, value: option.key, checked: state.least === option.key, onchange: pick("least", "most") }), el("span", { text: t("item.least") })),
          ),
        );
      }
      body.append(table);
      break;
    }
    case "ratings": {
      const ratings = { ...(current.ratings || {}) };
      for (const option of item.options) {
        const text = loc(option.text);
        body.append(
          el("p", { class: "rate-option", text }, picture(option.image, option.image_alt, text)),
          scale(`${name}-${option.key}`, item.rating_points, null, ratings[option.key], (n) => {
            ratings[option.key] = n;
            onChange({ ratings: { ...ratings } });
          }, t("item.rate", { option: text })),
        );
      }
      break;
    }
    case "value":
      body.append(scale(name, item.scale_points, item.scale_labels, current.value, (n) => onChange({ value: n }), loc(item.stem)));
      break;
    case "order":
      body.append(ordering(item, answer, onChange, announce));
      break;
    case "text": {
      const max = item.max_length || 20000;
      const count = el("p", { class: "hint", "aria-live": "off" });
      const area = el("textarea", { rows: "8", maxlength: String(max), "aria-labelledby": `stem-${item.ref}` });
      area.value = current.text || "";
      const show = () => (count.textContent = t("item.text.count", { count: area.value.length, max }));
      let timer = null;
      const save = () => {
        clearTimeout(timer);
        timer = null;
        if ((current.text || "") !== area.value) {
          current.text = area.value;
          onChange(area.value ? { text: area.value } : {});
        }
      };
      area.addEventListener("input", () => {
        show();
        clearTimeout(timer);
        timer = setTimeout(save, 700);
      });
      area.addEventListener("blur", save);
      body.flush = save;
      show();
      body.append(area, count);
      break;
    }
  }
  return body;
}

export function isAnswered(answer) {
  if (!answer) return false;
  return Object.values(answer).some((v) =>
    Array.isArray(v) ? v.length > 0 : v && typeof v === "object" ? Object.keys(v).length > 0 : typeof v === "string" ? v.trim() !== "" : v !== undefined && v !== null,
  );
}
