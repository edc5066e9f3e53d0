// Strings from strings.json (every key in zh-CN and en; tests/test_take_client.py checks it).
// zh-CN first; the choice is kept on this device.
let strings = {};
export let lang = localStorage.getItem("take.lang") === "en" ? "en" : "zh-CN";

export async function loadStrings() {
  const response = await fetch("/take/strings.json");
  strings = await response.json();
}

export function setLang(value) {
  lang = value;
  localStorage.setItem("take.lang", value);
  document.documentElement.lang = value;
}

export function t(key, vars = {}) {
  const entry = strings[key];
  const text = entry ? entry[lang] || entry["zh-CN"] : key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// An authored text ({"zh-CN": ..., "en": ...}) in the chosen language, else zh-CN, else en, else any.
export function loc(localized) {
  if (!localized) return "";
  return localized[lang] || localized["zh-CN"] || localized.en || Object.values(localized)[0] || "";
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) : "";
}
