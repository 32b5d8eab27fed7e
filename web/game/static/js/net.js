// net.js: everything that talks to the server. Sign-in over HTTP, play over
// the WebSocket, an outbox of actions keyed by seq that survives reloads and
// reconnects (the server's seq rule makes a resend harmless), and a log of
// request latencies for the debug overlay.

const LS = {
  device: 'rampart.device',
  session: 'rampart.session',
  refresh: 'rampart.refresh',
  player: 'rampart.player',
  seq: (p) => `rampart.seq.${p}`,
  outbox: (p) => `rampart.outbox.${p}`,
};

// newDeviceId is 192 random bits in base64url: 32 characters of [A-Za-z0-9_-].
export function newDeviceId() {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function deviceId() {
  let id = localStorage.getItem(LS.device);
  if (!id || !/^[A-Za-z0-9_-]{16,128}$/.test(id)) {
    id = newDeviceId();
    localStorage.setItem(LS.device, id);
  }
  return id;
}

// HTTPError is a non-2xx answer, with the contract's error code.
export class HTTPError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// Net is the connection to one server. Callbacks (set by the caller):
// onPlayer(player, serverTime), onResults(results), onEvent(event),
// onStatus(status), onReplaced().
export class Net {
  constructor(base = '') {
    this.base = base;
    this.session = localStorage.getItem(LS.session) || '';
    this.refresh = localStorage.getItem(LS.refresh) || '';
    this.playerId = localStorage.getItem(LS.player) || '';
    this.ws = null;
    this.status = 'offline'; // offline | connecting | online | reconnecting | replaced
    this.outbox = new Map(); // seq -> {seq, name, args, sentAt}
    this.lastSeq = 0; // highest seq handed out
    this.retry = 0;
    this.timer = 0;
    this.log = []; // recent requests: {what, seqs, ms, ok, at}
    this.events = []; // recent pushed events, for the debug overlay
    this.clockSkew = 0; // server time - local time, ms
    this.duplicates = 0; // results the server had already applied (resends)
    this.loseNextReply = false; // debug: drop the next results message
    this.onPlayer = () => {};
    this.onResults = () => {};
    this.onEvent = () => {};
    this.onStatus = () => {};
    this.onReplaced = () => {};
    this.onSignedIn = () => {};
  }

  now() { return Date.now() + this.clockSkew; }

  note(what, seqs, t0, ok) {
    this.log.push({ what, seqs, ms: Math.round(performance.now() - t0), ok, at: Date.now() });
    if (this.log.length > 30) this.log.shift();
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.onStatus(s);
  }

  async http(method, path, body, auth = true) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.session) headers.Authorization = `Bearer ${this.session}`;
    const t0 = performance.now();
    let resp;
    try {
      resp = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      this.note(`${method} ${path}`, [], t0, false);
      throw new HTTPError(0, 'network', 'the server cannot be reached');
    }
    let data = null;
    try { data = await resp.json(); } catch { data = null; }
    this.note(`${method} ${path}`, [], t0, resp.ok);
    if (!resp.ok) {
      const e = (data && data.error) || {};
      throw new HTTPError(resp.status, e.code || `http_${resp.status}`, e.message);
    }
    return data;
  }

  // signIn makes or finds this device's account. The device route may not
  // exist yet on a server: a 404 falls back to the development door.
  async signIn() {
    const id = deviceId();
    let reply;
    try {
      reply = await this.http('POST', '/api/v1/auth/device', { device_id: id, create: true }, false);
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
      reply = await this.http('POST', '/api/v1/login', { player_id: id }, false);
    }
    this.adopt(reply);
    return reply;
  }

  // renew turns a refresh token into a session; false when there is none
  // or the server has no refresh route.
  async renew() {
    if (!this.refresh) return false;
    try {
      this.adopt(await this.http('POST', '/api/v1/auth/refresh', { refresh: this.refresh }, false));
      return true;
    } catch (e) {
      this.refresh = '';
      localStorage.removeItem(LS.refresh);
      return false;
    }
  }

  adopt(reply) {
    this.session = reply.session;
    localStorage.setItem(LS.session, reply.session);
    if (reply.refresh) {
      this.refresh = reply.refresh;
      localStorage.setItem(LS.refresh, reply.refresh);
    }
    if (reply.server_time) this.clockSkew = reply.server_time - Date.now();
    const p = reply.player;
    if (p) {
      this.setPlayer(p.id || reply.player_id);
      this.advanceSeq(p.last_seq || 0);
    }
  }

  setPlayer(id) {
    if (!id || id === this.playerId) {
      if (id && !this.loadedOutbox) this.loadOutbox();
      return;
    }
    this.playerId = id;
    localStorage.setItem(LS.player, id);
    this.loadOutbox();
  }

  loadOutbox() {
    this.loadedOutbox = true;
    this.outbox.clear();
    this.lastSeq = Math.max(this.lastSeq, Number(localStorage.getItem(LS.seq(this.playerId)) || 0));
    try {
      for (const a of JSON.parse(localStorage.getItem(LS.outbox(this.playerId)) || '[]')) this.outbox.set(a.seq, a);
    } catch { /* a broken outbox is dropped */ }
  }

  saveOutbox() {
    if (!this.playerId) return;
    localStorage.setItem(LS.seq(this.playerId), String(this.lastSeq));
    localStorage.setItem(LS.outbox(this.playerId), JSON.stringify([...this.outbox.values()].map(({ seq, name, args }) => ({ seq, name, args }))));
  }

  // advanceSeq keeps seqs strictly above what the server has applied.
  advanceSeq(applied) {
    // Outbox entries at or below it are still resent: the server answers
    // them with their stored result (duplicate), which is how a reply lost
    // with the connection is recovered.
    if (applied > this.lastSeq) this.lastSeq = applied;
    this.saveOutbox();
  }

  // start signs in (or resumes the stored session) and opens the socket.
  async start() {
    if (!this.session) await this.signIn();
    else this.setPlayer(this.playerId);
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    if (this.status === 'replaced') return;
    this.setStatus(this.retry === 0 && this.status === 'offline' ? 'connecting' : 'reconnecting');
    const url = new URL('/api/v1/ws', this.base || location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    this.ws = ws;
    this.loginSent = 0;
    ws.onopen = () => {
      this.loginSent = performance.now();
      ws.send(JSON.stringify({ type: 'login', session: this.session }));
    };
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      this.receive(msg);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.status === 'replaced') return;
      this.setStatus('reconnecting');
      for (const a of this.outbox.values()) a.sentAt = 0;
      this.retry++;
      const delay = Math.max(Math.min(5000, 250 * 2 ** Math.min(this.retry, 5)), (this.holdUntil || 0) - performance.now());
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  // cut closes the socket as a lost connection would, and stays offline
  // for holdMs (debug overlay: actions made meanwhile wait in the outbox).
  cut(holdMs = 0) {
    this.holdUntil = performance.now() + holdMs;
    if (this.ws) this.ws.close();
  }

  async receive(msg) {
    switch (msg.type) {
      case 'login_ok':
        this.note('ws login', [], this.loginSent, true);
        this.retry = 0;
        this.session = msg.session;
        localStorage.setItem(LS.session, msg.session);
        this.clockSkew = msg.server_time - Date.now();
        this.setPlayer(msg.player.id);
        this.advanceSeq(msg.player.last_seq || 0);
        this.setStatus('online');
        this.onSignedIn(msg.player);
        this.onPlayer(msg.player, msg.server_time);
        this.flush(true);
        return;
      case 'results':
        if (this.loseNextReply) {
          // Debug overlay: act as if this reply was lost with the
          // connection. The outbox still holds its seqs; the resend after
          // the reconnect gets the stored results, marked duplicate.
          this.loseNextReply = false;
          this.note('reply dropped (debug)', (msg.results || []).map((r) => r.seq), performance.now(), false);
          this.cut(300);
          return;
        }
        this.clockSkew = msg.server_time - Date.now();
        this.settle(msg.results || []);
        return;
      case 'event':
        if (msg.event && msg.event.kind === 'replaced') {
          this.setStatus('replaced');
          this.onReplaced(msg.event);
          return;
        }
        this.events.push({ ...msg.event, received: Date.now() });
        if (this.events.length > 30) this.events.shift();
        this.onEvent(msg.event || {});
        return;
      case 'error':
        await this.wsError(msg.error || {});
        return;
      default:
    }
  }

  async wsError(err) {
    if (err.code === 'unauthorized') {
      // The session is over (expired, revoked, or the stored one is from
      // before a restart): renew it, or sign in anew, then connect again
      // with the new one (login_ok resends the outbox). The old socket is
      // dropped first, so the "replaced" that a new sign-in sends to it is
      // not taken for another device.
      if (this.reauthing) return; // one sign-in for a burst of refusals
      this.reauthing = true;
      const old = this.ws;
      this.ws = null;
      if (old) old.close();
      this.setStatus('reconnecting');
      let delay = 0;
      try {
        if (!(await this.renew())) await this.signIn();
      } catch (e) {
        this.onStatusError(e);
        this.retry++;
        delay = Math.min(5000, 250 * 2 ** Math.min(this.retry, 5));
      } finally {
        this.reauthing = false;
      }
      this.timer = setTimeout(() => this.connect(), delay);
      return;
    }
    if (this.status !== 'online') {
      // The login itself failed (the player is busy elsewhere, storage is
      // down, the account is banned): say so, and try again later.
      this.onStatusError(err);
      if (err.code === 'banned') {
        this.setStatus('offline');
        const old = this.ws;
        this.ws = null;
        if (old) old.close();
        return;
      }
      if (this.ws) this.ws.close(); // onclose reconnects with backoff
      return;
    }
    if (err.code === 'rate_limited' || err.code === 'unavailable') {
      // Nothing of the message was applied: send it again soon, same seqs.
      for (const a of this.outbox.values()) a.sentAt = 0;
      clearTimeout(this.resendTimer);
      this.resendTimer = setTimeout(() => this.flush(false), 1000);
      return;
    }
    this.onEvent({ kind: 'error', error: err });
  }

  onStatusError(e) { this.onEvent({ kind: 'error', error: { code: e.code || 'network', message: e.message } }); }

  // send queues one action and returns its seq.
  send(name, args = {}) {
    const seq = ++this.lastSeq;
    this.outbox.set(seq, { seq, name, args, sentAt: 0 });
    this.saveOutbox();
    this.flush(false);
    return seq;
  }

  // flush sends what has not been sent on this socket (all of it when
  // again: after a reconnect every unacknowledged seq goes once more).
  flush(again) {
    if (!this.ws || this.status !== 'online' || this.ws.readyState !== WebSocket.OPEN) return;
    const batch = [...this.outbox.values()].filter((a) => again || !a.sentAt).sort((a, b) => a.seq - b.seq);
    if (!batch.length) return;
    const t = performance.now();
    for (const a of batch) a.sentAt = t;
    this.ws.send(JSON.stringify({ type: 'actions', actions: batch.map(({ seq, name, args }) => ({ seq, name, args })) }));
  }

  settle(results) {
    const done = [];
    for (const r of results) {
      const a = this.outbox.get(r.seq);
      if (r.duplicate) this.duplicates++;
      if (a) {
        this.note(a.name + (r.duplicate ? ' (duplicate)' : ''), [r.seq], a.sentAt || performance.now(), r.ok);
        this.outbox.delete(r.seq);
        done.push({ ...r, name: a.name, args: a.args });
      } else {
        done.push(r);
      }
    }
    this.saveOutbox();
    this.onResults(done);
  }

  inFlight() { return [...this.outbox.keys()].sort((a, b) => a - b); }

  async fetchPlayer() {
    // Replies can overtake each other: only a newer request's player is
    // shown, never an older one that landed late.
    const gen = (this.fetchGen = (this.fetchGen || 0) + 1);
    const r = await this.http('GET', '/api/v1/player');
    if (gen < (this.fetchShown || 0)) return r;
    this.fetchShown = gen;
    this.clockSkew = r.server_time - Date.now();
    this.advanceSeq(r.player.last_seq || 0);
    this.onPlayer(r.player, r.server_time, r.gamedata_version);
    return r;
  }

  async gamedata() {
    const t0 = performance.now();
    const resp = await fetch(this.base + '/api/v1/gamedata', { cache: 'no-cache' });
    this.note('GET /api/v1/gamedata', [], t0, resp.ok);
    if (!resp.ok) throw new HTTPError(resp.status, 'gamedata', 'could not load the game data');
    return resp.json();
  }

  async link(body) { return this.http('POST', '/api/v1/account/link', body); }
  async account() { return this.http('GET', '/api/v1/account'); }
}
