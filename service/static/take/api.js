// The documented candidate routes, with the bearer token. Network failures throw NetworkError;
// every HTTP answer resolves to {status, body, headers}.
import { token } from "./auth.js";
import { lang } from "./i18n.js";

export class NetworkError extends Error {}

export async function call(method, path, body) {
  const headers = { Accept: "application/json", "Accept-Language": lang };
  const bearer = token();
  if (bearer) headers.Authorization = "Bearer " + bearer;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (error) {
    throw new NetworkError(String(error));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, body: data, headers: response.headers };
}

// An item's image (GET /v1/images/{id}, bearer like every call): an object URL, or null.
const images = new Map();
export function image(id) {
  if (!images.has(id)) {
    const bearer = token();
    const loading = fetch(`/v1/images/${encodeURIComponent(id)}`, { headers: bearer ? { Authorization: "Bearer " + bearer } : {} })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((blob) => URL.createObjectURL(blob))
      .catch(() => {
        images.delete(id); // asked again when next shown (the network may be back)
        return null;
      });
    images.set(id, loading);
  }
  return images.get(id);
}

export const me = {
  assessments: () => call("GET", "/v1/me/assessments"),
  // ?lang=: the form's texts in the chosen language only (half the bytes); a switch asks again.
  start: (code, number) =>
    call("POST", `/v1/me/assessments/${encodeURIComponent(code)}/attempts?lang=${lang}`, number ? { number } : {}),
  attempt: (id) => call("GET", `/v1/me/attempts/${id}?lang=${lang}`),
  save: (id, answers) => call("POST", `/v1/me/attempts/${id}/answers`, { answers }),
  submit: (id) => call("POST", `/v1/me/attempts/${id}/submit`),
  report: (id) => call("GET", `/v1/me/attempts/${id}/report`),
  credentials: () => call("GET", "/v1/me/credentials"),
};
