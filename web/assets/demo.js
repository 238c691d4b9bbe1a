// socialbridge demo SPA: OAuth 2.0 authorization code + PKCE (RFC 7636)
// against socialbridge, with nothing but the browser's own APIs.
//
// It runs in one of two modes, each its own client:
//   body mode   (/demo/): the token response carries the refresh token and
//               the page keeps it;
//   cookie mode (/demo/?mode=cookie): socialbridge keeps the refresh token
//               in an HttpOnly cookie that this script cannot read; token
//               and logout requests carry the CSRF header instead.
// Both clients return to /demo/, so a sign-in, link or sign-out that leaves
// the page saves its mode with its state and finds it again on the way back.
"use strict";
(function () {
  const root = document.getElementById("demo");
  const redirectURI = root.dataset.redirectUri;
  const issuer = root.dataset.issuer;
  const csrfHeader = root.dataset.csrfHeader;
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage; // a demo: a real app should keep tokens in memory

  const modes = {
    body: {
      name: "body", cookie: false, clientID: root.dataset.clientId,
      account: root.dataset.account === "true", // the client may manage linked accounts
      tokensKey: "sb_tokens", url: redirectURI,
      label: "Body mode: the refresh token comes in the token response and the page keeps it.",
    },
    cookie: {
      name: "cookie", cookie: true, clientID: root.dataset.cookieClientId,
      account: root.dataset.cookieAccount === "true",
      tokensKey: "sb_cookie_tokens", url: redirectURI + "?mode=cookie",
      label: "Cookie mode: the refresh token is kept in an HttpOnly cookie this page cannot read.",
    },
  };
  let mode = modes.body;

  // useMode switches the page to a mode by name; cookie mode only when
  // the server has a client for it.
  function useMode(name) {
    mode = name === "cookie" && modes.cookie.clientID ? modes.cookie : modes.body;
    $("client-id").textContent = mode.clientID;
    if ($("mode-switch")) {
      $("mode-name").textContent = mode.label;
      $("mode-switch").href = mode.cookie ? modes.body.url : modes.cookie.url;
      $("mode-switch").textContent = mode.cookie ? "Switch to body mode" : "Switch to cookie mode";
    }
    $("account").hidden = !mode.account;
  }

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
  function saved(key) {
    try { return JSON.parse(store.getItem(key) || "null"); } catch (e) { return null; }
  }
  function storedTokens() { return saved(mode.tokensKey); }
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
    store.setItem("sb_pkce", JSON.stringify({ verifier, state, mode: mode.name }));
    const q = new URLSearchParams({
      client_id: mode.clientID, redirect_uri: redirectURI, response_type: "code",
      scope: mode.account ? "openid profile email account" : "openid profile email",
      state, code_challenge: await s256(verifier), code_challenge_method: "S256", provider, ...(extra || {}),
    });
    window.location.assign(issuer + "/authorize?" + q.toString());
  }

  // post sends a form to socialbridge. In cookie mode it adds the CSRF
  // header, and the browser adds the refresh cookie (same origin).
  function post(path, params, headers) {
    const init = {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/x-www-form-urlencoded" }, headers || {}),
      body: new URLSearchParams(params),
      credentials: "same-origin",
    };
    if (mode.cookie) {
      init.headers[csrfHeader] = "1";
    }
    return fetch(issuer + path, init);
  }

  async function tokenRequest(params) {
    const res = await post("/token", params);
    const body = await res.json();
    if (!res.ok) {
      throw new Error(body.error + ": " + (body.error_description || ""));
    }
    if (body.refresh_expires_in) {
      body.refresh_expires_at = Date.now() + body.refresh_expires_in * 1000;
    }
    return body;
  }

  function show(tokens) {
    store.setItem(mode.tokensKey, JSON.stringify(tokens));
    const claims = decodeJWT(tokens.access_token);
    $("claims").textContent = JSON.stringify(claims, null, 2);
    $("access-exp").textContent = new Date(claims.exp * 1000).toISOString();
    if (mode.cookie) {
      $("refresh-where").textContent = "in an HttpOnly cookie: this page's scripts never see it";
      $("refresh-exp").textContent = tokens.refresh_expires_at ? new Date(tokens.refresh_expires_at).toISOString() : "unknown";
    } else {
      $("refresh-where").textContent = "in this page (sessionStorage)";
      $("refresh-exp").textContent = new Date(decodeJWT(tokens.refresh_token).exp * 1000).toISOString();
    }
    // RP-initiated logout names the session with an ID token; only the
    // code exchange brings one.
    $("end-session").disabled = !tokens.id_token;
    $("signed-in").hidden = false;
    $("signed-out").hidden = true;
    setStatus("Signed in as " + (claims.email || claims.name || claims.sub) + " via " + claims.idp + ".");
    if (mode.account) {
      loadIdentities().catch((e) => showError(String(e.message || e)));
    }
  }

  function showSignedOut(status) {
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    $("claims").textContent = "";
    setStatus(status);
  }

  async function finishSignIn(params) {
    const pkce = saved("sb_pkce");
    store.removeItem("sb_pkce");
    window.history.replaceState(null, "", mode.url); // drop the code from the address bar
    // State first: a response this page did not ask for shows nothing of
    // what it carries.
    if (!pkce || params.get("state") !== pkce.state) {
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
      client_id: mode.clientID, code_verifier: pkce.verifier,
    }));
  }

  function accessToken() {
    const tokens = storedTokens();
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
    store.setItem("sb_link", JSON.stringify({ verifier, state, mode: mode.name }));
    window.location.assign(body.location);
  }

  async function finishLink(params) {
    const pending = saved("sb_link");
    store.removeItem("sb_link");
    window.history.replaceState(null, "", mode.url); // drop the link code from the address bar
    if (!pending || params.get("state") !== pending.state) {
      throw new Error("state mismatch: this response does not belong to a link started here");
    }
    const tokens = storedTokens();
    if (!tokens) {
      throw new Error("signed out while linking: sign in and link again");
    }
    show(tokens);
    if (params.get("error")) {
      throw new Error(params.get("error") + ": " + (params.get("error_description") || ""));
    }
    const linked = await accountRequest("POST", "/account/identities", {
      link_code: params.get("link_code"), code_verifier: pending.verifier,
    });
    setStatus(linked.label + " linked to this account.");
    await loadIdentities();
  }

  async function refresh() {
    const old = storedTokens();
    const params = { grant_type: "refresh_token", client_id: mode.clientID };
    if (!mode.cookie) {
      params.refresh_token = old.refresh_token;
    }
    const tokens = await tokenRequest(params);
    tokens.id_token = tokens.id_token || (old && old.id_token); // a refresh brings no new ID token
    show(tokens);
    $("refresh-count").textContent = String(Number($("refresh-count").textContent) + 1);
    setStatus($("status").textContent + " Tokens refreshed.");
  }

  // logout ends the session with POST /logout: named by the access token
  // in body mode, by the refresh cookie in cookie mode (whose answer also
  // deletes the cookie).
  async function logout() {
    const tokens = storedTokens();
    store.removeItem(mode.tokensKey);
    showSignedOut("Signing out…");
    let res = null;
    if (mode.cookie) {
      res = await post("/logout", { client_id: mode.clientID });
    } else if (tokens) {
      res = await fetch(issuer + "/logout", { method: "POST", headers: { Authorization: "Bearer " + tokens.access_token } });
      if (!res.ok) {
        // An expired access token cannot name the session any more; its
        // refresh token still can (RFC 7009 revocation).
        res = await post("/revoke", { token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: mode.clientID });
      }
    }
    if (res && !res.ok) {
      const body = await res.json().catch(() => ({}));
      setStatus("Signed out of this page; socialbridge did not confirm the end of the session.");
      throw new Error("sign-out failed: " + (body.error || res.status) + ": " + (body.error_description || ""));
    }
    setStatus("Signed out.");
  }

  // endSession signs out with OpenID Connect RP-Initiated Logout: the
  // browser goes to socialbridge's end_session_endpoint, which ends the
  // session the ID token names and sends it back here with state.
  function endSession() {
    const tokens = storedTokens();
    if (!tokens || !tokens.id_token) {
      throw new Error("no ID token to name the session: sign in again");
    }
    const state = randomString(16);
    store.setItem("sb_logout", JSON.stringify({ state, mode: mode.name }));
    const q = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: redirectURI, state });
    window.location.assign(issuer + "/end-session?" + q.toString());
  }

  function finishEndSession(params) {
    const leaving = saved("sb_logout");
    store.removeItem("sb_logout");
    window.history.replaceState(null, "", mode.url); // drop the state from the address bar
    if (!leaving || params.get("state") !== leaving.state) {
      restore();
      throw new Error("state mismatch: this sign-out response does not belong to a sign-out started here");
    }
    store.removeItem(mode.tokensKey);
    showSignedOut("Signed out via the end-session endpoint.");
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
  $("end-session").addEventListener("click", guard(endSession));

  // restore shows the tokens this mode kept; in cookie mode without any,
  // it tries a silent refresh through the cookie.
  function restore() {
    const tokens = storedTokens();
    if (tokens) {
      try { show(tokens); } catch (e) { store.removeItem(mode.tokensKey); }
      return;
    }
    if (mode.cookie) {
      tokenRequest({ grant_type: "refresh_token", client_id: mode.clientID }).then(show, () => {});
    }
  }

  // On the way back from socialbridge the mode is the one the flow left
  // with; otherwise the address says it.
  const params = new URLSearchParams(window.location.search);
  const flowMode = (key) => (saved(key) || {}).mode;
  if (params.has("link_code") && !saved("sb_link")) {
    useMode(params.get("mode"));
    window.history.replaceState(null, "", mode.url); // not ours: drop it from the address bar
    restore();
    showError("a link code arrived that this page did not ask for; it was ignored");
  } else if (saved("sb_link") && (params.has("link_code") || params.has("error"))) {
    useMode(flowMode("sb_link"));
    guard(() => finishLink(params))();
  } else if (params.has("code") || params.has("error")) {
    useMode(flowMode("sb_pkce"));
    guard(() => finishSignIn(params))();
  } else if (params.has("state")) {
    useMode(flowMode("sb_logout"));
    guard(() => finishEndSession(params))();
  } else {
    useMode(params.get("mode"));
    restore();
  }
})();
