// socialbridge demo SPA: OAuth 2.0 authorization code + PKCE (RFC 7636)
// against socialbridge, with nothing but the browser's own APIs.
"use strict";
(function () {
  const root = document.getElementById("demo");
  const clientID = root.dataset.clientId;
  const redirectURI = root.dataset.redirectUri;
  const issuer = root.dataset.issuer;
  const account = root.dataset.account === "true"; // the client may manage linked accounts
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage; // a demo: a real app should keep tokens in memory

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
  function showError(msg) {
    $("error").textContent = msg;
    $("error").hidden = !msg;
  }
  function setStatus(msg) { $("status").textContent = msg; }

  // signIn starts a sign-in; extra adds parameters (max_age=0 to prove a
  // fresh sign-in before changing linked accounts).
  async function signIn(provider, extra) {
    const verifier = randomString(32);
    const state = randomString(16);
    store.setItem("sb_pkce", JSON.stringify({ verifier, state }));
    const q = new URLSearchParams({
      client_id: clientID, redirect_uri: redirectURI, response_type: "code",
      scope: account ? "openid profile email account" : "openid profile email",
      state, code_challenge: await s256(verifier), code_challenge_method: "S256", provider, ...(extra || {}),
    });
    window.location.assign(issuer + "/authorize?" + q.toString());
  }

  async function tokenRequest(params) {
    const res = await fetch(issuer + "/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params),
    });
    const body = await res.json();
    if (!res.ok) {
      throw new Error(body.error + ": " + (body.error_description || ""));
    }
    return body;
  }

  function show(tokens) {
    store.setItem("sb_tokens", JSON.stringify(tokens));
    const claims = decodeJWT(tokens.access_token);
    const refresh = decodeJWT(tokens.refresh_token);
    $("claims").textContent = JSON.stringify(claims, null, 2);
    $("access-exp").textContent = new Date(claims.exp * 1000).toISOString();
    $("refresh-exp").textContent = new Date(refresh.exp * 1000).toISOString();
    $("signed-in").hidden = false;
    $("signed-out").hidden = true;
    setStatus("Signed in as " + (claims.email || claims.name || claims.sub) + " via " + claims.idp + ".");
    if (account) {
      loadIdentities().catch((e) => showError(String(e.message || e)));
    }
  }

  async function finishSignIn(params) {
    const saved = JSON.parse(store.getItem("sb_pkce") || "null");
    store.removeItem("sb_pkce");
    window.history.replaceState(null, "", redirectURI); // drop the code from the address bar
    // State first: a response this page did not ask for shows nothing of
    // what it carries.
    if (!saved || params.get("state") !== saved.state) {
      throw new Error("state mismatch: this response does not belong to a sign-in started here");
    }
    if (params.get("error")) {
      throw new Error(params.get("error") + ": " + (params.get("error_description") || ""));
    }
    if (params.get("iss") && params.get("iss") !== issuer) {
      throw new Error("iss mismatch in the authorization response");
    }
    show(await tokenRequest({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectURI,
      client_id: clientID, code_verifier: saved.verifier,
    }));
  }

  function accessToken() {
    const tokens = JSON.parse(store.getItem("sb_tokens") || "null");
    return tokens ? tokens.access_token : "";
  }

  async function accountRequest(method, path, params) {
    const init = { method, headers: { Authorization: "Bearer " + accessToken() } };
    if (params) {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams(params);
    }
    const res = await fetch(issuer + path, init);
    if (res.status === 204) {
      return null;
    }
    const body = await res.json();
    if (!res.ok) {
      const err = new Error(body.error + ": " + (body.error_description || ""));
      err.code = body.error;
      throw err;
    }
    return body;
  }

  // changeAccount runs an account change; when socialbridge asks for a
  // fresh sign-in first (RFC 9470), it signs in again with max_age=0 and
  // leaves the change for the person to repeat.
  async function changeAccount(fn) {
    try {
      await fn();
    } catch (e) {
      if (e.code !== "insufficient_user_authentication") {
        throw e;
      }
      const claims = decodeJWT(accessToken());
      showError("Changing linked accounts needs a fresh sign-in; signing in again with " + claims.idp + "…");
      await signIn(claims.idp, { max_age: "0" });
    }
  }

  async function loadIdentities() {
    const body = await accountRequest("GET", "/account/identities");
    const list = $("identities");
    list.textContent = "";
    const linked = new Set();
    body.identities.forEach((id) => {
      linked.add(id.provider);
      const li = document.createElement("li");
      li.dataset.provider = id.provider;
      const text = document.createElement("span");
      text.textContent = id.label + (id.email ? " (" + id.email + ")" : "") + " — linked " + new Date(id.linked_at).toLocaleString();
      const unlink = document.createElement("button");
      unlink.type = "button";
      unlink.className = "button secondary small";
      unlink.textContent = "Unlink";
      unlink.dataset.unlink = id.provider;
      unlink.disabled = body.identities.length < 2;
      unlink.addEventListener("click", guard(() => changeAccount(async () => {
        await accountRequest("DELETE", "/account/identities/" + encodeURIComponent(id.provider));
        setStatus(id.label + " unlinked.");
        await loadIdentities();
      })));
      li.append(text, " ", unlink);
      list.append(li);
    });
    document.querySelectorAll("button[data-link]").forEach((b) => { b.hidden = linked.has(b.dataset.link); });
  }

  // Linking: ask for a one-time start URL with a PKCE challenge, send the
  // browser through the provider, then complete the link with the link
  // code that comes back and the verifier only this page has.
  async function link(provider) {
    const verifier = randomString(32);
    const state = randomString(16);
    const body = await accountRequest("POST", "/account/links", {
      provider, redirect_uri: redirectURI, state, code_challenge: await s256(verifier),
    });
    store.setItem("sb_link", JSON.stringify({ verifier, state }));
    window.location.assign(body.location);
  }

  async function finishLink(params) {
    const saved = JSON.parse(store.getItem("sb_link") || "null");
    store.removeItem("sb_link");
    window.history.replaceState(null, "", redirectURI); // drop the link code from the address bar
    if (!saved || params.get("state") !== saved.state) {
      throw new Error("state mismatch: this response does not belong to a link started here");
    }
    const tokens = JSON.parse(store.getItem("sb_tokens") || "null");
    if (!tokens) {
      throw new Error("signed out while linking: sign in and link again");
    }
    show(tokens);
    if (params.get("error")) {
      throw new Error(params.get("error") + ": " + (params.get("error_description") || ""));
    }
    const linked = await accountRequest("POST", "/account/identities", {
      link_code: params.get("link_code"), code_verifier: saved.verifier,
    });
    setStatus(linked.label + " linked to this account.");
    await loadIdentities();
  }

  async function refresh() {
    const tokens = JSON.parse(store.getItem("sb_tokens"));
    show(await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientID }));
    $("refresh-count").textContent = String(Number($("refresh-count").textContent) + 1);
    setStatus($("status").textContent + " Tokens refreshed.");
  }

  async function logout() {
    const tokens = JSON.parse(store.getItem("sb_tokens") || "null");
    store.removeItem("sb_tokens");
    if (tokens) {
      await fetch(issuer + "/revoke", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: clientID }),
      });
    }
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    $("claims").textContent = "";
    setStatus("Signed out.");
  }

  function guard(fn) {
    return async (...args) => {
      showError("");
      try { await fn(...args); } catch (e) { showError(String(e.message || e)); }
    };
  }

  document.querySelectorAll("button[data-provider]").forEach((b) => {
    b.addEventListener("click", guard(() => signIn(b.dataset.provider)));
  });
  document.querySelectorAll("button[data-link]").forEach((b) => {
    b.addEventListener("click", guard(() => changeAccount(() => link(b.dataset.link))));
  });
  $("refresh").addEventListener("click", guard(refresh));
  $("logout").addEventListener("click", guard(logout));

  function restore() {
    if (store.getItem("sb_tokens")) {
      try { show(JSON.parse(store.getItem("sb_tokens"))); } catch (e) { store.removeItem("sb_tokens"); }
    }
  }

  const params = new URLSearchParams(window.location.search);
  if (params.has("link_code") && !store.getItem("sb_link")) {
    window.history.replaceState(null, "", redirectURI); // not ours: drop it from the address bar
    restore();
    showError("a link code arrived that this page did not ask for; it was ignored");
  } else if (store.getItem("sb_link") && (params.has("link_code") || params.has("error"))) {
    guard(() => finishLink(params))();
  } else if (params.has("code") || params.has("error")) {
    guard(() => finishSignIn(params))();
  } else {
    restore();
  }
})();
