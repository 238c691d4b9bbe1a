// socialbridge account page: a small single-page app that signs in to
// socialbridge itself (authorization code + PKCE, RFC 7636) as the account
// client, in cookie mode: the refresh token lives in an HttpOnly cookie
// that this script never sees, and the access token only in memory. A
// reload signs in again silently through the cookie.
"use strict";
(function () {
  const root = document.getElementById("account");
  const clientID = root.dataset.clientId;
  const redirectURI = root.dataset.redirectUri;
  const issuer = root.dataset.issuer;
  const csrfHeader = root.dataset.csrfHeader;
  const scope = "openid profile email account";
  const $ = (id) => document.getElementById(id);
  // sessionStorage holds only what must survive the trip to the provider:
  // the PKCE verifier and state of a sign-in or link under way.
  const store = window.sessionStorage;
  const signInKey = "sb_account_signin";
  const linkKey = "sb_account_link";

  let accessToken = ""; // in memory only
  let refreshing = null; // the refresh under way: the cookie rotates, so never two at once

  // ---- small helpers ----

  function b64url(bytes) {
    let s = "";
    bytes.forEach((b) => { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function randomString(n) {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    return b64url(a);
  }
  async function s256(verifier) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return b64url(new Uint8Array(digest));
  }
  function decodeJWT(token) {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(atob(part).split("").map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  }
  function takeSaved(key) {
    const raw = store.getItem(key);
    store.removeItem(key);
    try { return JSON.parse(raw || "null"); } catch (e) { return null; }
  }
  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString();
  }
  function setStatus(msg) { $("status").textContent = msg; }
  function showError(msg) {
    $("error").textContent = msg;
    $("error").hidden = !msg;
  }

  // ---- errors in plain words ----

  const plainWords = {
    invalid_grant: "Your sign-in has ended. Please sign in again.",
    invalid_token: "Your sign-in has ended. Please sign in again.",
    login_required: "Please sign in again.",
    access_denied: "The sign-in was cancelled or refused.",
    session_not_found: "That session has already ended.",
    identity_in_use: "That account already belongs to another user, so it cannot be linked to yours.",
    already_linked: "That account is already linked.",
    last_identity: "You cannot unlink the only account you sign in with.",
    not_linked: "That account is not linked.",
    insufficient_user_authentication: "Changing linked accounts needs a recent sign-in. Please sign in again.",
    too_many_requests: "Too many requests from your network. Wait a few seconds and try again.",
    temporarily_unavailable: "The server is busy. Try again in a moment.",
    server_error: "Something went wrong on the server. Try again in a moment.",
    network: "Could not reach the server. Check your connection and try again.",
  };

  // PageError is a failed request: code is the server's error code,
  // message what to tell the person.
  class PageError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }
  function pageError(code, description) {
    return new PageError(code, plainWords[code] || description || "Something went wrong (" + code + "). Try again.");
  }

  // ---- talking to socialbridge ----

  // call sends one request. form is sent form-encoded; auth adds the
  // access token; cookie marks a request of this cookie-mode client (the
  // CSRF header, with the cookie the browser adds itself).
  async function call(method, path, opts) {
    const o = opts || {};
    const init = { method, headers: {}, credentials: "same-origin" };
    if (o.form) {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams(o.form);
    }
    if (o.auth) {
      init.headers.Authorization = "Bearer " + accessToken;
    }
    if (o.cookie) {
      init.headers[csrfHeader] = "1";
    }
    let res;
    try {
      res = await fetch(issuer + path, init);
    } catch (e) {
      throw pageError("network");
    }
    if (res.status === 204) {
      return null;
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const code = (body && body.error) || (res.status === 429 ? "too_many_requests" : "http_" + res.status);
      throw pageError(code, body && body.error_description);
    }
    return body;
  }

  function tokenRequest(form) {
    return call("POST", "/token", { form: Object.assign({ client_id: clientID }, form), cookie: true });
  }

  // refresh gets a new access token through the refresh cookie.
  function refresh() {
    if (!refreshing) {
      refreshing = tokenRequest({ grant_type: "refresh_token" })
        .then((tokens) => { accessToken = tokens.access_token; return tokens; })
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  // api calls an account endpoint with the access token; an expired one
  // is renewed once through the cookie.
  async function api(method, path, form) {
    try {
      return await call(method, path, { form, auth: true });
    } catch (e) {
      if (e.code !== "invalid_token") {
        throw e;
      }
    }
    await refresh();
    return call(method, path, { form, auth: true });
  }

  // ---- signing in and out ----

  // signIn sends the browser to socialbridge to sign in with provider.
  // extra adds parameters (max_age=0 for a fresh sign-in); replaces names
  // the session a fresh sign-in takes over, ended once it is done.
  async function signIn(provider, extra, replaces) {
    const verifier = randomString(32);
    const state = randomString(16);
    store.setItem(signInKey, JSON.stringify({ verifier, state, replaces: replaces || "" }));
    const q = new URLSearchParams(Object.assign({
      client_id: clientID, redirect_uri: redirectURI, response_type: "code", scope,
      state, code_challenge: await s256(verifier), code_challenge_method: "S256", provider,
    }, extra || {}));
    window.location.assign(issuer + "/authorize?" + q.toString());
  }

  async function finishSignIn(params) {
    const saved = takeSaved(signInKey);
    window.history.replaceState(null, "", redirectURI); // drop the code from the address bar
    // State first: a response this page did not ask for is not used.
    if (!saved || params.get("state") !== saved.state) {
      throw new PageError("state", "This sign-in was not started from this page, so it was ignored. Please sign in again.");
    }
    if (params.get("error")) {
      throw pageError(params.get("error"), params.get("error_description"));
    }
    if (params.get("iss") && params.get("iss") !== issuer) {
      throw new PageError("iss", "The sign-in answer came from an unexpected server, so it was ignored.");
    }
    const tokens = await tokenRequest({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectURI, code_verifier: saved.verifier,
    });
    accessToken = tokens.access_token;
    if (saved.replaces && saved.replaces !== decodeJWT(accessToken).sid) {
      // The fresh sign-in took over from an earlier session of this page,
      // whose cookie it replaced: end that one rather than leave it
      // listed with nobody to use it.
      await call("DELETE", "/sessions/" + encodeURIComponent(saved.replaces), { auth: true }).catch(() => {});
    }
    await showAccount();
  }

  // signOut ends this session ("") or the others ("others") with POST
  // /logout; ending this one also deletes the cookie.
  async function signOut(scope) {
    const form = { client_id: clientID };
    if (scope) {
      form.scope = scope;
    }
    const res = await call("POST", "/logout", { form, cookie: true });
    if (scope === "others") {
      const n = res ? res.sessions_ended : 0;
      setStatus(n === 1 ? "Signed out of 1 other session." : "Signed out of " + n + " other sessions.");
      await loadSessions();
      return;
    }
    showSignedOut("You are signed out.");
  }

  function showSignedOut(status) {
    accessToken = "";
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    $("sessions").textContent = "";
    $("identities").textContent = "";
    $("who-name").textContent = "";
    $("who-email").textContent = "";
    setStatus(status);
  }

  // ---- the signed-in view ----

  async function showAccount() {
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    setStatus("You are signed in.");
    const results = await Promise.allSettled([loadWho(), loadSessions(), loadIdentities()]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) {
      throw failed.reason;
    }
  }

  async function loadWho() {
    const info = await api("GET", "/userinfo");
    $("who-name").textContent = info.name || info.email || "you";
    $("who-email").textContent = info.name && info.email ? info.email : "";
  }

  async function loadSessions() {
    const body = await api("GET", "/sessions");
    const rows = $("sessions");
    rows.textContent = "";
    body.sessions.forEach((s) => rows.append(sessionRow(s)));
    $("sign-out-others").disabled = body.sessions.length < 2;
  }

  function cell(text, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (title) {
      td.title = title;
    }
    return td;
  }

  function sessionRow(s) {
    const tr = document.createElement("tr");
    tr.dataset.sessionId = s.id;
    const app = cell(s.client_name || s.client_id);
    if (s.current) {
      tr.dataset.current = "true";
      tr.className = "current";
      const mark = document.createElement("span");
      mark.className = "badge";
      mark.textContent = "This device";
      app.append(" ", mark);
    }
    const end = document.createElement("button");
    end.type = "button";
    end.className = "button secondary small";
    end.textContent = "Sign out";
    end.dataset.revoke = s.id;
    end.addEventListener("click", guard(() => (s.current ? signOut("") : endSession(s))));
    const actions = document.createElement("td");
    actions.append(end);
    tr.append(
      app,
      cell(s.provider_label || s.provider),
      cell(describeDevice(s.user_agent), s.user_agent || ""),
      cell(s.ip || "unknown"),
      cell(when(s.created_at)),
      cell(when(s.last_used_at)),
      actions,
    );
    return tr;
  }

  // describeDevice shortens a User-Agent to browser and system; the full
  // text is the cell's title.
  function describeDevice(ua) {
    if (!ua) {
      return "unknown device";
    }
    const browsers = [["Edg/", "Edge"], ["OPR/", "Opera"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"]];
    const systems = [["Android", "Android"], ["iPhone", "iOS"], ["iPad", "iPadOS"], ["Windows", "Windows"], ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux", "Linux"]];
    const browser = browsers.find(([k]) => ua.includes(k));
    const system = systems.find(([k]) => ua.includes(k));
    if (!browser && !system) {
      return ua.length > 60 ? ua.slice(0, 57) + "…" : ua;
    }
    return (browser ? browser[1] : "Unknown browser") + (system ? " on " + system[1] : "");
  }

  // endSession signs another session out.
  async function endSession(s) {
    try {
      await api("DELETE", "/sessions/" + encodeURIComponent(s.id));
      setStatus("Signed out of " + (s.client_name || s.client_id) + " on that device.");
    } catch (e) {
      if (e.code !== "session_not_found") {
        throw e;
      }
      setStatus("That session had already ended.");
    }
    await loadSessions();
  }

  // ---- linked accounts ----

  async function loadIdentities() {
    const body = await api("GET", "/account/identities");
    const list = $("identities");
    list.textContent = "";
    const linked = new Set();
    body.identities.forEach((id) => {
      linked.add(id.provider);
      const li = document.createElement("li");
      li.dataset.provider = id.provider;
      const text = document.createElement("span");
      text.textContent = id.label + (id.email ? " (" + id.email + ")" : "") + " — linked " + when(id.linked_at);
      const unlink = document.createElement("button");
      unlink.type = "button";
      unlink.className = "button secondary small";
      unlink.textContent = "Unlink";
      unlink.dataset.unlink = id.provider;
      unlink.disabled = body.identities.length < 2;
      unlink.addEventListener("click", guard(() => changeAccount(async () => {
        await api("DELETE", "/account/identities/" + encodeURIComponent(id.provider));
        setStatus(id.label + " is no longer linked.");
        await loadIdentities();
      })));
      li.append(text, " ", unlink);
      list.append(li);
    });
    document.querySelectorAll("button[data-link]").forEach((b) => { b.hidden = linked.has(b.dataset.link); });
  }

  // changeAccount runs a change of linked accounts; when socialbridge
  // wants a fresh sign-in first (RFC 9470), it signs in again with
  // max_age=0 and leaves the change for the person to repeat.
  async function changeAccount(fn) {
    try {
      await fn();
    } catch (e) {
      if (e.code !== "insufficient_user_authentication") {
        throw e;
      }
      const claims = decodeJWT(accessToken);
      setStatus("Changing linked accounts needs a fresh sign-in; signing you in again…");
      await signIn(claims.idp, { max_age: "0" }, claims.sid);
    }
  }

  // link asks for a one-time start URL with a PKCE challenge and sends the
  // browser through the provider; it comes back with a link code.
  async function link(provider) {
    const verifier = randomString(32);
    const state = randomString(16);
    const body = await api("POST", "/account/links", {
      provider, redirect_uri: redirectURI, state, code_challenge: await s256(verifier),
    });
    store.setItem(linkKey, JSON.stringify({ verifier, state }));
    window.location.assign(body.location);
  }

  async function finishLink(params) {
    const saved = takeSaved(linkKey);
    window.history.replaceState(null, "", redirectURI); // drop the link code from the address bar
    await refresh();
    await showAccount();
    if (!saved || params.get("state") !== saved.state) {
      throw new PageError("state", "This link was not started from this page, so it was ignored.");
    }
    if (params.get("error")) {
      throw pageError(params.get("error"), params.get("error_description"));
    }
    const linked = await api("POST", "/account/identities", {
      link_code: params.get("link_code"), code_verifier: saved.verifier,
    });
    setStatus(linked.label + " is now linked to your account.");
    await loadIdentities();
  }

  // ---- wiring ----

  // guard runs an action from a button and shows what went wrong; a
  // sign-in that has ended shows the sign-in buttons again.
  function guard(fn) {
    return async (...args) => {
      showError("");
      try {
        await fn(...args);
      } catch (e) {
        if (e.code === "invalid_grant" || e.code === "invalid_token") {
          showSignedOut("You are signed out.");
        } else if ($("signed-in").hidden && $("signed-out").hidden) {
          showSignedOut("You are not signed in."); // a failed sign-in: offer it again
        }
        showError(String(e.message || e));
      }
    };
  }

  // start signs in silently through the refresh cookie, if there is one.
  async function start() {
    try {
      await refresh();
    } catch (e) {
      showSignedOut("You are not signed in.");
      if (e.code !== "invalid_grant") {
        showError(e.message);
      }
      return;
    }
    await showAccount();
  }

  document.querySelectorAll("button[data-provider]").forEach((b) => {
    b.addEventListener("click", guard(() => signIn(b.dataset.provider)));
  });
  document.querySelectorAll("button[data-link]").forEach((b) => {
    b.addEventListener("click", guard(() => changeAccount(() => link(b.dataset.link))));
  });
  $("sign-out").addEventListener("click", guard(() => signOut("")));
  $("sign-out-others").addEventListener("click", guard(() => signOut("others")));

  const params = new URLSearchParams(window.location.search);
  if (store.getItem(linkKey) && (params.has("link_code") || params.has("error"))) {
    guard(finishLink)(params);
  } else if (params.has("code") || params.has("error")) {
    guard(finishSignIn)(params);
  } else {
    if (window.location.search) {
      // Nothing this page asked for (a stray link code, or the state of
      // a sign-out that came back here): drop it from the address bar.
      window.history.replaceState(null, "", redirectURI);
    }
    guard(start)();
  }
})();
