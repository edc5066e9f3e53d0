// Sign-in: OpenID Connect authorization code with PKCE (S256), state and nonce, as a public client.
// The token lives in sessionStorage (this tab only, gone when it closes), never in a cookie.
const KEY = "take.token";
const PENDING = "take.pending";

function random(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(data);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function s256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

export function config() {
  const d = document.documentElement.dataset;
  return { tenant: d.tenant || "", client: d.client || "", authorize: d.authorize || "", token: d.token || "" };
}

export function redirectUri() {
  return location.origin + "/take/";
}

export function token() {
  const held = JSON.parse(sessionStorage.getItem(KEY) || "null");
  if (!held || held.expires < Date.now()) return null;
  return held.token;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export async function signIn() {
  const c = config();
  const pending = { state: random(24), nonce: random(24), verifier: random(48) };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: c.client,
    redirect_uri: redirectUri(),
    scope: "openid",
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: "S256",
  });
  location.assign(c.authorize + "?" + query);
}

// Back from the provider with ?code&state: redeem the code with the verifier. true when signed in.
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code) return false;
  history.replaceState(null, "", "/take/");
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (!pending || params.get("state") !== pending.state) throw new Error("state");
  const c = config();
  const response = await fetch(c.token, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: c.client,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json();
  if (!response.ok || !body.id_token) throw new Error(body.error || "token");
  // The ID token is the bearer token: the API verifies it as the console does (issuer, audience, roles).
  const claims = JSON.parse(atob(body.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  if (claims.nonce !== pending.nonce) throw new Error("nonce");
  const seconds = claims.exp && claims.iat ? claims.exp - claims.iat : body.expires_in || 3600;
  const expires = Date.now() + seconds * 1000 - 60000;
  sessionStorage.setItem(KEY, JSON.stringify({ token: body.id_token, expires }));
  return true;
}
